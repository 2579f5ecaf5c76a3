// Full-mode address bookkeeping: pools, the lease table (bound / released / declined leases, pending
// offers), and what the table's persistence (LeaseStore; the file store is in lease-file.ts) is given.
import { broadcastOf, inSubnet, intToIp, ipToInt, parseCidr, parseIPv4, type Subnet } from '../net/ipv4.js'

export interface PoolConfig {
  /** the subnet clients live in, "10.0.0.0/24" */
  subnet: string
  /** first and last address handed out dynamically (inclusive) */
  start: string
  end: string
  router?: string
  dns?: string[]
  domain?: string
  /** lease time, seconds */
  leaseSeconds: number
  /**
   * The subnet is reached only through relay agents (giaddr inside it). Without this, a pool must be
   * the subnet of bootlab's own interface.
   */
  viaRelay?: boolean
}

export interface Pool extends PoolConfig {
  net: Subnet
  first: number
  last: number
}

export function buildPool(c: PoolConfig): Pool {
  const net = parseCidr(c.subnet)
  const first = ipToInt(c.start)
  const last = ipToInt(c.end)
  if (last < first) throw new Error(`pool ${c.start}-${c.end}: end before start`)
  if (!inSubnet(first, net) || !inSubnet(last, net)) throw new Error(`pool ${c.start}-${c.end} is not inside ${c.subnet}`)
  if (first === net.network || last === broadcastOf(net)) throw new Error(`pool ${c.start}-${c.end} includes the network or broadcast address of ${c.subnet}`)
  if (!Number.isInteger(c.leaseSeconds) || c.leaseSeconds < 10) throw new Error('leaseSeconds must be an integer >= 10')
  if (c.router !== undefined && !inSubnet(c.router, net)) throw new Error(`router ${c.router} is not inside ${c.subnet}`)
  return { ...c, net, first, last }
}

export type LeaseState = 'bound' | 'released' | 'declined'

export interface Lease {
  ip: string
  mac: string
  /** option 61 (hex) or null; the client key is the client id when present, else the MAC */
  clientId: string | null
  hostname: string | null
  state: LeaseState
  /** ms since the epoch */
  expiresAt: number
}

/** A lease that is new or changed since the last save, or an address whose lease is gone. */
export type LeaseChange = Lease | { ip: string; gone: true }

export function isGone(c: LeaseChange): c is { ip: string; gone: true } {
  return 'gone' in c
}

/**
 * Where leases live across restarts. save() gets what changed since the previous save (in order) and
 * the whole table on demand (a store may rewrite everything instead of appending); it resolves only
 * once the changes are durable: the engine sends an ACK after that, never before.
 */
export interface LeaseStore {
  load(): Promise<Lease[]>
  save(changes: LeaseChange[], all: () => Lease[]): Promise<void>
  /** releases what the store holds open (the server stopped) */
  close?(): Promise<void>
}

export class MemoryLeaseStore implements LeaseStore {
  private readonly data = new Map<string, Lease>()
  async load(): Promise<Lease[]> { return [...this.data.values()].map((l) => ({ ...l })) }
  async save(changes: LeaseChange[]): Promise<void> {
    for (const c of changes) {
      if (isGone(c)) this.data.delete(c.ip)
      else this.data.set(c.ip, { ...c })
    }
  }
}

export function isLease(x: unknown): x is Lease {
  if (typeof x !== 'object' || x === null) return false
  const l = x as Record<string, unknown>
  return typeof l.ip === 'string' && typeof l.mac === 'string' && typeof l.expiresAt === 'number' &&
    (l.state === 'bound' || l.state === 'released' || l.state === 'declined') &&
    (l.clientId === null || typeof l.clientId === 'string') && (l.hostname === null || typeof l.hostname === 'string')
}

interface Offer { key: string; mac: string; expiresAt: number }

/**
 * How long an OFFER keeps its address from others. Short: clients REQUEST within seconds, and a
 * flood of DISCOVERs with invented MACs holds addresses only this long (a late REQUEST for the
 * address is still granted while nobody else took it). Offers are soft even within the hold: when
 * no address is free, the oldest un-requested offer is taken back (`oldestOffer`), and a REQUEST
 * for an address that is only offered to someone else is granted (first REQUEST wins).
 */
export const OFFER_HOLD_MS = 10_000
/**
 * Clients whose last offer is remembered (so their REQUEST is recognised after the offer was taken
 * back or lapsed), at most this many besides the standing offers; the oldest are forgotten first.
 */
export const MAX_OFFER_MEMORY = 4096
const DECLINE_HOLD_MS = 600_000

export function clientKey(mac: string, clientId: string | null): string {
  return clientId ? `id:${clientId}` : `mac:${mac}`
}

