// GET /api/events/stream: Server-Sent Events, one per lifecycle, power or config event, with the
// store's event id as `id:` so a reconnect with Last-Event-ID resumes where it left off.
// Caps: connections overall and per source address, bytes buffered per connection (a client that
// does not read is dropped), events replayed on reconnect; a heartbeat comment keeps proxies and
// NAT tables from closing an idle stream.
import type { Request, Response } from 'express'
import type { Logger } from '../../log.js'
import type { StatusEvent, StatusSource } from './source.js'
import { clientIp } from '../client-ip.js'

export interface StreamOptions {
  source: StatusSource
  /** JSON data of one event; `replay` is true for events sent on reconnect */
  data: (e: StatusEvent, replay: boolean) => string
  log: Logger
  /** open streams at most (default 256) */
  maxClients?: number
  /** open streams per source address (default 8) */
  maxPerSource?: number
  /** a connection with more unsent bytes than this is dropped (default 256 KiB) */
  maxBufferedBytes?: number
  /** events replayed after Last-Event-ID at most (default 500); older ones are announced as a gap */
  maxReplay?: number
  heartbeatMs?: number
}

interface Client {
  res: Response
  source: string
  machine: string | undefined
}

export interface StreamStats {
  open: number
  dropped_slow: number
  refused: number
}

/** SSE event name: config.* → config, power.* → power, everything else → lifecycle */
export function streamEventName(type: string): 'config' | 'power' | 'lifecycle' {
  if (type.startsWith('config.')) return 'config'
  if (type.startsWith('power.')) return 'power'
  return 'lifecycle'
}

/** One SSE frame. Data is JSON (no raw newlines), so one `data:` line is enough. */
export function frame(id: number, event: string, data: string): string {
  return `id: ${id}\nevent: ${event}\ndata: ${data.replace(/[\r\n]/g, '')}\n\n`
}

export class EventStream {
  readonly #clients = new Set<Client>()
  readonly #perSource = new Map<string, number>()
  readonly #o: Required<Omit<StreamOptions, 'log'>> & { log: Logger }
  #unsubscribe: (() => void) | undefined
  #heartbeat: NodeJS.Timeout | undefined
  readonly stats: StreamStats = { open: 0, dropped_slow: 0, refused: 0 }

  constructor(o: StreamOptions) {
    this.#o = { maxClients: 256, maxPerSource: 8, maxBufferedBytes: 256 * 1024, maxReplay: 500, heartbeatMs: 15_000, ...o }
  }

  /** Subscribes to the source once (the stream fans out itself) and starts the heartbeat. */
  start(): void {
    if (this.#unsubscribe) return
    this.#unsubscribe = this.#o.source.subscribe((e) => this.#publish(e))
    this.#heartbeat = setInterval(() => { for (const c of this.#clients) this.#write(c, ': heartbeat\n\n') }, this.#o.heartbeatMs)
    this.#heartbeat.unref()
  }

  stop(): void {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    for (const c of [...this.#clients]) c.res.end()
  }

  /** The express handler (after the read check). */
  handle = (req: Request, res: Response): void => {
    this.start()
    const source = clientIp(req) ?? 'unknown'
    const n = this.#perSource.get(source) ?? 0
    if (this.#clients.size >= this.#o.maxClients || n >= this.#o.maxPerSource) {
      this.stats.refused++
      res.status(503).set('Retry-After', '10').json({ error: 'too many open event streams' })
      return
    }
    const machine = typeof req.query.machine === 'string' && req.query.machine !== '' && req.query.machine.length < 100 ? req.query.machine : undefined
    const client: Client = { res, source, machine }
    this.#clients.add(client)
    this.#perSource.set(source, n + 1)
    this.stats.open = this.#clients.size
    req.socket.setNoDelay(true)
    req.socket.setKeepAlive(true, 30_000)
    res.on('close', () => this.#remove(client))
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    })
    res.flushHeaders()
    this.#write(client, 'retry: 2000\n\n')
    // replay: synchronous with the registration above, so no event falls between the two
    const last = lastEventId(req)
    if (last !== undefined) {
      const missed = this.#o.source.events({ afterId: last, limit: this.#o.maxReplay, ...(machine ? { machine } : {}) }).reverse()
      if (missed.length >= this.#o.maxReplay) this.#write(client, `event: gap\ndata: {"after":${last},"replayed":${missed.length}}\n\n`)
      for (const e of missed) this.#write(client, frame(e.id, streamEventName(e.type), this.#o.data(e, true)))
    }
  }

  /**
   * Events are fanned out after the current tick, not inside the emit: the request or packet that
   * caused an event does not wait for rendering and 200 socket writes.
   */
  #queue: StatusEvent[] = []
  #scheduled = false

  #publish(e: StatusEvent): void {
    if (this.#clients.size === 0) return
    if (this.#queue.length >= 10_000) this.#queue.shift()
    this.#queue.push(e)
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      const q = this.#queue
      this.#queue = []
      for (const ev of q) this.#fanOut(ev)
    })
  }

  #fanOut(e: StatusEvent): void {
    let text: string | undefined
    for (const c of this.#clients) {
      if (c.machine !== undefined && e.machine !== c.machine && e.mac !== c.machine && !e.type.startsWith('config.')) continue
      text ??= frame(e.id, streamEventName(e.type), this.#o.data(e, false))
      this.#write(c, text)
    }
  }

  #write(c: Client, text: string): void {
    if (c.res.destroyed) return
    c.res.write(text)
    if (c.res.writableLength > this.#o.maxBufferedBytes) {
      this.stats.dropped_slow++
      this.#o.log.warn({ source: c.source, buffered: c.res.writableLength }, 'event stream client does not keep up; dropped')
      c.res.destroy()
      this.#remove(c)
    }
  }

  #remove(c: Client): void {
    if (!this.#clients.delete(c)) return
    const n = (this.#perSource.get(c.source) ?? 1) - 1
    if (n <= 0) this.#perSource.delete(c.source)
    else this.#perSource.set(c.source, n)
    this.stats.open = this.#clients.size
  }
}

/** Last-Event-ID header, or ?last_event_id= (EventSource cannot set headers on its first connect). */
export function lastEventId(req: Request): number | undefined {
  const h = req.headers['last-event-id']
  const q = req.query.last_event_id
  const raw = typeof h === 'string' ? h : typeof q === 'string' ? q : undefined
  if (raw === undefined || !/^\d{1,15}$/.test(raw.trim())) return undefined
  return Number(raw.trim())
}
