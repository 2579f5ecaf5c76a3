// The one namespace builder of the project (tests, benchmarks, the demo, the QEMU lab): a bridge
// namespace `<prefix>-<id>` holding one or more bridges and the guests' tap devices, and one
// namespace per host `<prefix>-<id>-<host>` joined to a bridge by a veth pair. Every device is made
// inside these namespaces, never in the host's; names carry a random id (parallel runs never
// collide). Processes started here run by PID inside a namespace (`ip netns exec` execs the
// command) and are killed by that PID at cleanup, before the namespaces are deleted: also when
// setup fails, when the process exits, and on SIGINT/SIGTERM (unless the program handles those
// signals itself and calls cleanup()). See docs/lab.md.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'

const run = promisify(execFile)

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

async function ip(args: string[], timeoutMs = 15_000): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: timeoutMs })
  return stdout
}

export interface LabHost {
  /** the host's name in the lab (key of Lab.hosts) */
  name: string
  /** its namespace */
  ns: string
  /** its interface on the bridge, inside the namespace */
  ifname: string
  /** IPv4 address without prefix; '' when the host has none (a DHCP client) */
  ip: string
  prefixLength: number
  mac: string
}

export interface HostOptions {
  /** last octet of the address in the lab's subnet; 0 or absent: no address */
  octet?: number
  /** interface name inside the namespace (default net0) */
  ifname?: string
  /** logical bridge name (default "main"); made on first use */
  bridge?: string
}

export interface ExecResult { code: number; stdout: string; stderr: string }

export interface Lab {
  id: string
  /** namespace holding the bridges and the taps (QEMU runs in it) */
  bridgeNs: string
  /** interface name of the main bridge inside bridgeNs */
  bridge: string
  /** first three octets of the lab's /24 */
  subnet: string
  /** every namespace of the lab, bridge namespace first */
  namespaces: string[]
  /** hosts by name; a second interface of host h is "h.net1" (same ns) */
  hosts: Record<string, LabHost>
  /** a new namespace `<prefix>-<id>-<name>` on a bridge (see HostOptions) */
  addHost(name: string, opts?: HostOptions): Promise<LabHost>
  /** N hosts `<base>0 … <base>N-1` with addresses <subnet>.<firstOctet + i> (or none when firstOctet is 0) */
  addHosts(base: string, count: number, opts?: HostOptions & { firstOctet?: number }): Promise<LabHost[]>
  /** a second interface of an existing host, on another (logical) bridge */
  addInterface(host: string, bridge: string, ip: string): Promise<LabHost>
  /** a tap device in the bridge namespace, enslaved to a bridge (default: main); name made up when absent */
  addTap(opts?: { name?: string; bridge?: string }): Promise<string>
  /** starts a process inside a host's namespace (host name or namespace name); killed by PID at cleanup */
  spawn(where: string, argv: string[], opts?: SpawnOptions): ChildProcess
  /** runs a command to completion inside a host's namespace; SIGKILLed after timeoutMs (default 60 s) */
  exec(where: string, argv: string[], opts?: { timeoutMs?: number; input?: string }): Promise<ExecResult>
  /** kills what spawn() started (SIGTERM, then SIGKILL), deletes the namespaces; safe to call twice */
  cleanup(): Promise<void>
}

export interface LabSpec {
  /** host name → last octet (<subnet>.<octet>/24, 0: no address); host names are short words */
  hosts?: Record<string, number>
  /** first three octets, e.g. "10.77.0" (default) */
  subnet?: string
  /** namespace name prefix (default "blt"): names are <prefix>-<id>[-<host>] */
  prefix?: string
}

// last resort when cleanup() did not run: synchronous, by PID and namespace name
const live = new Map<Lab, () => void>()
function removeAll(): void {
  for (const f of live.values()) f()
  live.clear()
}
let signalsTaken = 0
let armed = false
/**
 * The exit and signal hooks, installed when the first lab is created — not at import: a program
 * that only imports the lab (`bootlab serve` through the CLI's demo command) keeps its own
 * SIGTERM handling.
 */
function armHooks(): void {
  if (armed) return
  armed = true
  process.once('exit', removeAll)
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15]] as const) {
    process.on(sig, () => {
      if (signalsTaken > 0) return
      removeAll()
      process.exit(128 + n)
    })
  }
}

/**
 * For a program that handles SIGINT/SIGTERM itself (the demo: stops guests gracefully, then calls
 * cleanup()): the lab's own handler (kill by PID, delete the namespaces, exit 128+n) stands aside
 * until the returned function is called. The `exit` hook still removes what is left.
 */
export function takeOverSignals(): () => void {
  signalsTaken++
  let given = false
  return () => { if (!given) { given = true; signalsTaken-- } }
}

const NAME = /^[a-z][a-z0-9.-]{0,23}$/

