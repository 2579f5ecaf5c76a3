// The DHCP service: the engine on sockets bound to one interface (port 67, and the PXE boot-server
// port 4011 in proxy mode). start()/stop(), typed events, counters.
import { EventEmitter } from 'node:events'
import { networkInterfaces } from 'node:os'
import type { Logger } from '../log.js'
import type { DhcpLimits } from './guard.js'
import { DhcpEngine, type DhcpEvents, type DhcpMode, type DhcpStats, type PortKind, type Transmission } from './engine.js'
import { formatCidr, ipToInt, maskToPrefix, parseCidr } from '../net/ipv4.js'
import type { Lease, LeaseStore, PoolConfig } from './leases.js'
import type { DhcpPolicy } from './policy.js'
import { openInterfaceSocket, type InterfaceSocket } from './socket.js'

export interface DhcpServerOptions {
  /** the only interface bootlab listens and answers on */
  interface: string
  /** address clients are told (server id, TFTP server); default: the interface's first IPv4 address */
  serverAddress?: string
  mode: DhcpMode
  policy: DhcpPolicy
  /** full mode: at least one pool on the interface's subnet (others only with viaRelay) */
  pools?: PoolConfig[]
  /** full mode: where leases survive restarts (default: memory only) */
  leaseStore?: LeaseStore
  /** relays, rate limits, known_only, the unknown clients' share of the pool */
  limits?: Partial<DhcpLimits>
  logger: Logger
  /** default { dhcp: 67, pxe: 4011 }; pxe null = do not listen on the PXE port */
  ports?: { dhcp?: number; pxe?: number | null }
}

export interface InterfaceInfo {
  address: string
  subnet: string
}

/** The first IPv4 address of an interface and its subnet, as this process sees it. */
export function interfaceInfo(ifname: string): InterfaceInfo {
  const addrs = networkInterfaces()[ifname]
  const v4 = addrs?.find((a) => a.family === 'IPv4')
  if (!v4) throw new Error(`interface ${ifname} has no IPv4 address (or does not exist)`)
  const prefix = v4.cidr ? Number(v4.cidr.split('/')[1]) : maskToPrefix(v4.netmask)
  return { address: v4.address, subnet: formatCidr(parseCidr(`${v4.address}/${prefix}`)) }
}

export class DhcpServer extends EventEmitter<DhcpEvents> {
  private engine: DhcpEngine | null = null
  private sockets: InterfaceSocket[] = []
  private inflight = new Set<Promise<void>>()
  private running = false

  constructor(private readonly o: DhcpServerOptions) {
    super()
  }

  get address(): string | null {
    return this.engine ? this.serverAddress : null
  }

  /** 'device' when the native helper bound the sockets to the interface, 'address' in the fallback */
  get binding(): 'device' | 'address' | null {
    return this.sockets[0]?.binding ?? null
  }

  private serverAddress = ''

  async start(): Promise<void> {
    if (this.running) return
    const info = interfaceInfo(this.o.interface)
    this.serverAddress = this.o.serverAddress ?? info.address
    ipToInt(this.serverAddress)
    const engine = new DhcpEngine({
      mode: this.o.mode,
      serverAddress: this.serverAddress,
      interfaceSubnet: info.subnet,
      policy: this.o.policy,
      pools: this.o.pools,
      leaseStore: this.o.leaseStore,
      ...(this.o.limits ? { limits: this.o.limits } : {}),
      logger: this.o.logger,
      events: this,
    })
    await engine.load()
    this.engine = engine
    const dhcpPort = this.o.ports?.dhcp ?? 67
    const pxePort = this.o.ports?.pxe === undefined ? 4011 : this.o.ports.pxe
    const wanted: Array<[PortKind, number]> = [['dhcp', dhcpPort]]
    if (this.o.mode === 'proxy' && pxePort !== null) wanted.push(['pxe', pxePort])
    try {
      for (const [kind, port] of wanted) {
        const sock: InterfaceSocket = await openInterfaceSocket(this.o.interface, info.address, port, (msg, rinfo) => {
          this.receive(sock, kind, msg, rinfo) // rinfo has the address and port the engine needs
        }, this.o.logger)
        this.sockets.push(sock)
        if (sock.binding === 'address') engine.foreignFilter = parseCidr(info.subnet)
      }
    } catch (err) {
      await this.closeSockets()
      this.engine = null
      throw err
    }
    this.running = true
    this.o.logger.info({ interface: this.o.interface, mode: this.o.mode, server: this.serverAddress, binding: this.sockets[0]?.binding }, 'dhcp: listening')
  }

  private receive(sock: InterfaceSocket, kind: PortKind, msg: Buffer, src: { address: string; port: number }): void {
    const engine = this.engine
    if (!engine) return
    const out = engine.handle(msg, src, kind)
    if (!(out instanceof Promise)) {
      if (out) this.transmit(sock, engine, out)
      return
    }
    // an ACK waiting for its lease to be written
    const job = out.then((tx) => { if (tx) this.transmit(sock, engine, tx) })
    this.inflight.add(job)
    void job.finally(() => this.inflight.delete(job))
  }

  private transmit(sock: InterfaceSocket, engine: DhcpEngine, tx: Transmission): void {
    if (!this.running) return
    sock.send(tx.buf, tx.dest.port, tx.dest.address, (err) => {
      if (!err) return
      this.o.logger.warn({ err, dest: tx.dest }, 'dhcp: send failed')
      engine.sendFailed()
    })
  }

  private async closeSockets(): Promise<void> {
    const socks = this.sockets
    this.sockets = []
    await Promise.all(socks.map((s) => s.close()))
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    await this.closeSockets()
    await Promise.allSettled([...this.inflight])
    await this.engine?.close()
    this.o.logger.info({ interface: this.o.interface }, 'dhcp: stopped')
  }

  stats(): DhcpStats {
    return this.engine ? this.engine.stats() : { received: 0, answered: 0, accepted: 0, dropped: {}, sent: { offer: 0, ack: 0, nak: 0 }, sendFailed: 0, leases: 0 }
  }

  leases(): Lease[] {
    return this.engine ? this.engine.leases() : []
  }
}
