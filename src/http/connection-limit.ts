// Connection caps for the HTTP server: at most `max` open connections overall and `perSource` from one
// address, so one host on the LAN (300 slow readers, a socket flood) cannot take every slot or grow
// memory without bound. A connection over a cap gets a bare 503 and is closed before any
// request on it is parsed.
import type { Socket } from 'node:net'
import { stripV4Mapped } from '../net/ipv4.js'

export interface ConnectionLimitOptions {
  /** open connections overall (default 256) */
  max?: number
  /** open connections from one source address (default 32) */
  perSource?: number
}

export const CONNECTIONS_MAX = 256
export const CONNECTIONS_PER_SOURCE = 32

const REFUSAL = 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 25\r\nRetry-After: 5\r\n\r\ntoo many open connections'

export class ConnectionLimit {
  readonly max: number
  readonly perSource: number
  readonly stats = { open: 0, refused_total: 0, refused_per_source: 0 }
  readonly #bySource = new Map<string, number>()

  constructor(o: ConnectionLimitOptions = {}) {
    this.max = o.max ?? CONNECTIONS_MAX
    this.perSource = o.perSource ?? CONNECTIONS_PER_SOURCE
  }

  /** Admits a new connection (true) or answers 503 and closes it (false). */
  admit(s: Socket): boolean {
    const src = stripV4Mapped(s.remoteAddress ?? '?')
    const n = this.#bySource.get(src) ?? 0
    const over = this.stats.open >= this.max ? 'refused_total' : n >= this.perSource ? 'refused_per_source' : undefined
    if (over) {
      this.stats[over]++
      s.on('error', () => undefined)
      // one write to a fresh socket goes out at once; destroy() so no request is ever parsed
      s.write(REFUSAL)
      s.destroy()
      return false
    }
    this.stats.open++
    this.#bySource.set(src, n + 1)
    s.once('close', () => {
      this.stats.open--
      const left = (this.#bySource.get(src) ?? 1) - 1
      if (left <= 0) this.#bySource.delete(src)
      else this.#bySource.set(src, left)
    })
    return true
  }
}
