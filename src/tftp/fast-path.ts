// The native TFTP data path (native/tftpfast): the DATA/ACK loop of a transfer runs on one C thread
// (epoll, retransmission timers in C) instead of this event loop. The server keeps everything up to
// the first packet (parsing, resolver, negotiation, limits, events) and hands over the socket
// address, the negotiated options and the bytes: the Buffer of a memory source (cached file,
// generated file, netascii) or the descriptor of a streamed file. The completion comes back as a
// SessionResult, the same one the JavaScript Session gives, so TransferRecords do not change.
// Not built, or BOOTLAB_NO_NATIVE=1, or BOOTLAB_TFTP_DATA_PATH=js: load() returns null and the
// server uses Session (src/tftp/session.ts) for every transfer. BOOTLAB_TFTP_DATA_PATH=native makes
// a missing build an error instead (tests use it to be sure which path they exercise).
import { createRequire } from 'node:module'
import { encodeOack } from './packet.js'
import type { Negotiated } from './options.js'
import type { RtoLimits } from './rto.js'
import type { ClientAddress, SessionResult } from './session.js'
import { FileSource, MemorySource, type ByteSource } from './source.js'

type Engine = object

interface StartOptions {
  id: number
  bindAddress: string
  clientAddress: string
  clientPort: number
  data?: Buffer
  fd?: number
  /** read-ahead per streamed file (FileSource's chunk) */
  readChunkBytes?: number
  size: number
  blksize: number
  windowsize: number
  oack?: Buffer
  rtoInitialMs: number
  rtoMinMs: number
  rtoMaxMs: number
  maxRetries: number
  /** 1 byte the native thread sets to 1 at the first ACK (read at once, unlike the onFirstAck post) */
  ackedFlag?: Buffer
  /** before the first ACK (Session's PreAckLimits); both or neither */
  preAckMaxSends?: number
  preAckTimeoutMs?: number
}

type OnDone = (id: number, outcome: number, bytes: number, retransmits: number, duplicateAcks: number,
  packetsSent: number, rttMs: number | null, errCode: number, message: string) => void

interface TftpFastAddon {
  createEngine(onDone: OnDone): Engine
  start(engine: Engine, o: StartOptions): void
  duplicateRequest(engine: Engine, id: number): void
  cancel(engine: Engine, id: number, reason: string, notify?: boolean): void
  drops(engine: Engine): number[]
  close(engine: Engine): void
}

/** What the server keeps of a running transfer, whichever path runs it. */
export interface TransferHandle {
  onDuplicateRequest(): void
  /** `notify`: send the client an ERROR (default) */
  cancel(reason: string, notify?: boolean): void
}

/** A native transfer also says, without waiting for the event loop, whether the client has ACKed. */
export interface NativeTransferHandle extends TransferHandle {
  acked(): boolean
}

export interface FastTransferOptions {
  bindAddress: string
  client: ClientAddress
  source: ByteSource
  negotiated: Negotiated
  rto: RtoLimits
  maxRetries: number
  readChunkBytes: number
  /** before the client's first ACK: only OACK / DATA 1, at most maxSends sends, silent end after timeoutMs */
  preAck?: { maxSends: number; timeoutMs: number }
  onDone(result: SessionResult): void
  /** the client acknowledged for the first time (only reported when preAck is given) */
  onFirstAck?(): void
}

/** In the order of the native DR_ enum. */
const DROP_REASONS = ['short', 'bad_opcode', 'malformed_request', 'malformed_options', 'unexpected_opcode', 'unknown_tid', 'pre_ack_budget']

let addon: TftpFastAddon | null | undefined

function loadAddon(): TftpFastAddon | null {
  if (addon !== undefined) return addon
  const require = createRequire(import.meta.url)
  // src/tftp/ and dist/tftp/ both sit two levels below the project root
  try { addon = require('../../native/tftpfast/build/Release/tftpfast.node') as TftpFastAddon } catch { addon = null }
  return addon
}

/** Whether the environment asks for the JavaScript data path. */
export function jsPathForced(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BOOTLAB_NO_NATIVE === '1' || env.BOOTLAB_TFTP_DATA_PATH === 'js'
}

export class NativeDataPath {
  private engine: Engine | null = null
  private readonly running = new Map<number, Pick<FastTransferOptions, 'onDone' | 'onFirstAck'>>()
  private nextId = 1
  private idleWaiters: (() => void)[] = []
  /** drops counted by engines closed before */
  private readonly retired: Record<string, number> = {}

