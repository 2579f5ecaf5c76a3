// Full DHCP server mode (RFC 2131): DISCOVER/OFFER, REQUEST (selecting, init-reboot, renewing,
// rebinding)/ACK/NAK, RELEASE, DECLINE, INFORM, relay agents (giaddr picks the pool), reservations.
// Netboot clients also get the boot options the policy decides.
import type { ClassifiedClient } from './classify.js'
import { broadcastOf, inSubnet, intToIp, ipToInt, parseIPv4 } from '../net/ipv4.js'
import { LeaseTable, buildPool, clientKey, inRange, type Lease, type Pool, type PoolConfig } from './leases.js'
import { MessageType, Opt, ipBytes, optIp, optString, u32, type DhcpPacket } from './packet.js'
import { isKnownMachine, type DhcpPolicy } from './policy.js'
import { addBootOptions, baseReply, destinationFor, type BootSummary, type Destination } from './replies.js'

export type FullOutcome =
  | { kind: 'reply'; reply: DhcpPacket; dest: Destination; type: 'offer' | 'ack' | 'nak'; ip: string | null; boot: BootSummary | null; commit: boolean }
  | { kind: 'accepted'; type: 'release' | 'decline'; ip: string; commit: boolean }
  | { kind: 'drop'; reason: string }

export interface FullModeOptions {
  serverAddress: string
  /** subnet of the listening interface, "10.0.0.0/24" */
  interfaceSubnet: string
  pools: PoolConfig[]
  policy: DhcpPolicy
  /** only clients the policy knows get addresses (default false) */
  knownOnly?: boolean
  /** share (0..1) of each pool that unknown clients may hold, offers and leases together (default 1) */
  unknownShare?: number
}

/** a pool's configuration options, built once per pool (option buffers are never written to) */
const poolOptionCache = new WeakMap<Pool, { lease: Array<[number, Buffer]>; plain: Array<[number, Buffer]> }>()

function poolOptions(pool: Pool, withLease: boolean): Array<[number, Buffer]> {
  let c = poolOptionCache.get(pool)
  if (!c) {
    const plain: Array<[number, Buffer]> = [[Opt.SUBNET_MASK, u32(pool.net.mask)], [Opt.BROADCAST, u32(broadcastOf(pool.net))]]
    if (pool.router) plain.push([Opt.ROUTER, ipBytes(pool.router)])
    if (pool.dns && pool.dns.length > 0) plain.push([Opt.DNS, ipBytes(...pool.dns)])
    if (pool.domain) plain.push([Opt.DOMAIN_NAME, Buffer.from(pool.domain, 'latin1')])
    const lease: Array<[number, Buffer]> = [
      [Opt.LEASE_TIME, u32(pool.leaseSeconds)],
      [Opt.RENEWAL_TIME, u32(Math.floor(pool.leaseSeconds / 2))],
      [Opt.REBINDING_TIME, u32(Math.floor((pool.leaseSeconds * 7) / 8))],
      ...plain,
    ]
    c = { lease, plain }
    poolOptionCache.set(pool, c)
  }
  return withLease ? c.lease : c.plain
}

export class FullMode {
  readonly pools: Pool[]
  private readonly localPool: Pool | null

  constructor(private readonly o: FullModeOptions, readonly table: LeaseTable) {
    this.pools = o.pools.map(buildPool)
    const ifnet = buildPool({ subnet: o.interfaceSubnet, start: o.serverAddress, end: o.serverAddress, leaseSeconds: 60 }).net
    for (const p of this.pools) {
      const local = p.net.network === ifnet.network && p.net.prefix === ifnet.prefix
      if (!local && !p.viaRelay) throw new Error(`pool ${p.start}-${p.end} (${p.subnet}) is not on the interface's subnet ${o.interfaceSubnet}; mark it viaRelay if relay agents serve it`)
      if (local && p.viaRelay) throw new Error(`pool ${p.subnet} is the interface's own subnet; it cannot be viaRelay`)
      if (ipToInt(o.serverAddress) >= p.first && ipToInt(o.serverAddress) <= p.last) throw new Error(`pool ${p.start}-${p.end} contains the server's own address`)
    }
    for (let i = 0; i < this.pools.length; i++) {
      for (let j = i + 1; j < this.pools.length; j++) {
        const a = this.pools[i]!
        const b = this.pools[j]!
        if (a.first <= b.last && b.first <= a.last) throw new Error(`pools ${a.start}-${a.end} and ${b.start}-${b.end} overlap`)
      }
    }
    this.localPool = this.pools.find((p) => !p.viaRelay) ?? null
  }

  private poolFor(req: DhcpPacket): Pool | null {
    if (req.giaddr === '0.0.0.0') return this.localPool
    return this.pools.find((p) => inSubnet(req.giaddr, p.net)) ?? null
  }

