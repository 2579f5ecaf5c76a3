// The DHCP engine without sockets: bytes in → (bytes, destination) out, with counters and typed
// events. Every received packet ends up counted exactly once: answered, accepted (RELEASE/DECLINE,
// which get no reply) or dropped with a reason.
import { EventEmitter } from 'node:events'
import type { Logger } from '../log.js'
import { classify, type ClassifiedClient, type ClientClass } from './classify.js'
import { FullMode, type FullOutcome } from './full.js'
import { DEFAULT_DHCP_LIMITS, RequestGuard, type DhcpLimits } from './guard.js'
import { inSubnet, type Subnet } from '../net/ipv4.js'
import { LeaseTable, MemoryLeaseStore, clientKey, type LeaseStore, type PoolConfig } from './leases.js'
import { BOOTREQUEST, DecodeError, EncodeError, Opt, decodePacket, encodePacket, messageTypeName, optIp, optU8, type DhcpPacket } from './packet.js'
import { isKnownMachine, type DhcpPolicy } from './policy.js'
import { ProxyMode, type ProxyOutcome } from './proxy.js'
import { echoRelayInfo, maxReplySize, type Destination } from './replies.js'

export type DhcpMode = 'proxy' | 'full'
export type PortKind = 'dhcp' | 'pxe'

/** One DHCP message, as the machine history records it. */
export interface DhcpClientEvent {
  mode: DhcpMode
  /** 'dhcp' = port 67, 'pxe' = the PXE boot-server port 4011 */
  port: PortKind
  mac: string
  class: ClientClass
  arch: number | null
  /** transaction id, 8 hex digits */
  xid: string
  /** Raspberry Pi serial (its TFTP prefix), from option 97 */
  rpiSerial: string | null
  /** Raspberry Pi model from option 97's fourcc ("RPi4"/"RPi5") */
  rpiModel: 'rpi4' | 'rpi5' | null
  /** relay agent address (giaddr), when relayed */
  relay: string | null
  /** address offered / acknowledged / released (null when none) */
  ip: string | null
  /** boot file or URL in the reply (null: none, e.g. a Pi, or a client the policy gives no boot) */
  bootFile: string | null
}

export interface DhcpDropEvent {
  reason: string
  from: string
  mac: string | null
}

export interface DhcpEvents {
  discover: [DhcpClientEvent]
  request: [DhcpClientEvent]
  inform: [DhcpClientEvent]
  release: [DhcpClientEvent]
  decline: [DhcpClientEvent]
  offer: [DhcpClientEvent]
  ack: [DhcpClientEvent]
  nak: [DhcpClientEvent]
  drop: [DhcpDropEvent]
}

export interface DhcpStats {
  received: number
  answered: number
  /** RELEASE/DECLINE processed (the protocol sends no reply) */
  accepted: number
  dropped: Record<string, number>
  sent: { offer: number; ack: number; nak: number }
  /** replies that were built (and counted answered) but the socket failed to send */
  sendFailed: number
  /** bound, unexpired leases (full mode) */
  leases: number
}

export interface EngineOptions {
  mode: DhcpMode
  serverAddress: string
  /** the listening interface's subnet, "10.0.0.0/24" */
  interfaceSubnet: string
  policy: DhcpPolicy
  /** full mode */
  pools?: PoolConfig[]
  leaseStore?: LeaseStore
  /** relays, rate limits, the share of a pool unknown clients may hold (default DEFAULT_DHCP_LIMITS) */
  limits?: Partial<DhcpLimits>
  logger: Logger
  now?: () => number
  /** where the events go (default: the engine itself); the server passes itself */
  events?: EventEmitter<DhcpEvents>
}

export interface Transmission {
  buf: Buffer
  dest: Destination
}

type Outcome = ProxyOutcome | FullOutcome

export class DhcpEngine extends EventEmitter<DhcpEvents> {
  private readonly proxy: ProxyMode | null = null
  private full: FullMode | null = null
  private readonly store: LeaseStore
  private readonly now: () => number
  private readonly counters = { received: 0, answered: 0, accepted: 0, offer: 0, ack: 0, nak: 0, sendFailed: 0 }
  private readonly drops = new Map<string, number>()
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = []
  private saving: Promise<void> | null = null
  private readonly limits: DhcpLimits
  private readonly guard: RequestGuard
  /** set by the socket layer when it cannot tell interfaces apart: drop what is visibly foreign */
  foreignFilter: Subnet | null = null
  private readonly events: EventEmitter<DhcpEvents>

