// One read transfer on its own socket (its own TID): OACK, windowed DATA (RFC 7440, window 1 is
// RFC 1350 lock-step), retransmission on an adaptive timeout, duplicate-ACK handling without the
// Sorcerer's Apprentice, block numbers wrapping 65535 → 0.
import type { Socket, RemoteInfo } from 'node:dgram'
import { dataHeader, encodeError, encodeOack, ErrorCode, parsePacket } from './packet.js'
import type { Negotiated } from './options.js'
import { RtoEstimator, type RtoLimits } from './rto.js'
import type { ByteSource } from './source.js'

export interface ClientAddress { address: string; port: number }

export type SessionOutcome =
  | { outcome: 'ok' }
  /** the client sent an ERROR (probe "Early terminate", option refused after OACK, user abort) */
  | { outcome: 'aborted'; error: { code: number; message: string } }
  /** we gave up: no answer after the retry budget, a read error, or the server stopping */
  | { outcome: 'failed'; reason: string }

export interface SessionResult {
  result: SessionOutcome
  /** payload bytes the client acknowledged */
  bytes: number
  retransmits: number
  duplicateAcks: number
  packetsSent: number
  /** smoothed round-trip time, ms, if measured */
  rttMs: number | null
}

export interface SessionOptions {
  socket: Socket
  client: ClientAddress
  source: ByteSource
  negotiated: Negotiated
  rto: RtoLimits
  /** retransmission rounds without progress before giving up, once the client has acknowledged */
  maxRetries: number
  /** before the client's first ACK (see PreAckLimits) */
  preAck: PreAckLimits
  /** packets on this socket that are not from the client, or malformed */
  onDrop(reason: string): void
  onDone(result: SessionResult): void
  /** the client acknowledged for the first time (ACK 0 of the OACK, or a DATA block) */
  onFirstAck?(): void
}

/**
 * Until the client has acknowledged something, its address is unproven (a spoofed request would
 * turn us into a reflector): only the first packet (OACK or DATA 1) is sent, at most `maxSends`
 * times in all (timer resends and answers to repeated requests together), the window never
 * grows, and the session ends silently after `timeoutMs`.
 */
export interface PreAckLimits {
  maxSends: number
  timeoutMs: number
}

type State = 'oack' | 'data' | 'done'

export class Session {
  private state: State = 'oack'
  private readonly rto: RtoEstimator
  private readonly blksize: number
  private readonly window: number
  private readonly lastBlock: number
  /** first block not yet acknowledged (absolute numbering from 1, never wraps) */
  private base = 1
  /** next block to transmit */
  private next = 1
  private highestSent = 0
  private readonly sentAt = new Map<number, { t: number; resent: boolean }>()
  private oackSentAt = 0
  private oackResent = false
  /** the client has acknowledged something: its address is proven, the window may open */
  private acked = false
  /** OACKs / DATA 1 sent before the first ACK */
  private preAckSends = 0
  private startedAt = 0
  private retries = 0
  private fastRetransmitted = false
  private timer: NodeJS.Timeout | null = null
  /** a disk read for the next window is in flight */
  private loading = false
  private deadline = 0
  /** send one block beyond the window in the next round (stall probe, see onTimeout) */
  private probe = false
  private retransmits = 0
  private duplicateAcks = 0
  private packetsSent = 0

