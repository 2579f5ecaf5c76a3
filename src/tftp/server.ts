// The TFTP service: listens on one port for requests, answers each read request from a new socket
// (its own transfer ID), enforces session limits, counts everything, emits typed transfer events.
// Read-only: write requests are refused.
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { isIPv6 } from 'node:net'
import type { Logger } from '../log.js'
import { encodeError, ErrorCode, parsePacket, type RequestPacket } from './packet.js'
import { negotiate, type Negotiated } from './options.js'
import { AccessDenied, type Resolved, type TftpResolver } from './resolver.js'
import { Session, type ClientAddress, type SessionResult } from './session.js'
import { SessionSlots, type Slot } from './slots.js'
import { FileCache } from '../files/cache.js'
import { MemorySource, openFileSource, openNetasciiSource, toNetascii, type ByteSource } from './source.js'
import { NetasciiSizes } from './netascii.js'
import { NativeDataPath, type NativeTransferHandle, type TransferHandle } from './fast-path.js'

export interface TftpLimits {
  /** concurrent transfers, all clients together */
  maxSessions: number
  /** concurrent transfers from one client address */
  maxSessionsPerClient: number
  /**
   * sessions whose client has not acknowledged anything yet (its address is unproven), all
   * clients together; at the cap the oldest of them is dropped to admit a new request
   */
  maxPendingSessions: number
  /** the same, per client address */
  maxPendingPerClient: number
  /** OACKs / DATA 1 sent for one request before its first ACK (timer resends and repeated requests) */
  preAckMaxSends: number
  /** a session with no ACK at all ends (silently) after this long, ms */
  preAckTimeoutMs: number
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
  /** netascii transfers are converted as they go (a streaming pass first for the size); larger files are refused */
  netasciiMaxBytes: number
  /** disk read-ahead per streaming transfer */
  readChunkBytes: number
}

