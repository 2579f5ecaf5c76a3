// What may reach the DHCP logic at all: relay agents only from allowed subnets, and a packet rate
// per client (MAC / client id) and overall (token buckets). Pure bookkeeping, time passed in.
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

export type GuardVerdict = 'ok' | 'rate-limited-client' | 'rate-limited-total'

export class RequestGuard {
  private readonly relays: Subnet[]
  private readonly total: TokenBucket
  private readonly clients: KeyedBuckets

  constructor(private readonly limits: DhcpLimits, interfaceSubnet: string, now: number) {
    this.relays = [parseCidr(interfaceSubnet), ...limits.relays.map(parseCidr)]
    this.total = new TokenBucket(limits.rateTotal, 60_000 / limits.rateTotal, now)
    this.clients = new KeyedBuckets(limits.ratePerClient, 60_000 / limits.ratePerClient, MAX_TRACKED_CLIENTS)
  }

  /** Is a request relayed by this giaddr to be answered? */
  relayAllowed(giaddr: string): boolean {
    return this.relays.some((s) => inSubnet(giaddr, s))
  }

  /** Takes one packet from `client`'s allowance and the overall one. */
  admit(client: string, now: number): GuardVerdict {
    if (!this.clients.take(client, now)) return 'rate-limited-client'
    if (!this.total.take(now)) return 'rate-limited-total'
    return 'ok'
  }
}
