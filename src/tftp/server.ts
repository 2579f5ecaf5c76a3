// The TFTP service: listens on one port for requests, answers each read request from a new socket
// (its own transfer ID), enforces session limits, counts everything, emits typed transfer events.
// Read-only: write requests are refused.
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { isIPv6 } from 'node:net'
import type { Logger } from '../log.js'
import { encodeError, ErrorCode, parsePacket, type RequestPacket } from './packet.js'
import { negotiate, type Negotiated } from './options.js'
import type { RtoLimits } from './rto.js'
import { AccessDenied, type Resolved, type TftpResolver } from './resolver.js'
import { Session, type ClientAddress, type SessionResult } from './session.js'
import { FileCache, MemorySource, openFileSource, toNetascii, type ByteSource } from './source.js'
import { readFile } from 'node:fs/promises'
import { NativeDataPath, type TransferHandle } from './fast-path.js'

export interface TftpLimits {
  /** concurrent transfers, all clients together */
  maxSessions: number
  /** concurrent transfers from one client address */
  maxSessionsPerClient: number
  maxBlksize: number
  maxWindowsize: number
  /** retransmission timeout before the first round-trip sample, ms */
  rtoInitialMs: number
  rtoMinMs: number
  rtoMaxMs: number
  /** retransmissions of the same window before giving up */
  maxRetries: number
  /** how long the resolver may take for one name */
  resolveTimeoutMs: number
  /** files up to this size are served from memory */
  cacheMaxFileBytes: number
  cacheMaxTotalBytes: number
  /** netascii transfers are converted in memory; larger files are refused */
  netasciiMaxBytes: number
  /** disk read-ahead per streaming transfer */
  readChunkBytes: number
}

export const DEFAULT_LIMITS: TftpLimits = {
  maxSessions: 512,
  maxSessionsPerClient: 128,
  maxBlksize: 65464,
  maxWindowsize: 64,
  rtoInitialMs: 150,
  rtoMinMs: 25,
  rtoMaxMs: 3000,
  maxRetries: 12,
  resolveTimeoutMs: 5000,
  cacheMaxFileBytes: 8 << 20,
  cacheMaxTotalBytes: 128 << 20,
  netasciiMaxBytes: 16 << 20,
  readChunkBytes: 256 << 10,
}

export interface TftpServerOptions {
  /** listen address, default 0.0.0.0 */
  address?: string
  /** listen port, default 69 */
  port?: number
  resolver: TftpResolver
  logger: Logger
  limits?: Partial<TftpLimits>
  /** 'auto' (default): the native data path (src/tftp/fast-path.ts) when built; 'js': always Session */
  dataPath?: 'auto' | 'js'
}

export type TransferOutcome = 'ok' | 'aborted' | 'failed' | 'not_found' | 'denied' | 'refused'

export interface TransferStart {
  id: number
  client: ClientAddress
  file: string
  mode: 'octet' | 'netascii'
  /** which resolver layer answered (e.g. "generated", "pi-prefix", a root directory) */
  layer: string
  size: number
  blksize: number
  windowsize: number
}

export interface TransferRecord {
  id: number
  client: ClientAddress
  /** the name as requested */
  file: string
  mode: string
  layer: string | null
  /** file size (after netascii conversion), null when never resolved */
  size: number | null
  /** payload bytes acknowledged by the client */
  bytes: number
  durationMs: number
  outcome: TransferOutcome
  /** the client's ERROR (aborted), or the error we sent / why we gave up */
  error: { code: number; message: string } | null
  blksize: number
  windowsize: number
  retransmits: number
  rttMs: number | null
}

export interface TftpServerEvents {
  'tftp.transfer.start': [TransferStart]
  'tftp.transfer.done': [TransferRecord]
}

export interface TftpStats {
  requests: number
  transfersOk: number
  transfersFailed: number
  /** ended by the client with an ERROR (Pi probes, UEFI/iPXE after OACK): normal */
  transfersAborted: number
  notFound: number
  denied: number
  /** refused: write requests, unsupported modes, limits, resolver errors */
  refused: number
  activeSessions: number
  bytesSent: number
  packetsSent: number
  retransmits: number
  duplicateAcks: number
  /** read requests repeated by a client whose first answer was lost */
  duplicateRequests: number
  cacheHits: number
  cacheMisses: number
  cacheBytes: number
  /** datagrams dropped, by reason */
  drops: Record<string, number>
}

