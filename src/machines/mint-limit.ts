// Rate limit of cloud-init token minting, per machine (MAC) and per source address: token buckets,
// so a real boot loop (one script per boot) never hits it while a script poller soon does. The
// tables are bounded: the least recently touched key goes first.

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

class Buckets {
  readonly #m = new Map<string, { level: number; at: number }>()
  constructor(private readonly burst: number, private readonly everyMs: number, private readonly maxKeys: number) {}

  /** whether `key` has a token left at `now` (nothing is taken) */
  has(key: string, now: number): boolean {
    return this.level(key, now) >= 1
  }

  take(key: string, now: number): void {
    const level = this.level(key, now) - 1
    this.#m.delete(key)
    this.#m.set(key, { level, at: now })
    if (this.#m.size > this.maxKeys) this.#m.delete(this.#m.keys().next().value!)
  }

  private level(key: string, now: number): number {
    const b = this.#m.get(key)
    if (!b) return this.burst
    return Math.min(this.burst, b.level + Math.max(0, now - b.at) / this.everyMs)
  }
}

export class MintLimit {
  readonly #mac: Buckets
  readonly #source: Buckets
  readonly #now: () => number

  constructor(o: MintLimitOptions = {}) {
    const maxKeys = o.maxKeys ?? 4096
    this.#mac = new Buckets(o.perMacBurst ?? 4, o.perMacEveryMs ?? 60_000, maxKeys)
    this.#source = new Buckets(o.perSourceBurst ?? 8, o.perSourceEveryMs ?? 30_000, maxKeys)
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
