// What `bootlab init` learns about the box: the LAN interface (the one the default route uses),
// its IPv4 address and prefix, and the router. Read with iproute2's JSON output.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface NetworkFacts {
  interface: string
  address: string
  prefix: number
  router: string | null
}

interface RouteJson { dst?: string; gateway?: string; dev?: string; metric?: number }
interface AddrJson { ifname?: string; addr_info?: Array<{ family?: string; local?: string; prefixlen?: number; scope?: string }> }

async function ipJson<T>(args: string[]): Promise<T> {
  const { stdout } = await run('ip', ['-j', ...args], { timeout: 10_000 })
  return JSON.parse(stdout || '[]') as T
}

/** The interface of the default route with the lowest metric (or `iface`), its address and the router. */
export async function detectNetwork(iface?: string): Promise<NetworkFacts> {
  const routes = await ipJson<RouteJson[]>(['-4', 'route', 'show', 'default'])
  const defaults = routes.filter((r) => r.dev && (!iface || r.dev === iface)).sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0))
  const dev = iface ?? defaults[0]?.dev
  if (!dev) throw new Error('no default route: give the LAN interface with --interface')
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(dev)) throw new Error(`unexpected interface name ${JSON.stringify(dev)}`)
  const addrs = await ipJson<AddrJson[]>(['-4', 'addr', 'show', 'dev', dev])
  const info = addrs.flatMap((a) => a.addr_info ?? []).find((a) => a.family === 'inet' && a.scope === 'global' && a.local)
  if (!info?.local) throw new Error(`${dev} has no IPv4 address`)
  return { interface: dev, address: info.local, prefix: info.prefixlen ?? 24, router: defaults.find((r) => r.dev === dev)?.gateway ?? null }
}
