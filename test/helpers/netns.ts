// Test hosts in network namespaces this test creates itself: never the host's own interfaces.
// Every namespace, bridge and process made here is removed in teardown, also when the test fails.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'

const run = promisify(execFile)

export interface Host {
  /** namespace name */
  ns: string
  /** interface name inside the namespace */
  ifname: string
  /** IPv4 address without prefix */
  ip: string
  mac: string
}

export interface Lab {
  id: string
  /** every namespace of the lab (hosts and the bridge) */
  namespaces: string[]
  hosts: Record<string, Host>
  /** run a command to completion inside a host's namespace */
  exec(host: string, argv: string[], opts?: { timeoutMs?: number; input?: string }): Promise<{ code: number; stdout: string; stderr: string }>
  /** start a long-running process inside a host's namespace; it is killed (by PID) at cleanup */
  spawn(host: string, argv: string[], opts?: SpawnOptions): ChildProcess
  /** add a second interface to a host on its own bridge (for interface-discipline tests) */
  addInterface(host: string, bridgeName: string, ip: string): Promise<Host>
  cleanup(): Promise<void>
}

export interface LabSpec {
  /** host name → last octet (address is <subnet>.<octet>/24); host names are short words */
  hosts: Record<string, number>
  /** first three octets, e.g. "10.77.0" */
  subnet?: string
  /** names of extra interfaces are net1, net2 … */
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

async function sh(argv: string[], timeoutMs = 15000): Promise<string> {
  const [cmd, ...args] = argv
  const { stdout } = await run(cmd!, args, { timeout: timeoutMs })
  return stdout
}

const live = new Set<Lab>()
function removeAll(): void {
  // last resort if teardown did not run: synchronous best effort
  for (const lab of live) {
    for (const ns of lab.namespaces) {
      try { execFileSync('ip', ['netns', 'del', ns]) } catch { /* gone */ }
    }
  }
  live.clear()
}
process.once('exit', removeAll)
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => { removeAll(); process.exit(128 + (sig === 'SIGTERM' ? 15 : 2)) })
}

/**
 * Creates one namespace per host plus a bridge namespace, all joined on one bridge.
 * Names carry a random id so parallel test files never collide.
 */
export async function createLab(spec: LabSpec): Promise<Lab> {
  const id = randomBytes(3).toString('hex')
  const subnet = spec.subnet ?? '10.77.0'
  const brNs = `blt-${id}-br`
  const hosts: Record<string, Host> = {}
  const children = new Set<ChildProcess>()
  const namespaces: string[] = [brNs]
  const bridges = new Map<string, string>() // logical name → bridge ifname in brNs
  let vethCount = 0

  const ensureBridge = async (name: string): Promise<string> => {
    const existing = bridges.get(name)
    if (existing) return existing
    const ifn = `br${bridges.size}`
    await sh(['ip', '-n', brNs, 'link', 'add', ifn, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'])
    await sh(['ip', '-n', brNs, 'link', 'set', ifn, 'up'])
    bridges.set(name, ifn)
    return ifn
  }

  const attach = async (ns: string, ifname: string, ip: string, bridge: string): Promise<Host> => {
    const br = await ensureBridge(bridge)
    const outer = `v${id}${vethCount++}`
    // created directly inside the namespaces: nothing ever appears in the host's namespace
    await sh(['ip', '-n', brNs, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns])
    await sh(['ip', '-n', brNs, 'link', 'set', outer, 'master', br])
    await sh(['ip', '-n', brNs, 'link', 'set', outer, 'up'])
    if (ip) await sh(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', ifname])
    await sh(['ip', '-n', ns, 'link', 'set', ifname, 'up'])
    const mac = (await sh(['ip', 'netns', 'exec', ns, 'cat', `/sys/class/net/${ifname}/address`])).trim()
    return { ns, ifname, ip, mac }
  }

  const lab: Lab = {
    id,
    namespaces,
    hosts,
    async exec(host, argv, opts = {}) {
      const h = hosts[host]
      if (!h) throw new Error(`no host ${host}`)
      return await new Promise((resolve) => {
        const child = spawn('ip', ['netns', 'exec', h.ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
        children.add(child)
        let stdout = ''
        let stderr = ''
        child.stdout!.on('data', (d) => { stdout += d })
        child.stderr!.on('data', (d) => { stderr += d })
        const timer = setTimeout(() => { child.kill('SIGKILL') }, opts.timeoutMs ?? 60000)
        child.on('close', (code, signal) => {
          clearTimeout(timer)
          children.delete(child)
          resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })
        })
        if (opts.input !== undefined) child.stdin!.end(opts.input)
        else child.stdin!.end()
      })
    },
    spawn(host, argv, opts = {}) {
      const h = hosts[host]
      if (!h) throw new Error(`no host ${host}`)
      const child = spawn('ip', ['netns', 'exec', h.ns, ...argv], { stdio: 'pipe', ...opts })
      children.add(child)
      child.on('exit', () => children.delete(child))
      return child
    },
    async addInterface(host, bridge, ip) {
      const h = hosts[host]
      if (!h) throw new Error(`no host ${host}`)
      const n = Object.values(hosts).filter((x) => x.ns === h.ns).length
      const extra = await attach(h.ns, `net${n}`, ip, bridge)
      hosts[`${host}.net${n}`] = extra
      return extra
    },
    async cleanup() {
      live.delete(lab)
      for (const c of children) {
        // `ip netns exec` execs the command, so this PID is the command itself
        try { c.kill('SIGTERM') } catch { /* gone */ }
      }
      const deadline = Date.now() + 3000
      while (children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      for (const c of children) { try { c.kill('SIGKILL') } catch { /* gone */ } }
      for (const ns of namespaces) {
        try { await sh(['ip', 'netns', 'del', ns]) } catch { /* already gone */ }
      }
    },
  }
  live.add(lab)

  try {
    await sh(['ip', 'netns', 'add', brNs])
    for (const [name, octet] of Object.entries(spec.hosts)) {
      const ns = `blt-${id}-${name}`
      await sh(['ip', 'netns', 'add', ns])
      namespaces.push(ns)
      await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
      hosts[name] = await attach(ns, 'net0', octet > 0 ? `${subnet}.${octet}` : '', 'main')
    }
  } catch (err) {
    await lab.cleanup()
    throw err
  }
  return lab
}
