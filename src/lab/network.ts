// The lab's network: one namespace holding a bridge and the guests' tap devices, and a second
// namespace for the server under test, joined to the bridge by a veth pair. Every device is made
// inside these namespaces (never in the host's), names carry a random id, and cleanup kills the
// processes started here (by PID) before deleting the namespaces, also after a failure.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'

const run = promisify(execFile)

async function ip(args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 15_000 })
  return stdout
}

export interface ServerAttachment {
  /** the server's namespace */
  ns: string
  /** its interface on the lab bridge */
  iface: string
  /** its IPv4 address on that interface */
  address: string
  prefixLength: number
}

export interface LabNetwork {
  id: string
  /** namespace holding the bridge and the taps; QEMU runs in it */
  ns: string
  bridge: string
  /** first three octets of the lab's /24 */
  subnet: string
  /** a new tap device in the lab namespace, enslaved to the bridge */
  addTap(): Promise<string>
  /** the server namespace with a veth on the bridge, addressed <subnet>.1 (made once) */
  attachServer(): Promise<ServerAttachment>
  /**
   * Plays the LAN's IPv6 router: router advertisements (dnsmasq, RA only, no addresses handed out)
   * for a ULA prefix on the bridge. Firmware such as iPXE otherwise waits ~13 s for IPv6
   * autoconfiguration on every DHCP attempt. Resolves when dnsmasq runs.
   */
  startRouterAdvertisements(): Promise<void>
  /** starts a process inside a namespace (via `ip netns exec`); killed by PID at cleanup */
  spawn(ns: string, argv: string[], opts?: SpawnOptions): ChildProcess
  /** runs a command inside a namespace to completion */
  exec(ns: string, argv: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>
  cleanup(): Promise<void>
}

const live = new Set<() => void>()
process.once('exit', () => { for (const f of live) f() })

export async function createLabNetwork(opts: { subnet?: string } = {}): Promise<LabNetwork> {
  const id = randomBytes(3).toString('hex')
  const ns = `blab-${id}`
  const srvNs = `blab-${id}-srv`
  const subnet = opts.subnet ?? '10.77.7'
  const bridge = 'br0'
  const namespaces: string[] = []
  const children = new Set<ChildProcess>()
  let taps = 0
  let server: ServerAttachment | null = null

  const killAll = async (): Promise<void> => {
    for (const c of children) { try { c.kill('SIGTERM') } catch { /* gone */ } }
    const deadline = Date.now() + 3000
    while (children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    for (const c of children) { try { c.kill('SIGKILL') } catch { /* gone */ } }
    const hard = Date.now() + 2000
    while (children.size > 0 && Date.now() < hard) await new Promise((r) => setTimeout(r, 50))
  }
  const syncCleanup = (): void => {
    for (const c of children) { try { c.kill('SIGKILL') } catch { /* gone */ } }
    for (const n of namespaces) { try { execFileSync('ip', ['netns', 'del', n]) } catch { /* gone */ } }
  }

  const net: LabNetwork = {
    id, ns, bridge, subnet,
    async addTap() {
      const tap = `tap${taps++}`
      await ip(['-n', ns, 'tuntap', 'add', tap, 'mode', 'tap'])
      await ip(['-n', ns, 'link', 'set', tap, 'master', bridge])
      await ip(['-n', ns, 'link', 'set', tap, 'up'])
      return tap
    },
    async attachServer() {
      if (server) return server
      await ip(['netns', 'add', srvNs])
      namespaces.push(srvNs)
      await ip(['-n', srvNs, 'link', 'set', 'lo', 'up'])
      await ip(['-n', ns, 'link', 'add', 'vsrv', 'type', 'veth', 'peer', 'name', 'lab0', 'netns', srvNs])
      await ip(['-n', ns, 'link', 'set', 'vsrv', 'master', bridge])
      await ip(['-n', ns, 'link', 'set', 'vsrv', 'up'])
      const address = `${subnet}.1`
      await ip(['-n', srvNs, 'addr', 'add', `${address}/24`, 'dev', 'lab0'])
      await ip(['-n', srvNs, 'link', 'set', 'lab0', 'up'])
      server = { ns: srvNs, iface: 'lab0', address, prefixLength: 24 }
      return server
    },
    async startRouterAdvertisements() {
      await ip(['-n', ns, 'addr', 'add', 'fd00:b007:1ab::1/64', 'dev', bridge, 'nodad'])
      const ra = net.spawn(ns, ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--group=root',
        `--interface=${bridge}`, '--bind-interfaces', '--enable-ra', '--dhcp-range=fd00:b007:1ab::,ra-only,64',
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
    spawn(inNs, argv, spawnOpts = {}) {
      // `ip netns exec` execs the command, so the child's PID is the command's own
      const child = spawn('ip', ['netns', 'exec', inNs, ...argv], { stdio: 'pipe', ...spawnOpts })
      children.add(child)
      child.on('exit', () => children.delete(child))
      child.on('error', () => children.delete(child))
      return child
    },
    async exec(inNs, argv, timeoutMs = 30_000) {
      return await new Promise((resolve) => {
        const child = net.spawn(inNs, argv)
        let stdout = ''
        let stderr = ''
        child.stdout!.on('data', (d) => { stdout += d })
        child.stderr!.on('data', (d) => { stderr += d })
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
        child.on('close', (code, signal) => {
          clearTimeout(timer)
          resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })
        })
      })
    },
    async cleanup() {
      live.delete(syncCleanup)
      await killAll()
      for (const n of [...namespaces].reverse()) {
        try { await ip(['netns', 'del', n]) } catch { /* already gone */ }
      }
      namespaces.length = 0
    },
  }
  live.add(syncCleanup)
  try {
    await ip(['netns', 'add', ns])
    namespaces.push(ns)
    await ip(['-n', ns, 'link', 'set', 'lo', 'up'])
    await ip(['-n', ns, 'link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'])
    await ip(['-n', ns, 'link', 'set', bridge, 'up'])
  } catch (err) {
    await net.cleanup()
    throw err
  }
  return net
}
