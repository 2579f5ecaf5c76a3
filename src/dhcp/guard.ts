// What may reach the DHCP logic at all: relay agents only from allowed subnets, and a packet rate
// per client (MAC / client id) and overall (token buckets). Pure bookkeeping, time passed in.
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

class Bucket {
  tokens: number
  constructor(private readonly perMinute: number, public at: number) { this.tokens = perMinute }

  take(now: number): boolean {
    this.refill(now)
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.perMinute, this.tokens + ((now - this.at) * this.perMinute) / 60_000)
    this.at = now
  }

  full(now: number): boolean {
    this.refill(now)
    return this.tokens >= this.perMinute
  }
}

export type GuardVerdict = 'ok' | 'rate-limited-client' | 'rate-limited-total'

export class RequestGuard {
  private readonly relays: Subnet[]
  private readonly total: Bucket
  private readonly clients = new Map<string, Bucket>()

  constructor(private readonly limits: DhcpLimits, interfaceSubnet: string, now: number) {
    this.relays = [parseCidr(interfaceSubnet), ...limits.relays.map(parseCidr)]
    this.total = new Bucket(limits.rateTotal, now)
  }

  /** Is a request relayed by this giaddr to be answered? */
  relayAllowed(giaddr: string): boolean {
    return this.relays.some((s) => inSubnet(giaddr, s))
  }

  /** Takes one packet from `client`'s allowance and the overall one. */
  admit(client: string, now: number): GuardVerdict {
    let b = this.clients.get(client)
    if (b) {
      this.clients.delete(client)
      this.clients.set(client, b) // most recently seen last
    } else {
      b = new Bucket(this.limits.ratePerClient, now)
      this.clients.set(client, b)
      if (this.clients.size > MAX_TRACKED_CLIENTS) this.forget(now)
    }
    if (!b.take(now)) return 'rate-limited-client'
    if (!this.total.take(now)) return 'rate-limited-total'
    return 'ok'
  }

  private forget(now: number): void {
    for (const [k, b] of this.clients) {
      if (this.clients.size <= MAX_TRACKED_CLIENTS) return
      if (b.full(now)) this.clients.delete(k)
    }
    for (const k of this.clients.keys()) {
      if (this.clients.size <= MAX_TRACKED_CLIENTS) return
      this.clients.delete(k)
    }
  }
}