  private reservationIn(pool: Pool, mac: string): number | null {
    const r = this.o.policy.reservationFor(mac)
    if (!r) return null
    const n = parseIPv4(r)
    if (n === null) return null
    return inSubnet(n, pool.net) && n !== pool.net.network && n !== broadcastOf(pool.net) ? n : null
  }

  private configOptions(reply: DhcpPacket, pool: Pool, withLease: boolean): void {
    const o = reply.options
    for (const [code, value] of poolOptions(pool, withLease)) o.set(code, value)
  }

  private boot(reply: DhcpPacket, req: DhcpPacket, client: ClassifiedClient): BootSummary | null {
    if (!client.netboot) return null
    const d = this.o.policy.bootFor(client)
    return d ? addBootOptions(reply, req, client, d, this.o.serverAddress) : null
  }

  private nak(req: DhcpPacket, message: string): FullOutcome {
    const reply = baseReply(req, MessageType.NAK, this.o.serverAddress)
    reply.options.set(Opt.MESSAGE, Buffer.from(message, 'latin1'))
    const dest = destinationFor(req, reply, true)
    return { kind: 'reply', reply, dest, type: 'nak', ip: null, boot: null, commit: false }
  }

  /**
   * May an unknown client be given a new address in this pool (the share they hold is below its
   * cap)? An offer on `except` is not counted (binding that address drops it).
   */
  private unknownMayTake(pool: Pool, now: number, except?: number): boolean {
    const size = pool.last - pool.first + 1
    const cap = Math.floor(size * (this.o.unknownShare ?? 1))
    return this.table.heldIn(pool, now, this.isUnknown, except) < cap
  }

  private isKnown(mac: string): boolean {
    return isKnownMachine(this.o.policy, mac)
  }

  private readonly isUnknown = (mac: string): boolean => !this.isKnown(mac)

  /** Is this a REQUEST (SELECTING, naming us) for the address we last offered this client? */
  answersOffer(req: DhcpPacket, type: number, client: ClassifiedClient): boolean {
    if (type !== MessageType.REQUEST || optIp(req, Opt.SERVER_ID) !== this.o.serverAddress) return false
    const requested = optIp(req, Opt.REQUESTED_IP)
    return requested !== undefined && this.table.lastOfferOf(clientKey(client.mac, client.clientId)) === ipToInt(requested)
  }