/** The lease table of all pools. Pure bookkeeping: no I/O, time passed in. */
export class LeaseTable {
  private readonly byIp = new Map<number, Lease>()
  private readonly byKey = new Map<string, number>()
  private readonly offers = new Map<number, Offer>()
  private readonly offerByKey = new Map<string, number>()
  private readonly cursor = new Map<Pool, number>()
  /** addresses whose lease changed since the last takeChanges() */
  private readonly dirty = new Set<number>()

  constructor(leases: Lease[] = []) {
    for (const l of leases) this.put(l)
  }

  private put(l: Lease): void {
    const n = ipToInt(l.ip)
    const old = this.byIp.get(n)
    if (old) this.byKey.delete(clientKey(old.mac, old.clientId))
    this.byIp.set(n, l)
    if (l.state !== 'declined') this.byKey.set(clientKey(l.mac, l.clientId), n)
  }

  /** What changed since the last call (each address once, its current state), for the store. */
  takeChanges(): LeaseChange[] {
    const out: LeaseChange[] = []
    for (const n of this.dirty) {
      const l = this.byIp.get(n)
      out.push(l ? { ...l } : { ip: intToIp(n), gone: true })
    }
    this.dirty.clear()
    return out
  }

  /** A save of these changes failed: hand them out again with the next takeChanges(). */
  requeue(changes: LeaseChange[]): void {
    for (const c of changes) this.dirty.add(ipToInt(c.ip))
  }

  all(): Lease[] {
    return [...this.byIp.values()].map((l) => ({ ...l }))
  }

  /** the lease (any state) this client had, if its address is still recorded for it */
  leaseOf(key: string): Lease | undefined {
    const n = this.byKey.get(key)
    return n === undefined ? undefined : this.byIp.get(n)
  }

  leaseAt(ip: string): Lease | undefined {
    return this.byIp.get(ipToInt(ip))
  }

  /** Is this address usable by this client right now (no one else holds it, it is not declined)? */
  availableTo(ip: number, key: string, now: number): boolean {
    if (!this.grantable(ip, key, now)) return false
    const o = this.offers.get(ip)
    if (o && o.key !== key && o.expiresAt > now) return false
    return true
  }

  /**
   * May this client be bound to this address (no one else's unexpired lease, not declined)? Offers
   * to others do not count: the first REQUEST wins.
   */
  grantable(ip: number, key: string, now: number): boolean {
    const l = this.byIp.get(ip)
    if (!l) return true
    if (l.state === 'declined') return l.expiresAt <= now
    return clientKey(l.mac, l.clientId) === key || l.state !== 'bound' || l.expiresAt <= now
  }

  /**
   * Picks an address for a DISCOVER: the client's previous address, else the requested one, else a
   * never-used one, else the one whose lease ended longest ago, else the oldest offer to a client
   * `mayReclaim` accepts (by MAC) that nobody requested. `reserved` says whether an address belongs
   * to another machine's reservation.
   */
  choose(pool: Pool, key: string, requested: string | null, now: number, reserved: (ip: string) => boolean, mayReclaim: (mac: string) => boolean): number | null {
    for (const mine of [this.byKey.get(key), this.offerByKey.get(key)]) {
      if (mine !== undefined && inRange(pool, mine) && this.availableTo(mine, key, now) && !reserved(intToIp(mine))) return mine
    }
    if (requested !== null) {
      const r = parseIPv4(requested)
      if (r !== null && inRange(pool, r) && this.availableTo(r, key, now) && !reserved(requested)) return r
    }
    const size = pool.last - pool.first + 1
    let start = this.cursor.get(pool) ?? pool.first
    if (start < pool.first || start > pool.last) start = pool.first
    for (let i = 0; i < size; i++) {
      const n = pool.first + ((start - pool.first + i) % size)
      if (this.byIp.has(n)) continue
      const o = this.offers.get(n)
      if (o && o.expiresAt > now) continue
      if (reserved(intToIp(n))) continue
      this.cursor.set(pool, n + 1 > pool.last ? pool.first : n + 1)
      return n
    }
    let best: Lease | null = null
    for (const l of this.byIp.values()) {
      const n = ipToInt(l.ip)
      if (!inRange(pool, n) || l.expiresAt > now || !this.availableTo(n, key, now) || reserved(l.ip)) continue
      if (!best || l.expiresAt < best.expiresAt) best = l
    }
    return best ? ipToInt(best.ip) : this.oldestOffer(pool, key, now, reserved, mayReclaim)
  }

  /**
   * The pool's oldest standing offer (to another client whose MAC `mayReclaim` accepts, on an
   * address not bound to anyone and not reserved), to be taken back for a new client; or null.
   */
  oldestOffer(pool: Pool, key: string, now: number, reserved: (ip: string) => boolean, mayReclaim: (mac: string) => boolean): number | null {
    for (const [n, o] of this.offers) { // oldest first: offer() re-inserts
      if (!inRange(pool, n) || o.key === key || !mayReclaim(o.mac) || !this.grantable(n, key, now) || reserved(intToIp(n))) continue
      return n
    }
    return null
  }

