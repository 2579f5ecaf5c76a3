// Retransmission timeout from measured round-trip times, as TCP does it (RFC 6298): smoothed RTT
// and RTT variance, RTO = SRTT + 4·RTTVAR, clamped, doubled on every timeout (exponential backoff)
// and recomputed from the estimate when the transfer makes progress again.

export interface RtoLimits {
  initialMs: number
  minMs: number
  maxMs: number
}

export class RtoEstimator {
  private srtt: number | null = null
  private rttvar = 0
  private backoff = 1
  constructor(private readonly limits: RtoLimits) {}

  /** Adds a round-trip sample (only from blocks sent once: Karn's rule, the caller's duty). */
  sample(ms: number): void {
    const r = Math.max(0, ms)
    if (this.srtt === null) {
      this.srtt = r
      this.rttvar = r / 2
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r)
      this.srtt = 0.875 * this.srtt + 0.125 * r
    }
  }

  /** Called when an ACK moved the window forward: the backoff is over. */
  progress(): void { this.backoff = 1 }

  /** Called on a retransmission timeout. */
  timedOut(): void { this.backoff = Math.min(this.backoff * 2, 1024) }

  get smoothedMs(): number | null { return this.srtt }

  /** Current timeout in ms. */
  get rto(): number {
    const base = this.srtt === null ? this.limits.initialMs : this.srtt + Math.max(1, 4 * this.rttvar)
    const clamped = Math.min(Math.max(base, this.limits.minMs), this.limits.maxMs)
    return Math.min(clamped * this.backoff, this.limits.maxMs)
  }
}