let nextId = 1

export class TftpServer extends EventEmitter<TftpServerEvents> {
  private readonly limits: TftpLimits
  private readonly log: Logger
  private socket: Socket | null = null
  private readonly sessions = new Map<string, { session: TransferHandle | null }>()
  private readonly perClient = new Map<string, number>()
  private readonly cache: FileCache
  private readonly counters = {
    requests: 0, transfersOk: 0, transfersFailed: 0, transfersAborted: 0, notFound: 0, denied: 0, refused: 0,
    bytesSent: 0, packetsSent: 0, retransmits: 0, duplicateAcks: 0, duplicateRequests: 0,
  }
  private readonly drops: Record<string, number> = {}
  /** native DATA/ACK loop, null when not built or not wanted */
  private readonly fast: NativeDataPath | null

  constructor(private readonly o: TftpServerOptions) {
    super()
    this.limits = { ...DEFAULT_LIMITS, ...o.limits }
    this.log = o.logger.child({ module: 'tftp' })
    this.cache = new FileCache(this.limits.cacheMaxFileBytes, this.limits.cacheMaxTotalBytes)
    this.fast = o.dataPath === 'js' ? null : NativeDataPath.load()
  }

  /** which data path runs transfers: 'native' (native/tftpfast) or 'js' (Session) */
  get dataPath(): 'native' | 'js' { return this.fast ? 'native' : 'js' }

  get address(): { address: string; port: number } {
    if (!this.socket) throw new Error('not started')
    const a = this.socket.address()
    return { address: a.address, port: a.port }
  }