export const DEFAULT_LIMITS: TftpLimits = {
  maxSessions: 512,
  maxSessionsPerClient: 128,
  maxPendingSessions: 256,
  maxPendingPerClient: 128,
  preAckMaxSends: 4,
  preAckTimeoutMs: 15000,
  maxBlksize: 65464,
  maxWindowsize: 64,
  rtoInitialMs: 150,
  rtoMinMs: 10,
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
  /** of them, sessions whose client has not acknowledged anything yet */
  pendingSessions: number
  /** unacknowledged sessions dropped to admit newer requests */
  pendingEvicted: number
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

/** A read request being answered. */
interface ReadRequest {
  id: number
  /** performance.now() at arrival */
  t0: number
  pkt: RequestPacket
  client: ClientAddress
  /** "address:port", the session map key */
  key: string
}

/** What a started transfer holds until it is done. */
interface Transfer {
  mode: TransferStart['mode']
  layer: string
  source: ByteSource
  negotiated: Negotiated
  /** the transfer socket on the JavaScript path; null on the native path (the C side owns its socket) */
  sock: Socket | null
  release: () => void
}

export class TftpServer extends EventEmitter<TftpServerEvents> {
  private readonly limits: TftpLimits
  private readonly log: Logger
  private socket: Socket | null = null
  private readonly slots: SessionSlots
  private readonly sessions = new Map<string, TransferHandle>()
  private readonly cache: FileCache
  private readonly netasciiSizes = new NetasciiSizes()
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
    this.slots = new SessionSlots(this.limits)
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
    for (const s of this.sessions.values()) s.cancel('Server shutting down')
    await this.fast?.close() // waits for the native transfers' completions, then ends its thread
    if (sock) await new Promise<void>((resolve) => sock.close(() => resolve()))
  }

  stats(): TftpStats {
    return {
      ...this.counters,
      activeSessions: this.slots.size,
      pendingSessions: this.slots.pendingSize,
      pendingEvicted: this.slots.evictions,
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
    if (this.slots.get(key)) { // the client repeated its request: our answer was lost
      this.counters.duplicateRequests++
      this.sessions.get(key)?.onDuplicateRequest()
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

  /** A read request, step by step: admit → hold a slot → resolve → open → socket → transfer. */
  private async handleRead(pkt: RequestPacket, client: ClientAddress, key: string): Promise<void> {
    const req: ReadRequest = { id: nextId++, t0: performance.now(), pkt, client, key }
    const mode = this.admit(req)
    if (mode === null) return
    const slot = this.slots.hold(req.key, req.client.address)
    const release = (): void => this.slots.release(slot)
    const resolved = await this.resolveFor(req, release)
    if (!resolved || this.evicted(req, slot)) return
    const source = await this.openFor(req, resolved, release)
    if (!source) return
    if (this.evicted(req, slot)) { void source.close(); return }
    const negotiated = negotiate(pkt.options, source.size, this.limits)
    if (this.startNative(req, slot, { mode, layer: resolved.layer, source, negotiated, sock: null, release })) return
    const sock = await this.transferSocket(req, resolved.layer, source, release)
    if (!sock) return
    if (this.evicted(req, slot)) { void source.close(); sock.close(); return }
    this.startTransfer(req, slot, { mode, layer: resolved.layer, source, negotiated, sock, release })
  }

  /** The slot was given to a newer request while this one was being prepared: report it, send nothing. */
  private evicted(req: ReadRequest, slot: Slot): boolean {
    if (!slot.evicted) return false
    this.counters.refused++
    this.emit('tftp.transfer.done', this.record(req, { outcome: 'refused', error: { code: ErrorCode.NOT_DEFINED, message: 'dropped: too many unacknowledged transfers' } }))
    return true
  }

  /** The done-record of a request; fields not given are those of a transfer that never started. */
  private record(req: ReadRequest, r: Partial<TransferRecord> & Pick<TransferRecord, 'outcome'>): TransferRecord {
    return {
      id: req.id, client: req.client, file: req.pkt.filename, mode: req.pkt.mode,
      layer: null, size: null, bytes: 0, durationMs: performance.now() - req.t0, error: null,
      blksize: 512, windowsize: 1, retransmits: 0, rttMs: null, ...r,
    }
  }

  /** Answers with an ERROR packet, counts it and reports the request as done. */
  private refuse(req: ReadRequest, outcome: TransferOutcome, code: number, message: string, layer: string | null = null): void {
    if (outcome === 'not_found') this.counters.notFound++
    else if (outcome === 'denied') this.counters.denied++
    else this.counters.refused++
    this.reply(req.client, code, message)
    this.log.debug({ client: req.client, file: req.pkt.filename, outcome, message }, 'tftp request refused')
    this.emit('tftp.transfer.done', this.record(req, { outcome, layer, error: { code, message } }))
  }

  /** A supported mode and a free session slot (overall and for this client address): the mode, or null (refused). */
  private admit(req: ReadRequest): TransferStart['mode'] | null {
    const mode = req.pkt.mode
    if (mode !== 'octet' && mode !== 'netascii') {
      this.refuse(req, 'refused', ErrorCode.ILLEGAL_OPERATION, `Unsupported mode "${mode.slice(0, 20)}"`)
      return null
    }
    if (!this.slots.makeRoom(req.client.address)) {
      this.refuse(req, 'refused', ErrorCode.NOT_DEFINED, 'Too many transfers, try again later')
      return null
    }
    return mode
  }

  /** The resolver's answer within its time limit; null (slot released, request answered) otherwise. */
  private async resolveFor(req: ReadRequest, release: () => void): Promise<Resolved | null> {
    let resolved: Resolved | null
    try {
      resolved = await withTimeout(this.o.resolver.resolve(req.pkt.filename, req.client), this.limits.resolveTimeoutMs)
    } catch (err) {
      release()
      if (err instanceof AccessDenied) this.refuse(req, 'denied', ErrorCode.ACCESS_VIOLATION, 'Access violation')
      else {
        this.log.warn({ err, client: req.client, file: req.pkt.filename }, 'tftp resolver failed')
        this.refuse(req, 'refused', ErrorCode.NOT_DEFINED, 'Server error')
      }
      return null
    }
    if (!resolved) { release(); this.refuse(req, 'not_found', ErrorCode.FILE_NOT_FOUND, 'File not found'); return null }
    if (!this.socket) { release(); return null } // stopped meanwhile
    return resolved
  }

  /** The bytes to send; null (slot released, request answered) when they cannot be read. */
  private async openFor(req: ReadRequest, resolved: Resolved, release: () => void): Promise<ByteSource | null> {
    try {
      return await this.openSource(resolved, req.pkt.mode === 'netascii')
    } catch (err) {
      release()
      const code = (err as NodeJS.ErrnoException).code
      const layer = resolved.layer
      if (code === 'ENOENT') this.refuse(req, 'not_found', ErrorCode.FILE_NOT_FOUND, 'File not found', layer)
      else if (code === 'EACCES' || code === 'EPERM') this.refuse(req, 'denied', ErrorCode.ACCESS_VIOLATION, 'Access violation', layer)
      else if (code === 'EFBIG') this.refuse(req, 'refused', ErrorCode.NOT_DEFINED, 'File too large for netascii', layer)
      else { this.log.warn({ err, file: req.pkt.filename }, 'tftp open failed'); this.refuse(req, 'refused', ErrorCode.NOT_DEFINED, 'Read error', layer) }
      return null
    }
  }

  /** A new socket (the transfer ID) for this transfer; null (slot released, source closed, request answered) on failure. */
  private async transferSocket(req: ReadRequest, layer: string, source: ByteSource, release: () => void): Promise<Socket | null> {
    const sock = createSocket({ type: isIPv6(req.client.address) ? 'udp6' : 'udp4' })
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject)
        sock.bind({ address: this.o.address ?? '0.0.0.0', port: 0 }, () => { sock.off('error', reject); resolve() })
      })
      return sock
    } catch (err) {
      release()
      await source.close()
      this.log.warn({ err }, 'tftp could not open a transfer socket')
      this.refuse(req, 'refused', ErrorCode.NOT_DEFINED, 'Server error', layer)
      return null
    }
  }

  private emitStart(req: ReadRequest, t: Transfer): void {
    const { id, client, pkt } = req
    const start: TransferStart = {
      id, client, file: pkt.filename, mode: t.mode, layer: t.layer, size: t.source.size,
      blksize: t.negotiated.blksize, windowsize: t.negotiated.windowsize,
    }
    this.log.debug({ ...start, options: Object.fromEntries(pkt.options) }, 'tftp transfer start')
    this.emit('tftp.transfer.start', start)
  }

  /**
   * The native data path (src/tftp/fast-path.ts): true when it took the transfer (or refused it
   * because its socket could not be opened); false when it is not built or cannot take this
   * source (the caller then runs a Session).
   */
  private startNative(req: ReadRequest, slot: Slot, t: Transfer): boolean {
    if (!this.fast) return false
    let handle: NativeTransferHandle | null = null
    try {
      handle = this.fast.start({
        bindAddress: this.o.address ?? '0.0.0.0', client: req.client, source: t.source, negotiated: t.negotiated,
        rto: { initialMs: this.limits.rtoInitialMs, minMs: this.limits.rtoMinMs, maxMs: this.limits.rtoMaxMs },
        maxRetries: this.limits.maxRetries, readChunkBytes: this.limits.readChunkBytes,
        preAck: { maxSends: this.limits.preAckMaxSends, timeoutMs: this.limits.preAckTimeoutMs },
        onDone: (r: SessionResult) => this.finishTransfer(req, t, r, handle!),
        onFirstAck: () => this.slots.acknowledge(slot),
      })
    } catch (err) {
      t.release()
      void t.source.close()
      this.log.warn({ err }, 'tftp could not open a transfer socket')
      this.refuse(req, 'refused', ErrorCode.NOT_DEFINED, 'Server error', t.layer)
      return true
    }
    if (!handle) return false
    const h = handle
    this.emitStart(req, t)
    this.sessions.set(req.key, h)
    slot.onEvict = () => h.cancel('dropped: too many unacknowledged transfers', false)
    slot.isAcked = () => h.acked()
    return true
  }

  private startTransfer(req: ReadRequest, slot: Slot, t: Transfer & { sock: Socket }): void {
    const { client } = req
    this.emitStart(req, t)
    const session = new Session({
      socket: t.sock,
      client,
      source: t.source,
      negotiated: t.negotiated,
      rto: { initialMs: this.limits.rtoInitialMs, minMs: this.limits.rtoMinMs, maxMs: this.limits.rtoMaxMs },
      maxRetries: this.limits.maxRetries,
      preAck: { maxSends: this.limits.preAckMaxSends, timeoutMs: this.limits.preAckTimeoutMs },
      onDrop: (reason) => this.drop(reason),
      onDone: (r: SessionResult) => this.finishTransfer(req, t, r, session),
      onFirstAck: () => this.slots.acknowledge(slot),
    })
    this.sessions.set(req.key, session)
    slot.onEvict = () => session.cancel('dropped: too many unacknowledged transfers', false)
    session.start()
  }

  private finishTransfer(req: ReadRequest, t: Transfer, r: SessionResult, session: TransferHandle): void {
    const { id, client, pkt } = req
    if (this.sessions.get(req.key) === session) this.sessions.delete(req.key)
    t.release()
    // a final ERROR may still be queued on the socket: close it a moment later (the native path closes its own)
    if (t.sock) setTimeout(() => { try { t.sock?.close() } catch { /* closed */ } }, 50).unref()
    void t.source.close()
    this.counters.bytesSent += r.bytes
    this.counters.packetsSent += r.packetsSent
    this.counters.retransmits += r.retransmits
    this.counters.duplicateAcks += r.duplicateAcks
    const res = r.result
    const rec = this.record(req, {
      layer: t.layer, size: t.source.size, bytes: r.bytes, outcome: res.outcome,
      error: res.outcome === 'aborted' ? res.error : res.outcome === 'failed' ? { code: ErrorCode.NOT_DEFINED, message: res.reason } : null,
      blksize: t.negotiated.blksize, windowsize: t.negotiated.windowsize, retransmits: r.retransmits, rttMs: r.rttMs,
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

  private async openSource(r: Resolved, netascii: boolean): Promise<ByteSource> {
    if (r.kind === 'bytes') return new MemorySource(netascii ? toNetascii(r.data) : r.data)
    if (netascii) {
      if (r.size > this.limits.netasciiMaxBytes) throw Object.assign(new Error('too large'), { code: 'EFBIG' })
      return await openNetasciiSource(r.path, this.limits.readChunkBytes, this.netasciiSizes)
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