  constructor(private readonly o: EngineOptions) {
    super()
    this.now = o.now ?? Date.now
    this.events = o.events ?? this
    this.store = o.leaseStore ?? new MemoryLeaseStore()
    this.limits = { ...DEFAULT_DHCP_LIMITS, ...o.limits }
    this.guard = new RequestGuard(this.limits, o.interfaceSubnet, this.now())
    if (o.mode === 'proxy') this.proxy = new ProxyMode({ serverAddress: o.serverAddress, policy: o.policy })
    else if (!o.pools || o.pools.length === 0) throw new Error('full DHCP mode needs at least one pool')
    else this.full = this.fullMode(new LeaseTable())
  }

  private fullMode(table: LeaseTable): FullMode {
    const { serverAddress, interfaceSubnet, pools, policy } = this.o
    return new FullMode({ serverAddress, interfaceSubnet, pools: pools!, policy, knownOnly: this.limits.knownOnly, unknownShare: this.limits.unknownShare }, table)
  }

  /** Loads the lease table (full mode). Call before handling packets. */
  async load(): Promise<void> {
    if (!this.full) return
    const leases = await this.store.load()
    this.full = this.fullMode(new LeaseTable(leases))
  }

  stats(): DhcpStats {
    return {
      received: this.counters.received,
      answered: this.counters.answered,
      accepted: this.counters.accepted,
      dropped: Object.fromEntries(this.drops),
      sent: { offer: this.counters.offer, ack: this.counters.ack, nak: this.counters.nak },
      sendFailed: this.counters.sendFailed,
      leases: this.full ? this.full.table.all().filter((l) => l.state === 'bound' && l.expiresAt > this.now()).length : 0,
    }
  }

  leases(): ReturnType<LeaseTable['all']> {
    return this.full ? this.full.table.all() : []
  }

  /** The socket layer could not send a reply the engine produced. */
  sendFailed(): void {
    this.counters.sendFailed++
  }

