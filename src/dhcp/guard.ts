// What may reach the DHCP logic at all: relay agents only from allowed subnets, and a packet rate
// per client (MAC / client id) and overall (token buckets). Pure bookkeeping, time passed in.
//
// A flood of DISCOVERs from invented MACs empties the overall bucket; these lanes keep real clients
// served anyway (each with its own cap):
// - a REQUEST answering one of our offers costs no overall allowance (each admitted DISCOVER buys at
//   most one: the offer is forgotten when it is bound or NAKed), so a DORA that started completes;
// - configured machines draw on their own per-MAC allowance first (their number is bounded by the
//   configuration, not by what strangers send);
// - a client seen recently (every real client retries its DISCOVER after a few seconds; a random-MAC
//   flood never repeats a MAC) gets a second, smaller bucket when the overall one is empty.
import { KeyedBuckets, TokenBucket } from '../net/rate-limit.js'
import { inSubnet, parseCidr, type Subnet } from '../net/ipv4.js'

export interface DhcpLimits {
  /** full mode: only machines known to the policy get addresses */
  knownOnly: boolean
  /** subnets (CIDR) whose relay agents (giaddr) are answered, besides the interface's own */
  relays: string[]
  /** full mode: share (0..1) of each pool that clients unknown to the policy may hold */
  unknownShare: number
  /** packets per minute from one client (also the burst) */
  ratePerClient: number
  /** packets per minute from all clients together (also the burst) */
  rateTotal: number
}

export const DEFAULT_DHCP_LIMITS: DhcpLimits = {
  knownOnly: false,
  relays: [],
  unknownShare: 0.5,
  ratePerClient: 30,
  rateTotal: 6000,
}

/** per-client buckets kept at most (the oldest are forgotten first: a forgotten client starts full) */
const MAX_TRACKED_CLIENTS = 4096
/**
 * clients remembered as recently seen (the oldest forgotten first): at 500 new MACs a second a real
 * client's retry 2-4 s later is still recognised; a flood of over ~4000 new MACs a second pushes it out
 */
export const MAX_RECENT_CLIENTS = 16_384
/** a client seen within this window counts as returning */
export const RECENT_WINDOW_MS = 60_000
/** the returning clients' bucket: this fraction of rate_total (at least one a minute) */
const RETURNING_SHARE = 0.1

export type GuardVerdict = 'ok' | 'rate-limited-client' | 'rate-limited-total' | 'rate-limited-known' | 'rate-limited-returning'

/** What the guard needs to know about one packet's sender. */
export interface Asker {
  /** client key (client id, else MAC) */
  key: string
  mac: string
  /** a configured machine */
  known: boolean
  /** a REQUEST answering the offer we made this client */
  answersOffer: boolean
}

/** Keys seen recently, at most `max`, the least recently seen forgotten first. */
export class RecentKeys {
  private readonly seen = new Map<string, number>()

  constructor(private readonly max: number, private readonly windowMs: number) {}

  get size(): number {
    return this.seen.size
  }

  /** records `key` as seen at `now`; whether it had been seen within the window before */
  touch(key: string, now: number): boolean {
    const prev = this.seen.get(key)
    this.seen.delete(key)
    this.seen.set(key, now)
    if (this.seen.size > this.max) {
      for (const k of this.seen.keys()) {
        this.seen.delete(k)
        if (this.seen.size <= this.max) break
      }
    }
    return prev !== undefined && now - prev <= this.windowMs
  }
}

export class RequestGuard {
  private readonly relays: Subnet[]
  private readonly total: TokenBucket
  private readonly returning: TokenBucket
  private readonly clients: KeyedBuckets
  private readonly known: KeyedBuckets
  private readonly recent = new RecentKeys(MAX_RECENT_CLIENTS, RECENT_WINDOW_MS)

  constructor(private readonly limits: DhcpLimits, interfaceSubnet: string, now: number) {
    this.relays = [parseCidr(interfaceSubnet), ...limits.relays.map(parseCidr)]
    this.total = new TokenBucket(limits.rateTotal, 60_000 / limits.rateTotal, now)
    const back = Math.max(1, Math.floor(limits.rateTotal * RETURNING_SHARE))
    this.returning = new TokenBucket(back, 60_000 / back, now)
    this.clients = new KeyedBuckets(limits.ratePerClient, 60_000 / limits.ratePerClient, MAX_TRACKED_CLIENTS)
    this.known = new KeyedBuckets(limits.ratePerClient, 60_000 / limits.ratePerClient, MAX_TRACKED_CLIENTS)
  }

  /** Is a request relayed by this giaddr to be answered? */
  relayAllowed(giaddr: string): boolean {
    return this.relays.some((s) => inSubnet(giaddr, s))
  }

  /** Takes one packet from the asker's own allowance and from the lane it is entitled to. */
  admit(a: Asker, now: number): GuardVerdict {
    if (!this.clients.take(a.key, now)) return 'rate-limited-client'
    const returning = this.recent.touch(a.key, now)
    if (a.answersOffer) return 'ok'
    if (a.known) return this.known.take(a.mac, now) || this.total.take(now) ? 'ok' : 'rate-limited-known'
    if (this.total.take(now)) return 'ok'
    if (!returning) return 'rate-limited-total'
    return this.returning.take(now) ? 'ok' : 'rate-limited-returning'
  }
}