  /** @param src where the datagram came from (a RELEASE must come from the address it releases) */
  handle(req: DhcpPacket, type: number, client: ClassifiedClient, now: number, src: Destination): FullOutcome {
    const pool = this.poolFor(req)
    if (!pool) return { kind: 'drop', reason: 'no-pool' }
    const key = clientKey(client.mac, client.clientId)
    const serverId = optIp(req, Opt.SERVER_ID)
    const hostname = optString(req, Opt.HOSTNAME) ?? null
    const reserved = (ip: string): boolean => this.o.policy.reservationFor(client.mac) !== ip && this.isReservedForOther(ip)
    const myReservation = this.reservationIn(pool, client.mac)

    switch (type) {
      case MessageType.DISCOVER: {
        let ip: number | null
        const known = this.isKnown(client.mac)
        if (this.o.knownOnly && !known) return { kind: 'drop', reason: 'unknown-client' }
        if (myReservation !== null) {
          if (!this.table.availableTo(myReservation, key, now)) return { kind: 'drop', reason: 'reserved-address-in-use' }
          ip = myReservation
        } else {
          // a configured machine may take back anyone's un-requested offer, an unknown client only
          // another unknown client's
          ip = this.table.choose(pool, key, optIp(req, Opt.REQUESTED_IP) ?? null, now, reserved, known ? () => true : this.isUnknown)
          // an unknown client gets a new address only while unknown clients hold less than their
          // share; at the cap it may take back the oldest offer to another unknown client
          if (ip !== null && !known && !this.table.holds(key, ip, now) && !this.unknownMayTake(pool, now)) {
            ip = this.table.oldestOffer(pool, key, now, reserved, this.isUnknown)
            if (ip === null) return { kind: 'drop', reason: 'unknown-share-exhausted' }
          }
        }
        if (ip === null) return { kind: 'drop', reason: 'pool-exhausted' }
        this.table.offer(ip, key, client.mac, now)
        const reply = baseReply(req, MessageType.OFFER, this.o.serverAddress)
        reply.yiaddr = intToIp(ip)
        reply.siaddr = this.o.serverAddress
        this.configOptions(reply, pool, true)
        const boot = this.boot(reply, req, client)
        return { kind: 'reply', reply, dest: destinationFor(req, reply, false), type: 'offer', ip: reply.yiaddr, boot, commit: false }
      }
      case MessageType.REQUEST: {
        if (serverId !== undefined && serverId !== this.o.serverAddress) {
          this.table.withdrawOffers(key)
          return { kind: 'drop', reason: 'other-server' }
        }
        const requested = optIp(req, Opt.REQUESTED_IP) ?? (req.ciaddr !== '0.0.0.0' ? req.ciaddr : undefined)
        if (requested === undefined) return { kind: 'drop', reason: 'no-requested-address' }
        const n = ipToInt(requested)
        const lease = this.table.leaseOf(key)
        const known = lease !== undefined && lease.ip === requested && lease.state !== 'declined'
        if (serverId !== undefined) {
          // SELECTING: the address must be the one we offered (or still hold) for this client and
          // bound to nobody else. An offer past its hold, or taken back for another client that has
          // not REQUESTed it yet, still counts: the first REQUEST wins, within the unknown share.
          const ok = (this.table.lastOfferOf(key) === n || known) && this.table.grantable(n, key, now) &&
            (myReservation === null || myReservation === n) && (inRange(pool, n) || myReservation === n) &&
            (myReservation === n || !reserved(requested))
          const withinShare = known || this.table.offeredTo(key, n, now) || this.isKnown(client.mac) || this.unknownMayTake(pool, now, n)
          if (!ok || !withinShare) {
            this.table.withdrawOffers(key)
            return this.nak(req, ok ? 'no address for unknown clients' : 'address not offered to you')
          }
        } else {
          // INIT-REBOOT / RENEWING / REBINDING
          if (!inSubnet(n, pool.net)) return this.nak(req, 'wrong network')
          if (myReservation !== null && myReservation !== n) return this.nak(req, 'address reserved elsewhere')
          if (!known) {
            const holder = this.table.leaseAt(requested)
            if (holder && holder.state === 'bound' && holder.expiresAt > now) return this.nak(req, 'address in use')
            if (myReservation === n) { /* a reserved machine may always have its address */ } else return { kind: 'drop', reason: 'unknown-lease' }
          } else if (!this.table.availableTo(n, key, now)) {
            return this.nak(req, 'address in use')
          }
        }
        const bound = this.table.bind(n, client.mac, client.clientId, hostname, now + pool.leaseSeconds * 1000)
        const reply = baseReply(req, MessageType.ACK, this.o.serverAddress)
        reply.ciaddr = req.ciaddr
        reply.yiaddr = bound.ip
        reply.siaddr = this.o.serverAddress
        this.configOptions(reply, pool, true)
        const boot = this.boot(reply, req, client)
        return { kind: 'reply', reply, dest: destinationFor(req, reply, false), type: 'ack', ip: bound.ip, boot, commit: true }
      }
      case MessageType.INFORM: {
        if (req.ciaddr === '0.0.0.0') return { kind: 'drop', reason: 'inform-without-ciaddr' }
        const reply = baseReply(req, MessageType.ACK, this.o.serverAddress)
        reply.ciaddr = req.ciaddr
        reply.siaddr = this.o.serverAddress
        this.configOptions(reply, pool, false)
        const boot = this.boot(reply, req, client)
        return { kind: 'reply', reply, dest: destinationFor(req, reply, false), type: 'ack', ip: null, boot, commit: false }
      }
      case MessageType.RELEASE: {
        if (serverId !== undefined && serverId !== this.o.serverAddress) return { kind: 'drop', reason: 'other-server' }
        // only the holder, from the address it releases (RFC 2131 §4.4.6: sent unicast from ciaddr)
        if (req.ciaddr === '0.0.0.0' || src.address !== req.ciaddr || req.giaddr !== '0.0.0.0') return { kind: 'drop', reason: 'release-not-from-holder' }
        const l: Lease | null = this.table.release(key, req.ciaddr, now)
        return l ? { kind: 'accepted', type: 'release', ip: l.ip, commit: true } : { kind: 'drop', reason: 'unknown-lease' }
      }
      case MessageType.DECLINE: {
        if (serverId !== undefined && serverId !== this.o.serverAddress) return { kind: 'drop', reason: 'other-server' }
        const ip = optIp(req, Opt.REQUESTED_IP)
        if (!ip) return { kind: 'drop', reason: 'no-requested-address' }
        const l = this.table.decline(key, ip, now)
        return l ? { kind: 'accepted', type: 'decline', ip, commit: true } : { kind: 'drop', reason: 'unknown-lease' }
      }
      default:
        return { kind: 'drop', reason: 'unexpected-message-type' }
    }
  }

  private isReservedForOther(ip: string): boolean {
    return this.o.policy.isReserved?.(ip) ?? false
  }
}
