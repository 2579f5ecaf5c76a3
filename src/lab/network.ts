// The QEMU lab's network, on the one namespace builder (./netns.ts): the bridge namespace
// `blab-<id>` holds bridge br0 and the guests' tap devices; the server under test lives in
// `blab-<id>-srv`, joined to the bridge by a veth pair (lab0, <subnet>.1/24).
import { createLab, type Lab, type LabSpec } from './netns.js'

export interface ServerAttachment {
  /** the server's namespace */
  ns: string
  /** its interface on the lab bridge */
  iface: string
  /** its IPv4 address on that interface */
  address: string
  prefixLength: number
}

export interface LabNetwork extends Lab {
  /** namespace holding the bridge and the taps; QEMU runs in it (= bridgeNs) */
  ns: string
  /** the server namespace with a veth on the bridge, addressed <subnet>.1 (made once) */
  attachServer(): Promise<ServerAttachment>
  /**
   * Plays the LAN's IPv6 router: router advertisements (dnsmasq, RA only, no addresses handed out)
   * for a ULA prefix on the bridge. Firmware such as iPXE otherwise waits ~13 s for IPv6
   * autoconfiguration on every DHCP attempt. Resolves when dnsmasq runs.
   */
  startRouterAdvertisements(): Promise<void>
}

export async function createLabNetwork(opts: Pick<LabSpec, 'subnet' | 'prefix'> = {}): Promise<LabNetwork> {
  const lab = await createLab({ subnet: opts.subnet ?? '10.77.7', prefix: opts.prefix ?? 'blab' })
  let server: ServerAttachment | null = null
  return Object.assign(lab, {
    ns: lab.bridgeNs,
    async attachServer() {
      if (server) return server
      const h = await lab.addHost('srv', { octet: 1, ifname: 'lab0' })
      server = { ns: h.ns, iface: h.ifname, address: h.ip, prefixLength: h.prefixLength }
      return server
    },
    async startRouterAdvertisements() {
      const ns = lab.bridgeNs
      const r = await lab.exec(ns, ['ip', 'addr', 'add', 'fd00:b007:1ab::1/64', 'dev', lab.bridge, 'nodad'], { timeoutMs: 15_000 })
      if (r.code !== 0) throw new Error(`router advertisements: ${r.stderr}`)
      const ra = lab.spawn(ns, ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--group=root',
        `--interface=${lab.bridge}`, '--bind-interfaces', '--enable-ra', '--dhcp-range=fd00:b007:1ab::,ra-only,64',
        '--pid-file=', '--dhcp-leasefile=/dev/null', '--log-facility=-'])
      await new Promise<void>((resolve, reject) => {
        let out = ''
        const timer = setTimeout(() => reject(new Error(`router advertisements did not start: ${out}`)), 10_000)
        const onData = (d: Buffer): void => {
          out += d.toString()
          if (/router advertisement on|started, version/.test(out)) { clearTimeout(timer); resolve() }
        }
        ra.stdout!.on('data', onData)
        ra.stderr!.on('data', onData)
        ra.once('exit', (code) => { clearTimeout(timer); reject(new Error(`router advertisements: dnsmasq exited (${code}): ${out}`)) })
      })
    },
  })
}
