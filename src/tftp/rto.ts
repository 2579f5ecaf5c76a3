// Retransmission timeout from measured round-trip times, as TCP does it (RFC 6298): smoothed RTT
// and RTT variance, RTO = SRTT + 4·RTTVAR, clamped, and recomputed from the estimate when the
// transfer makes progress again. Unlike TCP, the first LOSS_GRACE timeouts in a row resend at the
// same RTO and only later ones double it (exponential backoff): on a LAN a lost block is loss, not
// congestion (one block in flight per lock-step transfer), and a boot firmware gives a whole file
// only ~30 s (the Pi EEPROM) — doubling from the first loss makes a 20 %-loss link miss that.

export interface RtoLimits {
  initialMs: number
  minMs: number
  maxMs: number
}

/** timeouts in a row resent at the unchanged RTO before the backoff starts doubling it */
export const LOSS_GRACE = 2

export class RtoEstimator {
  private srtt: number | null = null
  private rttvar = 0
  private backoff = 1
  private timeouts = 0
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
  progress(): void { this.backoff = 1; this.timeouts = 0 }

  /** Called on a retransmission timeout. */
  timedOut(): void {
    if (++this.timeouts > LOSS_GRACE) this.backoff = Math.min(this.backoff * 2, 1024)
  }

  get smoothedMs(): number | null { return this.srtt }

  /** Current timeout in ms. */
  get rto(): number {
    const base = this.srtt === null ? this.limits.initialMs : this.srtt + Math.max(1, 4 * this.rttvar)
    const clamped = Math.min(Math.max(base, this.limits.minMs), this.limits.maxMs)
    return Math.min(clamped * this.backoff, this.limits.maxMs)
  }
}