  /**
   * Offers `ip` to this client (its previous standing offer is dropped). An offer standing there for
   * another client is taken back; that client's REQUEST for it may still win (lastOfferOf).
   */
  offer(ip: number, key: string, mac: string, now: number): void {
    const prev = this.offerByKey.get(key)
    if (prev !== undefined && prev !== ip && this.offers.get(prev)?.key === key) this.offers.delete(prev)
    this.offers.delete(ip)
    this.offers.set(ip, { key, mac, expiresAt: now + OFFER_HOLD_MS })
    this.offerByKey.delete(key)
    this.offerByKey.set(key, ip)
    if (this.offers.size > 4096) {
      for (const [n, o] of this.offers) if (o.expiresAt <= now) this.dropOffer(n)
    }
    if (this.offerByKey.size > MAX_OFFER_MEMORY) {
      // forget the oldest memories of offers that no longer stand (standing ones are bounded by the pools)
      for (const [k, n] of this.offerByKey) {
        if (this.offerByKey.size <= MAX_OFFER_MEMORY) break
        if (this.offers.get(n)?.key !== k) this.offerByKey.delete(k)
      }
    }
  }

  private dropOffer(ip: number): void {
    const o = this.offers.get(ip)
    if (!o) return
    this.offers.delete(ip)
    if (this.offerByKey.get(o.key) === ip) this.offerByKey.delete(o.key)
  }

  /** the address last offered to this client, also when the offer's hold is over or it was taken back */
  lastOfferOf(key: string): number | undefined {
    return this.offerByKey.get(key)
  }

  /** Does this client hold this address already (its unexpired lease or offer)? */
  holds(key: string, ip: number, now: number): boolean {
    const l = this.byIp.get(ip)
    if (l && l.state === 'bound' && l.expiresAt > now && clientKey(l.mac, l.clientId) === key) return true
    return this.offeredTo(key, ip, now)
  }

  /**
   * Addresses of the pool held (bound unexpired leases and offers in their hold) by clients whose MAC
   * matches; an offer on `except` is not counted (it goes when that address is bound).
   */
  heldIn(pool: Pool, now: number, match: (mac: string) => boolean, except?: number): number {
    let n = 0
    for (const [ip, l] of this.byIp) {
      if (inRange(pool, ip) && l.state === 'bound' && l.expiresAt > now && match(l.mac)) n++
    }
    for (const [ip, o] of this.offers) {
      const l = this.byIp.get(ip)
      const leased = l !== undefined && l.state === 'bound' && l.expiresAt > now
      if (inRange(pool, ip) && ip !== except && o.expiresAt > now && match(o.mac) && !leased) n++
    }
    return n
  }

  offeredTo(key: string, ip: number, now: number): boolean {
    const o = this.offers.get(ip)
    return o !== undefined && o.key === key && o.expiresAt > now
  }

  /** the client took another server's offer, or was refused: its offer (and the memory of it) goes */
  withdrawOffers(key: string): void {
    const n = this.offerByKey.get(key)
    if (n === undefined) return
    if (this.offers.get(n)?.key === key) this.offers.delete(n)
    this.offerByKey.delete(key)
  }

  bind(ip: number, mac: string, clientId: string | null, hostname: string | null, expiresAt: number): Lease {
    const key = clientKey(mac, clientId)
    const prev = this.byKey.get(key)
    if (prev !== undefined && prev !== ip) {
      const old = this.byIp.get(prev)
      if (old && old.state !== 'declined') { this.byIp.delete(prev); this.dirty.add(prev) }
    }
    this.dropOffer(ip) // whoever it was offered to: the first REQUEST wins
    this.withdrawOffers(key)
    const l: Lease = { ip: intToIp(ip), mac, clientId, hostname, state: 'bound', expiresAt }
    this.put(l)
    this.dirty.add(ip)
    return l
  }

  release(key: string, ip: string, now: number): Lease | null {
    const l = this.leaseOf(key)
    if (!l || l.ip !== ip || l.state !== 'bound') return null
    l.state = 'released'
    l.expiresAt = now
    this.dirty.add(ipToInt(ip))
    return l
  }

  decline(key: string, ip: string, now: number): Lease | null {
    const n = ipToInt(ip)
    const l = this.byIp.get(n)
    if (!l || clientKey(l.mac, l.clientId) !== key) {
      if (!this.offeredTo(key, n, now)) return null
    }
    this.byKey.delete(key)
    this.dropOffer(n)
    const d: Lease = { ip, mac: l?.mac ?? '', clientId: null, hostname: null, state: 'declined', expiresAt: now + DECLINE_HOLD_MS }
    this.byIp.set(n, d)
    this.dirty.add(n)
    return d
  }
}

export function inRange(pool: Pool, n: number): boolean {
  return n >= pool.first && n <= pool.last
}
