// Log lines about things strangers can trigger at will (unknown MACs, refused tokens, wrong Host) are
// rate-limited per key (usually the source address): the first one is logged, then at most one per
// window, carrying how many were suppressed. The table of keys is bounded.
export class LogThrottle {
  readonly #last = new Map<string, { at: number; suppressed: number }>()

  constructor(private readonly windowMs = 60_000, private readonly maxKeys = 1024, private readonly now: () => number = Date.now) {}

  /** Whether to log now for `key`; the count of lines suppressed since the last one (0 for a first line), or undefined to stay quiet. */
  take(key: string): number | undefined {
    const now = this.now()
    const e = this.#last.get(key)
    if (e && now - e.at < this.windowMs) {
      e.suppressed++
      return undefined
    }
    this.#last.delete(key)
    this.#last.set(key, { at: now, suppressed: 0 })
    if (this.#last.size > this.maxKeys) this.#last.delete(this.#last.keys().next().value!)
    return e?.suppressed ?? 0
  }
}