export async function createLab(spec: LabSpec = {}): Promise<Lab> {
  armHooks()
  const id = randomBytes(3).toString('hex')
  const prefix = spec.prefix ?? 'blt'
  const subnet = spec.subnet ?? '10.77.0'
  const bridgeNs = `${prefix}-${id}`
  const hosts: Record<string, LabHost> = {}
  const children = new Set<ChildProcess>()
  const namespaces: string[] = []
  const bridges = new Map<string, string>() // logical name → ifname in bridgeNs
  let veths = 0
  let taps = 0

  const ensureBridge = async (name: string): Promise<string> => {
    const existing = bridges.get(name)
    if (existing) return existing
    const ifn = `br${bridges.size}`
    await ip(['-n', bridgeNs, 'link', 'add', ifn, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'])
    await ip(['-n', bridgeNs, 'link', 'set', ifn, 'up'])
    bridges.set(name, ifn)
    return ifn
  }

  const attach = async (name: string, ns: string, ifname: string, addr: string, bridge: string): Promise<LabHost> => {
    const br = await ensureBridge(bridge)
    const outer = `v${id}${veths++}`
    // created directly inside the namespaces: nothing ever appears in the host's namespace
    await ip(['-n', bridgeNs, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns])
    await ip(['-n', bridgeNs, 'link', 'set', outer, 'master', br])
    await ip(['-n', bridgeNs, 'link', 'set', outer, 'up'])
    if (addr) await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', ifname])
    await ip(['-n', ns, 'link', 'set', ifname, 'up'])
    const link = JSON.parse(await ip(['-j', '-n', ns, 'link', 'show', 'dev', ifname])) as { address: string }[]
    return { name, ns, ifname, ip: addr, prefixLength: 24, mac: link[0]!.address }
  }

  const nsOf = (where: string): string => {
    const h = hosts[where]
    if (h) return h.ns
    if (namespaces.includes(where)) return where
    throw new Error(`no host or namespace ${where} in lab ${id}`)
  }

  const syncCleanup = (): void => {
    for (const c of children) { try { c.kill('SIGKILL') } catch { /* gone */ } }
    for (const n of [...namespaces].reverse()) { try { execFileSync('ip', ['netns', 'del', n]) } catch { /* gone */ } }
    namespaces.length = 0
  }

  const waitChildren = async (ms: number): Promise<void> => {
    const deadline = Date.now() + ms
    while (children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  }

  const lab: Lab = {
    id, bridgeNs, bridge: 'br0', subnet, namespaces, hosts,
    async addHost(name, o = {}) {
      if (!NAME.test(name) || hosts[name]) throw new Error(`bad or duplicate host name ${name}`)
      const ns = `${bridgeNs}-${name}`
      await ip(['netns', 'add', ns])
      namespaces.push(ns)
      await ip(['-n', ns, 'link', 'set', 'lo', 'up'])
      const octet = o.octet ?? 0
      if (!Number.isInteger(octet) || octet < 0 || octet > 254) throw new Error(`bad octet ${octet}`)
      const h = await attach(name, ns, o.ifname ?? 'net0', octet > 0 ? `${subnet}.${octet}` : '', o.bridge ?? 'main')
      hosts[name] = h
      return h
    },
    async addHosts(base, count, o = {}) {
      const out: LabHost[] = []
      for (let i = 0; i < count; i++) {
        out.push(await lab.addHost(`${base}${i}`, { ...o, octet: o.firstOctet ? o.firstOctet + i : 0 }))
      }
      return out
    },
    async addInterface(host, bridge, addr) {
      const h = hosts[host]
      if (!h) throw new Error(`no host ${host}`)
      const n = Object.values(hosts).filter((x) => x.ns === h.ns).length
      const extra = await attach(`${host}.net${n}`, h.ns, `net${n}`, addr, bridge)
      hosts[extra.name] = extra
      return extra
    },
    async addTap(o = {}) {
      const br = await ensureBridge(o.bridge ?? 'main')
      const tap = o.name ?? `tap${taps++}`
      await ip(['-n', bridgeNs, 'tuntap', 'add', 'dev', tap, 'mode', 'tap'])
      await ip(['-n', bridgeNs, 'link', 'set', tap, 'master', br])
      await ip(['-n', bridgeNs, 'link', 'set', tap, 'up'])
      return tap
    },
    spawn(where, argv, opts = {}) {
      // `ip netns exec` execs the command, so the child's PID is the command's own
      const child = spawn('ip', ['netns', 'exec', nsOf(where), ...argv], { stdio: 'pipe', ...opts })
      children.add(child)
      child.on('exit', () => children.delete(child))
      child.on('error', () => children.delete(child))
      return child
    },
    async exec(where, argv, opts = {}) {
      const child = lab.spawn(where, argv, { stdio: ['pipe', 'pipe', 'pipe'] })
      return await new Promise((resolve) => {
        let stdout = ''
        let stderr = ''
        child.stdout!.on('data', (d) => { stdout += d })
        child.stderr!.on('data', (d) => { stderr += d })
        const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
        child.on('close', (code, signal) => {
          clearTimeout(timer)
          resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })
        })
        child.stdin!.on('error', () => { /* the command did not read its input */ })
        child.stdin!.end(opts.input)
      })
    },
    async cleanup() {
      live.delete(lab)
      for (const c of children) { try { c.kill('SIGTERM') } catch { /* gone */ } }
      await waitChildren(3000)
      for (const c of children) { try { c.kill('SIGKILL') } catch { /* gone */ } }
      await waitChildren(2000)
      for (const n of [...namespaces].reverse()) {
        try { await ip(['netns', 'del', n]) } catch { /* already gone */ }
      }
      namespaces.length = 0
    },
  }
  live.set(lab, syncCleanup)

  try {
    await ip(['netns', 'add', bridgeNs])
    namespaces.push(bridgeNs)
    await ip(['-n', bridgeNs, 'link', 'set', 'lo', 'up'])
    await ensureBridge('main')
    for (const [name, octet] of Object.entries(spec.hosts ?? {})) await lab.addHost(name, { octet })
  } catch (err) {
    await lab.cleanup()
    throw err
  }
  return lab
}