  constructor(private readonly o: SessionOptions) {
    const n = o.negotiated
    this.blksize = n.blksize
    this.window = n.windowsize
    this.lastBlock = Math.floor(o.source.size / n.blksize) + 1
    // a client-requested timeout (RFC 2349) bounds our retransmission timer
    const maxMs = n.timeoutMs === null ? o.rto.maxMs : Math.min(o.rto.maxMs, n.timeoutMs)
    this.rto = new RtoEstimator({ initialMs: Math.min(o.rto.initialMs, maxMs), minMs: Math.min(o.rto.minMs, maxMs), maxMs })
    o.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo))
    o.socket.on('error', () => { /* send errors are retried by the timer */ })
  }

  start(): void {
    this.startedAt = performance.now()
    if (this.o.negotiated.ack.size > 0) {
      this.sendOack()
      this.arm()
    } else {
      this.state = 'data'
      this.pump()
    }
  }

  /**
   * The client sent its read request again: our first answer (OACK, or DATA 1 without options)
   * was lost. Answer again at once; this is the OACK's fast retransmission path.
   */
  onDuplicateRequest(): void {
    if (!this.acked && this.preAckSends >= this.o.preAck.maxSends) { this.o.onDrop('pre_ack_budget'); return }
    if (this.state === 'oack') {
      this.oackResent = true
      this.retransmits++
      this.sendOack()
      this.arm()
    } else if (this.state === 'data' && this.base === 1 && this.highestSent >= 1) {
      this.next = 1
      this.pump()
    }
  }

  /** Ends the transfer from outside (server stopping, slot given to a newer request); `notify`: send the client an ERROR. */
  cancel(reason: string, notify = true): void {
    if (this.state === 'done') return
    if (notify) this.send(encodeError(ErrorCode.NOT_DEFINED, reason))
    this.finish({ outcome: 'failed', reason })
  }

  private sendOack(): void {
    this.oackSentAt = performance.now()
    this.preAckSends++
    this.send(encodeOack(this.o.negotiated.ack))
  }

  private send(buf: Buffer | Buffer[]): void {
    this.packetsSent++
    try {
      this.o.socket.send(buf, this.o.client.port, this.o.client.address)
    } catch { /* socket closed under us */ }
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.state === 'done') return
    if (rinfo.address !== this.o.client.address || rinfo.port !== this.o.client.port) {
      // RFC 1350: a packet from another TID gets an error and leaves the transfer alone
      this.o.onDrop('unknown_tid')
      try { this.o.socket.send(encodeError(ErrorCode.UNKNOWN_TID, 'Unknown transfer ID'), rinfo.port, rinfo.address) } catch { /* closed */ }
      return
    }
    const p = parsePacket(msg)
    if (!p.ok) { this.o.onDrop(p.reason); return }
    const pkt = p.packet
    if (pkt.op === 'error') {
      this.finish({ outcome: 'aborted', error: { code: pkt.code, message: pkt.message } })
      return
    }
    if (pkt.op !== 'ack') { this.o.onDrop('unexpected_opcode'); return }
    this.onAck(pkt.block)
  }

  private onAck(wire: number): void {
    const now = performance.now()
    if (this.state === 'oack') {
      if (wire !== 0) { this.duplicateAcks++; return }
      // no sample once our timer has fired: the OACK is not resent on the timer, so this ACK 0
      // may be the client's own retransmission seconds later (it would inflate the RTO)
      if (!this.oackResent && this.retries === 0) this.rto.sample(now - this.oackSentAt)
      this.rto.progress()
      this.retries = 0
      this.state = 'data'
      this.firstAck()
      this.pump()
      return
    }
    // find the absolute block this 16-bit number means, in [base-1, highestSent]
    const lo = this.base - 1
    let k = -1
    for (let c = this.highestSent; c >= lo; c--) {
      if ((c & 0xffff) === wire) { k = c; break }
    }
    if (k < 0) { this.duplicateAcks++; return } // older than the window: ignore
    if (k === lo) {
      // duplicate ACK. Lock-step: never answer it (Sorcerer's Apprentice); the timer covers a
      // lost DATA. Windowed: the client saw a gap at the window's first block; go back once.
      this.duplicateAcks++
      if (this.window > 1 && !this.fastRetransmitted && this.highestSent > lo) {
        this.fastRetransmitted = true
        this.next = this.base
        this.pump()
      }
      return
    }
    const sent = this.sentAt.get(k)
    if (sent && !sent.resent) this.rto.sample(now - sent.t)
    for (let b = this.base; b <= k; b++) this.sentAt.delete(b)
    this.base = k + 1
    this.firstAck()
    this.rto.progress()
    this.retries = 0
    this.fastRetransmitted = false
    if (k >= this.lastBlock) { this.finish({ outcome: 'ok' }); return }
    // an ACK inside the window means the blocks after it were lost (RFC 7440): resend from there
    if (this.next < this.base || k < this.highestSent) this.next = this.base
    this.pump()
  }

  private firstAck(): void {
    if (this.acked) return
    this.acked = true
    this.o.onFirstAck?.()
  }

  /** Sends what the window allows; reads from disk (asynchronously) only when the chunk is not loaded. */
  private pump(): void {
    if (this.loading) return // pumps again when the read completes
    while (this.state === 'data') {
      let end = Math.min(this.base + this.window - 1, this.lastBlock)
      if (!this.acked) {
        // unproven client: DATA 1 only, within the send budget
        if (this.preAckSends >= this.o.preAck.maxSends) return
        end = 1
        this.probe = false
      } else if (this.probe) {
        // one block past the highest sent: a client that took the previous probe wants the next one
        // (bounded: at most maxRetries rounds before progress or giving up)
        end = Math.min(Math.max(end, this.highestSent + 1), this.lastBlock)
      }
      if (this.next > end) return
      const from = this.next
      const offset = (from - 1) * this.blksize
      const length = Math.max(0, Math.min((end - from + 1) * this.blksize, this.o.source.size - offset))
      if (!this.o.source.has(offset, length)) {
        this.loading = true
        this.o.source.ensure(offset, length).then(() => {
          this.loading = false
          this.pump()
        }, (err: unknown) => {
          this.loading = false
          this.send(encodeError(ErrorCode.NOT_DEFINED, 'Read error'))
          this.finish({ outcome: 'failed', reason: `read error: ${(err as Error).message}` })
        })
        return
      }
      this.probe = false
      const now = performance.now()
      for (let b = from; b <= end; b++) {
        const off = (b - 1) * this.blksize
        const len = Math.max(0, Math.min(this.blksize, this.o.source.size - off))
        const resent = b <= this.highestSent
        if (resent) this.retransmits++
        const prev = this.sentAt.get(b)
        this.sentAt.set(b, { t: now, resent: resent || prev !== undefined })
        if (!this.acked) this.preAckSends++
        this.send(len > 0 ? [dataHeader(b), this.o.source.slice(off, len)] : dataHeader(b))
      }
      this.next = end + 1
      if (end > this.highestSent) this.highestSent = end
      this.arm()
    }
  }

  /**
   * (Re)starts the retransmission timer. One Node timer per session, re-armed lazily: on every
   * send only the deadline moves, which keeps the per-packet cost low.
   */
  private arm(): void {
    this.deadline = performance.now() + this.rto.rto
    if (!this.timer) this.timer = setTimeout(() => this.onTimer(), this.rto.rto)
  }

  private onTimer(): void {
    this.timer = null
    if (this.state === 'done') return
    const left = this.deadline - performance.now()
    if (left > 1) { this.timer = setTimeout(() => this.onTimer(), left); return }
    this.onTimeout()
  }

  private onTimeout(): void {
    this.timer = null
    if (this.state === 'done') return
    if (!this.acked) { this.onPreAckTimeout(); return }
    if (++this.retries > this.o.maxRetries) {
      this.send(encodeError(ErrorCode.NOT_DEFINED, 'Transfer timed out'))
      // only the last block unacknowledged: the client may well have it and be gone (its final
      // ACK lost); say so rather than report a plain timeout
      const last = this.state === 'data' && this.base === this.lastBlock && this.highestSent === this.lastBlock
      this.finish({ outcome: 'failed', reason: last ? 'no ACK for the last block' : 'timeout' })
      return
    }
    this.rto.timedOut()
    // go back to the first unacknowledged block and send the window again
    this.next = this.base
    this.fastRetransmitted = false
    // From the second timeout in a row, also send the block after the highest one sent. A client
    // that already has every block sent and whose ACK was lost answers a duplicate only once
    // (atftp: one "extra ACK" until its own 5 s timer); a new block is what it will ACK.
    if (this.retries >= 2 && this.highestSent < this.lastBlock) this.probe = true
    this.pump() // counts each block sent again as a retransmission
  }

  /**
   * Nothing acknowledged yet. The OACK is never resent on the timer: a client that lost it repeats
   * its request (onDuplicateRequest answers), one that lost its ACK 0 repeats the ACK, and atftp
   * aborts on a second OACK. DATA 1 is resent within the budget. At the deadline the session
   * ends without an ERROR (nothing more towards an unproven address).
   */
  private onPreAckTimeout(): void {
    const left = this.startedAt + this.o.preAck.timeoutMs - performance.now()
    if (left <= 1) {
      this.finish({ outcome: 'failed', reason: this.state === 'oack' ? 'no ACK for the OACK' : 'no ACK' })
      return
    }
    this.retries++
    this.rto.timedOut()
    if (this.state === 'data' && this.preAckSends < this.o.preAck.maxSends) {
      this.next = 1
      this.pump()
    }
    this.deadline = performance.now() + Math.min(this.rto.rto, left)
    if (!this.timer) this.timer = setTimeout(() => this.onTimer(), this.deadline - performance.now())
  }

  private finish(result: SessionOutcome): void {
    if (this.state === 'done') return
    this.state = 'done'
    if (this.timer) { clearTimeout(this.timer); this.timer = null }
    const acked = Math.min(Math.max(0, (this.base - 1) * this.blksize), this.o.source.size)
    this.o.onDone({
      result,
      bytes: result.outcome === 'ok' ? this.o.source.size : acked,
      retransmits: this.retransmits,
      duplicateAcks: this.duplicateAcks,
      packetsSent: this.packetsSent,
      rttMs: this.rto.smoothedMs,
    })
  }
}