  async start(): Promise<void> {
    const address = this.o.address ?? '0.0.0.0'
    const sock = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' })
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      sock.bind({ address, port: this.o.port ?? 69 }, () => { sock.off('error', reject); resolve() })
    })
    sock.on('error', (err) => this.log.warn({ err }, 'tftp socket error'))
    sock.on('message', (msg, rinfo) => this.onRequest(msg, rinfo))
    this.socket = sock
    this.log.info({ address: this.address, dataPath: this.dataPath }, 'tftp listening')
  }

  async stop(): Promise<void> {
    const sock = this.socket
    this.socket = null
    for (const s of this.sessions.values()) s.session?.cancel('Server shutting down')
    await this.fast?.close() // waits for the native transfers' completions, then ends its thread
    if (sock) await new Promise<void>((resolve) => sock.close(() => resolve()))
  }

  stats(): TftpStats {
    return {
      ...this.counters,
      activeSessions: this.sessions.size,
      cacheHits: this.cache.hits,
      cacheMisses: this.cache.misses,
      cacheBytes: this.cache.bytes,
      drops: sumCounts(this.drops, this.fast?.drops() ?? {}),
    }
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1
  }

  private onRequest(msg: Buffer, rinfo: RemoteInfo): void {
    if (rinfo.port === 0) { this.drop('bad_source'); return }
    const p = parsePacket(msg)
    if (!p.ok) { this.drop(p.reason); return }
    const pkt = p.packet
    if (pkt.op === 'wrq') {
      this.counters.refused++
      this.reply(rinfo, ErrorCode.ACCESS_VIOLATION, 'Write requests are refused (read-only server)')
      this.log.debug({ client: rinfo.address, file: pkt.filename }, 'tftp write request refused')
      return
    }
    if (pkt.op !== 'rrq') { this.drop('unexpected_opcode'); return }
    const key = `${rinfo.address}:${rinfo.port}`
    const existing = this.sessions.get(key)
    if (existing) { // the client repeated its request: our answer was lost
      this.counters.duplicateRequests++
      existing.session?.onDuplicateRequest()
      return
    }
    this.counters.requests++
    void this.handleRead(pkt, { address: rinfo.address, port: rinfo.port }, key).catch((err: unknown) => {
      this.log.error({ err }, 'tftp request failed unexpectedly')
    })
  }

  private reply(to: ClientAddress, code: number, message: string, via?: Socket | null): void {
    const sock = via ?? this.socket
    try { sock?.send(encodeError(code, message), to.port, to.address) } catch { /* closed */ }
  }

  private async handleRead(pkt: RequestPacket, client: ClientAddress, key: string): Promise<void> {
    const id = nextId++
    const t0 = performance.now()
    const base = { id, client, file: pkt.filename, mode: pkt.mode }
    const record = (r: Partial<TransferRecord> & Pick<TransferRecord, 'outcome'>): TransferRecord => ({
      ...base, layer: null, size: null, bytes: 0, durationMs: performance.now() - t0, error: null,
      blksize: 512, windowsize: 1, retransmits: 0, rttMs: null, ...r,
    })
    const refuse = (outcome: TransferOutcome, code: number, message: string, layer: string | null = null): void => {
      if (outcome === 'not_found') this.counters.notFound++
      else if (outcome === 'denied') this.counters.denied++
      else this.counters.refused++
      this.reply(client, code, message)
      this.log.debug({ client, file: pkt.filename, outcome, message }, 'tftp request refused')
      this.emit('tftp.transfer.done', record({ outcome, layer, error: { code, message } }))
    }

    if (pkt.mode !== 'octet' && pkt.mode !== 'netascii') {
      refuse('refused', ErrorCode.ILLEGAL_OPERATION, `Unsupported mode "${pkt.mode.slice(0, 20)}"`)
      return
    }
    const perClient = this.perClient.get(client.address) ?? 0
    if (this.sessions.size >= this.limits.maxSessions || perClient >= this.limits.maxSessionsPerClient) {
      refuse('refused', ErrorCode.NOT_DEFINED, 'Too many transfers, try again later')
      return
    }
    // hold the slot while resolving, so a retransmitted RRQ is not served twice
    this.sessions.set(key, { session: null })
    this.perClient.set(client.address, perClient + 1)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.sessions.delete(key)
      const n = (this.perClient.get(client.address) ?? 1) - 1
      if (n <= 0) this.perClient.delete(client.address)
      else this.perClient.set(client.address, n)
    }

    let resolved: Resolved | null
    try {
      resolved = await withTimeout(this.o.resolver.resolve(pkt.filename, client), this.limits.resolveTimeoutMs)
    } catch (err) {
      release()
      if (err instanceof AccessDenied) refuse('denied', ErrorCode.ACCESS_VIOLATION, 'Access violation')
      else {
        this.log.warn({ err, client, file: pkt.filename }, 'tftp resolver failed')
        refuse('refused', ErrorCode.NOT_DEFINED, 'Server error')
      }
      return
    }
    if (!resolved) { release(); refuse('not_found', ErrorCode.FILE_NOT_FOUND, 'File not found'); return }
    if (!this.socket) { release(); return } // stopped meanwhile

    let source: ByteSource
    try {
      source = await this.openSource(resolved, pkt.mode === 'netascii')
    } catch (err) {
      release()
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') refuse('not_found', ErrorCode.FILE_NOT_FOUND, 'File not found', resolved.layer)
      else if (code === 'EACCES' || code === 'EPERM') refuse('denied', ErrorCode.ACCESS_VIOLATION, 'Access violation', resolved.layer)
      else if (code === 'EFBIG') refuse('refused', ErrorCode.NOT_DEFINED, 'File too large for netascii', resolved.layer)
      else { this.log.warn({ err, file: pkt.filename }, 'tftp open failed'); refuse('refused', ErrorCode.NOT_DEFINED, 'Read error', resolved.layer) }
      return
    }

    const negotiated = negotiate(pkt.options, source.size, this.limits)
    const layer = resolved.layer
    const rto = { initialMs: this.limits.rtoInitialMs, minMs: this.limits.rtoMinMs, maxMs: this.limits.rtoMaxMs }
    const onDone = (r: SessionResult): void => {
      release()
      void source.close()
      this.counters.bytesSent += r.bytes
      this.counters.packetsSent += r.packetsSent
      this.counters.retransmits += r.retransmits
      this.counters.duplicateAcks += r.duplicateAcks
      const res = r.result
      const rec = record({
        layer, size: source.size, bytes: r.bytes, outcome: res.outcome,
        error: res.outcome === 'aborted' ? res.error : res.outcome === 'failed' ? { code: ErrorCode.NOT_DEFINED, message: res.reason } : null,
        blksize: negotiated.blksize, windowsize: negotiated.windowsize, retransmits: r.retransmits, rttMs: r.rttMs,
      })
      if (res.outcome === 'ok') {
        this.counters.transfersOk++
        this.log.debug({ id, client, file: pkt.filename, bytes: r.bytes, ms: Math.round(rec.durationMs), retransmits: r.retransmits }, 'tftp transfer done')
      } else if (res.outcome === 'aborted') {
        this.counters.transfersAborted++
        // Pi existence probes ("Early terminate") and UEFI/iPXE option checks end like this
        this.log.debug({ id, client, file: pkt.filename, error: res.error }, 'tftp transfer ended by client')
      } else {
        this.counters.transfersFailed++
        this.log.info({ id, client, file: pkt.filename, reason: res.reason, bytes: r.bytes }, 'tftp transfer failed')
      }
      this.emit('tftp.transfer.done', rec)
    }

    let transfer: TransferHandle
    let session: Session | null = null
    try {
      const bindAddress = this.o.address ?? '0.0.0.0'
      // the native data path when built and the source can be handed over, else a Session here
      transfer = this.fast?.start({ bindAddress, client, source, negotiated, rto, maxRetries: this.limits.maxRetries, readChunkBytes: this.limits.readChunkBytes, onDone }) ??
        (session = await this.openSession(bindAddress, client, source, negotiated, rto, onDone))
    } catch (err) {
      release()
      await source.close()
      this.log.warn({ err }, 'tftp could not open a transfer socket')
      refuse('refused', ErrorCode.NOT_DEFINED, 'Server error', resolved.layer)
      return
    }
    const start: TransferStart = {
      id, client, file: pkt.filename, mode: pkt.mode, layer, size: source.size,
      blksize: negotiated.blksize, windowsize: negotiated.windowsize,
    }
    this.log.debug({ ...start, options: Object.fromEntries(pkt.options) }, 'tftp transfer start')
    this.emit('tftp.transfer.start', start)
    const slot = this.sessions.get(key)
    if (slot) slot.session = transfer
    session?.start()
  }

  /** The JavaScript data path: a transfer socket and a Session on it (not started yet). */
  private async openSession(bindAddress: string, client: ClientAddress, source: ByteSource, negotiated: Negotiated,
    rto: RtoLimits, onDone: (r: SessionResult) => void): Promise<Session> {
    const sock = createSocket({ type: isIPv6(client.address) ? 'udp6' : 'udp4' })
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      sock.bind({ address: bindAddress, port: 0 }, () => { sock.off('error', reject); resolve() })
    })
    return new Session({
      socket: sock, client, source, negotiated, rto, maxRetries: this.limits.maxRetries,
      onDrop: (reason) => this.drop(reason),
      onDone: (r) => {
        // a final ERROR may still be queued on the socket: close it a moment later
        setTimeout(() => { try { sock.close() } catch { /* closed */ } }, 50).unref()
        onDone(r)
      },
    })
  }

  private async openSource(r: Resolved, netascii: boolean): Promise<ByteSource> {
    if (r.kind === 'bytes') return new MemorySource(netascii ? toNetascii(r.data) : r.data)
    if (netascii) {
      if (r.size > this.limits.netasciiMaxBytes) throw Object.assign(new Error('too large'), { code: 'EFBIG' })
      return new MemorySource(toNetascii(await readFile(r.path)))
    }
    const cached = await this.cache.get(r.path, r.size, r.mtimeMs)
    if (cached) return new MemorySource(cached)
    return await openFileSource(r.path, this.limits.readChunkBytes)
  }
}

function sumCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a }
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n
  return out
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`resolver timed out after ${ms} ms`)), ms) })])
  } finally {
    if (timer) clearTimeout(timer)
  }
}