  private constructor(private readonly lib: TftpFastAddon) {}

  /** The native path, or null when it is not built or the JavaScript path is forced. */
  static load(): NativeDataPath | null {
    if (jsPathForced()) return null
    const lib = loadAddon()
    if (!lib && process.env.BOOTLAB_TFTP_DATA_PATH === 'native') {
      throw new Error('BOOTLAB_TFTP_DATA_PATH=native but native/tftpfast is not built (npm run build:native)')
    }
    return lib ? new NativeDataPath(lib) : null
  }

  /**
   * Starts the transfer on the native thread; null when its source cannot be handed over (the
   * caller then runs a Session). Throws when the transfer socket cannot be opened.
   */
  start(o: FastTransferOptions): NativeTransferHandle | null {
    const src = o.source
    let bytes: { data: Buffer } | { fd: number; readChunkBytes: number }
    if (src instanceof MemorySource) bytes = { data: src.slice(0, src.size) }
    else if (src instanceof FileSource) bytes = { fd: src.fd, readChunkBytes: o.readChunkBytes }
    else return null
    // the C side takes plain numeric addresses; a scoped IPv6 address (fe80::1%eth0) stays in JavaScript
    if (o.client.address.includes('%') || o.bindAddress.includes('%')) return null
    const engine = this.engine ??= this.lib.createEngine((...a) => this.completed(...a))
    const n = o.negotiated
    // a client-requested timeout (RFC 2349) bounds the retransmission timer, as in Session
    const maxMs = n.timeoutMs === null ? o.rto.maxMs : Math.min(o.rto.maxMs, n.timeoutMs)
    const id = this.nextId++
    const ackedFlag = Buffer.alloc(1)
    this.lib.start(engine, {
      ackedFlag,
      id, bindAddress: o.bindAddress, clientAddress: o.client.address, clientPort: o.client.port,
      ...bytes, size: src.size, blksize: n.blksize, windowsize: n.windowsize,
      ...(n.ack.size > 0 ? { oack: encodeOack(n.ack) } : {}),
      rtoInitialMs: Math.min(o.rto.initialMs, maxMs), rtoMinMs: Math.min(o.rto.minMs, maxMs), rtoMaxMs: maxMs,
      maxRetries: o.maxRetries,
      ...(o.preAck ? { preAckMaxSends: o.preAck.maxSends, preAckTimeoutMs: o.preAck.timeoutMs } : {}),
    })
    this.running.set(id, { onDone: o.onDone, onFirstAck: o.onFirstAck })
    // a handle outlives its transfer only briefly; never touch an engine that was closed
    return {
      acked: () => ackedFlag[0] === 1,
      onDuplicateRequest: () => { if (this.engine === engine) this.lib.duplicateRequest(engine, id) },
      cancel: (reason, notify = true) => { if (this.engine === engine) this.lib.cancel(engine, id, reason, notify) },
    }
  }

  /** Resolves when every transfer started here has completed (after cancel(), within a loop round). */
  async idle(): Promise<void> {
    if (this.running.size === 0) return
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  /** Datagrams the native transfers dropped, by reason (the same reasons as the JavaScript path). */
  drops(): Record<string, number> {
    const out = { ...this.retired }
    if (this.engine) this.lib.drops(this.engine).forEach((n, i) => { if (n > 0) out[DROP_REASONS[i]!] = (out[DROP_REASONS[i]!] ?? 0) + n })
    return out
  }

  /** Waits for running transfers (cancel them first), then stops the engine's thread; start() makes a new one. */
  async close(): Promise<void> {
    await this.idle()
    const engine = this.engine
    if (!engine || this.running.size > 0) return
    Object.assign(this.retired, this.drops())
    this.engine = null
    this.lib.close(engine)
  }

  private completed(id: number, outcome: number, bytes: number, retransmits: number, duplicateAcks: number,
    packetsSent: number, rttMs: number | null, errCode: number, message: string): void {
    const t = this.running.get(id)
    if (!t) return
    if (outcome === -1) { t.onFirstAck?.(); return }
    this.running.delete(id)
    const result: SessionResult['result'] = outcome === 0 ? { outcome: 'ok' }
      : outcome === 1 ? { outcome: 'aborted', error: { code: errCode, message } }
        : { outcome: 'failed', reason: message }
    t.onDone({ result, bytes, retransmits, duplicateAcks, packetsSent, rttMs })
    if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w()
  }
}
