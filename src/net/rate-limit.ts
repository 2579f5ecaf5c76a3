// Token buckets for rate limits on what strangers can ask for (DHCP packets, cloud-init token
// mints): a bucket holds up to `burst` tokens and gains one every `everyMs`. A keyed table remembers
// at most `maxKeys` keys: full buckets are forgotten first, then the least recently used (a
// forgotten key starts full again, so forgetting a full bucket changes nothing).

export class TokenBucket {
  private tokens: number

  constructor(private readonly burst: number, private readonly everyMs: number, private at: number) {
    this.tokens = burst
  }

  /** tokens available at `now` (nothing taken) */
  level(now: number): number {
    return Math.min(this.burst, this.tokens + Math.max(0, now - this.at) / this.everyMs)
  }

  /** takes one token; false (nothing taken) when none is left */
  take(now: number): boolean {
    const level = this.level(now)
    this.at = now
    this.tokens = level >= 1 ? level - 1 : level
    return level >= 1
  }

  full(now: number): boolean {
    return this.level(now) >= this.burst
  }
}

export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(private readonly burst: number, private readonly everyMs: number, private readonly maxKeys: number) {}

  get size(): number {
    return this.buckets.size
  }

  /** whether `key` has a token left at `now` (nothing taken) */
  has(key: string, now: number): boolean {
    const b = this.buckets.get(key)
    return b ? b.level(now) >= 1 : this.burst >= 1
  }

  /** takes one token of `key`'s bucket; false (nothing taken) when it is empty */
  take(key: string, now: number): boolean {
    let b = this.buckets.get(key)
    if (b) {
      this.buckets.delete(key) // most recently used last
    } else {
      b = new TokenBucket(this.burst, this.everyMs, now)
    }
    this.buckets.set(key, b)
    if (this.buckets.size > this.maxKeys) this.forget(now)
    return b.take(now)
  }

  private forget(now: number): void {
    for (const [k, b] of this.buckets) {
      if (this.buckets.size <= this.maxKeys) return
      if (b.full(now)) this.buckets.delete(k)
    }
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) return
      this.buckets.delete(k)
    }
  }
}
