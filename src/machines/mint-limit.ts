// Rate limit of cloud-init token minting, per machine (MAC) and per source address: token buckets,
// so a real boot loop (one script per boot) never hits it while a script poller soon does. The
// tables are bounded (src/net/rate-limit.ts: full buckets forgotten first, then the least recently used).
import { KeyedBuckets } from '../net/rate-limit.js'

export interface MintLimitOptions {
  /** tokens a machine can mint at once (default 4), then one per `perMacEveryMs` (default 60 s) */
  perMacBurst?: number
  perMacEveryMs?: number
  /** tokens one source address can mint at once (default 8), then one per `perSourceEveryMs` (default 30 s) */
  perSourceBurst?: number
  perSourceEveryMs?: number
  /** keys remembered per table (default 4096) */
  maxKeys?: number
  now?: () => number
}

export class MintLimit {
  readonly #mac: KeyedBuckets
  readonly #source: KeyedBuckets
  readonly #now: () => number

  constructor(o: MintLimitOptions = {}) {
    const maxKeys = o.maxKeys ?? 4096
    this.#mac = new KeyedBuckets(o.perMacBurst ?? 4, o.perMacEveryMs ?? 60_000, maxKeys)
    this.#source = new KeyedBuckets(o.perSourceBurst ?? 8, o.perSourceEveryMs ?? 30_000, maxKeys)
    this.#now = o.now ?? Date.now
  }

  /** Takes one mint for this machine and source; false (nothing taken) when either is over its rate. */
  allow(mac: string, source: string | undefined): boolean {
    const now = this.#now()
    const src = source ?? '?'
    if (!this.#mac.has(mac, now) || !this.#source.has(src, now)) return false
    this.#mac.take(mac, now)
    this.#source.take(src, now)
    return true
  }
}