  /** Counts a drop. */
  drop(reason: string, from: string, mac: string | null): null {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1)
    this.events.emit('drop', { reason, from, mac })
    return null
  }

  /**
   * Handles one datagram: what to send (null: nothing), or a promise of it when a lease change must
   * be durable before the reply goes out (the ACK waits for the lease store). Never throws or rejects.
   */
  handle(msg: Buffer, src: Destination, port: PortKind): Transmission | null | Promise<Transmission | null> {
    this.counters.received++
    const from = `${src.address}:${src.port}`
    let p: DhcpPacket
    try {
      p = decodePacket(msg)
    } catch (err) {
      if (err instanceof DecodeError) return this.drop(err.reason, from, null)
      return this.drop('malformed', from, null)
    }
    try {
      return this.dispatch(p, src, port, from)
    } catch (err) {
      return this.internalError(err, from)
    }
  }

  private internalError(err: unknown, from: string): null {
    this.o.logger.error({ err, from }, 'dhcp: internal error while handling a packet')
    return this.drop('internal-error', from, null)
  }

  /** `then` once the lease table is durable; a failed save drops the packet instead */
  private afterCommit<T>(from: string, mac: string, then: () => T): Promise<T | null> {
    return this.commit().then((ok) => (ok ? then() : this.drop('lease-store-failed', from, mac)))
      .catch((err: unknown) => this.internalError(err, from))
  }

  private dispatch(p: DhcpPacket, src: Destination, port: PortKind, from: string): Transmission | null | Promise<Transmission | null> {
    if (p.op !== BOOTREQUEST) return this.drop('not-a-request', from, null)
    if (p.hlen === 0) return this.drop('bad-hlen', from, null)
    const type = optU8(p, Opt.MESSAGE_TYPE)
    if (type === undefined) return this.drop(p.options.has(Opt.MESSAGE_TYPE) ? 'bad-message-type' : 'bootp-unsupported', from, null)
    const name = messageTypeName[type]
    if (!name || type === 2 || type === 5 || type === 6) return this.drop('bad-message-type', from, null)
    if (this.foreignFilter && p.giaddr === '0.0.0.0' && src.address !== '0.0.0.0' && !inSubnet(src.address, this.foreignFilter)) {
      return this.drop('wrong-interface', from, null)
    }
    if (p.giaddr !== '0.0.0.0' && !this.guard.relayAllowed(p.giaddr)) return this.drop('relay-not-allowed', from, null)
    const client = classify(p)
    // proxy mode never answers plain clients: their traffic (the whole LAN's DHCP) costs no allowance
    if (this.full || client.netboot) {
      const asker = {
        key: clientKey(client.mac, client.clientId),
        mac: client.mac,
        known: isKnownMachine(this.o.policy, client.mac),
        answersOffer: this.full?.answersOffer(p, type, client) ?? false,
      }
      const verdict = this.guard.admit(asker, this.now())
      if (verdict !== 'ok') return this.drop(verdict, from, client.mac)
    }
    // events are built only when someone listens (the benchmark fixture does not).
    // The client's address as far as this packet tells it (REQUEST: the one it asks for, also when it
    // asks the router in proxy mode; INFORM/RELEASE/DECLINE: ciaddr), so TFTP transfers from that
    // address can be tied to the machine
    const inName = name as 'discover' | 'request' | 'inform' | 'release' | 'decline'
    if (this.events.listenerCount(inName) > 0) {
      const claimed = type === 3 ? optIp(p, Opt.REQUESTED_IP) ?? (p.ciaddr !== '0.0.0.0' ? p.ciaddr : null) : type === 1 ? null : (p.ciaddr !== '0.0.0.0' ? p.ciaddr : null)
      this.events.emit(inName, { ...this.eventBase(p, client, port), ip: claimed, bootFile: null })
    }

    let out: Outcome
    if (this.proxy) out = this.proxy.handle(p, type, client, port, src)
    else if (port === 'pxe') return this.drop('unexpected-port', from, client.mac)
    else out = this.full!.handle(p, type, client, this.now(), src)

    if (out.kind === 'drop') return this.drop(out.reason, from, client.mac)
    if (out.kind === 'accepted') {
      if (!out.commit) return this.accepted()
      return this.afterCommit(from, client.mac, () => this.accepted())
    }
    echoRelayInfo(out.reply, p)
    let buf: Buffer
    try {
      buf = encodePacket(out.reply, { maxSize: maxReplySize(p) })
    } catch (err) {
      if (err instanceof EncodeError) return this.drop('reply-too-large', from, client.mac)
      throw err
    }
    // (no named closures on this path: the tsx/esbuild build wraps each in a __name call)
    if (!('commit' in out && out.commit)) return this.answered(out, buf, p, client, port)
    const reply = out
    return this.afterCommit(from, client.mac, () => this.answered(reply, buf, p, client, port))
  }

  private accepted(): null {
    this.counters.accepted++
    return null
  }

  /** counts a reply that goes out, tells the listeners */
  private answered(out: Exclude<Outcome, { kind: 'drop' | 'accepted' }>, buf: Buffer, p: DhcpPacket, client: ClassifiedClient, port: PortKind): Transmission {
    this.counters.answered++
    this.counters[out.type]++
    if (this.events.listenerCount(out.type) > 0) {
      const ip = 'ip' in out ? out.ip : null
      this.events.emit(out.type, { ...this.eventBase(p, client, port), ip, bootFile: out.boot?.bootFile ?? null })
    }
    return { buf, dest: out.dest }
  }

  private eventBase(p: DhcpPacket, c: ClassifiedClient, port: PortKind): Omit<DhcpClientEvent, 'ip' | 'bootFile'> {
    return {
      mode: this.o.mode,
      port,
      mac: c.mac,
      class: c.class,
      arch: c.arch,
      xid: p.xid.toString(16).padStart(8, '0'),
      rpiSerial: c.rpi?.serial ?? null,
      rpiModel: c.rpi?.model ?? null,
      relay: p.giaddr === '0.0.0.0' ? null : p.giaddr,
    }
  }

  /**
   * Group commit: every caller resolves after a save that started after its change. Returns false
   * when the store failed (the caller must not acknowledge).
   */
  private commit(): Promise<boolean> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      if (!this.saving) this.saving = this.saveLoop()
    }).then(() => true, (err: unknown) => {
      this.o.logger.error({ err }, 'dhcp: saving the lease table failed')
      return false
    })
  }

  private async saveLoop(): Promise<void> {
    while (this.waiters.length > 0) {
      const batch = this.waiters
      this.waiters = []
      const table = this.full!.table
      const changes = table.takeChanges()
      try {
        await this.store.save(changes, () => table.all())
        for (const w of batch) w.resolve()
      } catch (err) {
        table.requeue(changes)
        for (const w of batch) w.reject(err)
      }
    }
    this.saving = null
  }

  /** Waits for pending lease writes. */
  async flush(): Promise<void> {
    while (this.saving) await this.saving
  }

  /** Waits for pending lease writes, then closes the lease store. */
  async close(): Promise<void> {
    await this.flush()
    await this.store.close?.()
  }
}
