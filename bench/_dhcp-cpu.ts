// Server CPU per DORA at a fixed rate, bootlab (the DHCP test fixture, full mode, JSON lease file)
// and dnsmasq --no-ping, the same load as `npm run bench -- dhcp` (perfdhcp as a relay agent):
//   npx tsx bench/_dhcp-cpu.ts [runs=3] [rate=500] [clients=200] [--prof DIR] [--no-lease-file] [--only bootlab|dnsmasq] [--warm-up]
// CPU = user + system time of the server process from /proc/<pid>/stat across the perfdhcp run,
// divided by the ACKs perfdhcp received. --prof writes a V8 CPU profile of each bootlab run to DIR.
// --warm-up: before the measured run, 3 s of DORAs at 500/s from 200 other clients (other MACs), so the
// measurement sees a running server (JIT compiled) rather than one that just started.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLab, isRoot, type Lab } from '../src/lab/netns.js'
import { startFixture } from '../src/lab/fixture.js'
import { CLIENT_IP, SERVER_IP, perfdhcp, readdress, stopChild } from './dhcp.js'

const DHCP_FIXTURE = fileURLToPath(new URL('../test/dhcp/fixtures/server.ts', import.meta.url))
const TICK_S = 0.01 // USER_HZ

/** [user, system] CPU seconds of a process */
async function cpuSeconds(pid: number): Promise<[number, number]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return [Number(f[11]) * TICK_S, Number(f[12]) * TICK_S] // utime, stime (fields 14, 15)
}

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && ['--prof', '--only'].includes(args[i - 1]!)))
const runs = Number(positional[0] ?? 3)
const rate = Number(positional[1] ?? 500)
const clients = Number(positional[2] ?? 200)
const profDir = flag('--prof')
const only = flag('--only')
const leaseFile = !args.includes('--no-lease-file')
const warmUp = args.includes('--warm-up')

async function one(lab: Lab, dir: string, server: string, n: number): Promise<string> {
  let pid: number
  let stop: () => Promise<void>
  if (server === 'bootlab') {
    const opts = { interface: 'net0', mode: 'full', pools: [{ subnet: '10.78.0.0/16', start: '10.78.1.0', end: '10.78.255.254', leaseSeconds: 3600 }],
      ...(leaseFile ? { leaseFile: join(dir, `leases-${n}.json`) } : {}), events: false, limits: { ratePerClient: 1e6, rateTotal: 1e7 } }
    const node = [process.execPath, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), '--import', 'tsx']
    const srv = await startFixture(lab, 'srv', [...node, DHCP_FIXTURE, JSON.stringify(opts)])
    pid = srv.child.pid!
    stop = () => srv.stop()
  } else {
    const d = lab.spawn('srv', ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=net0', '--bind-interfaces',
      '--dhcp-range=10.78.1.0,10.78.255.254,255.255.0.0,1h', '--no-ping', `--dhcp-leasefile=${join(dir, `dnsmasq-${n}.leases`)}`,
      '--dhcp-lease-max=70000', '--user=root', '--group=root', '--quiet-dhcp'])
    pid = d.pid!
    stop = () => stopChild(d)
  }
  await new Promise((r) => setTimeout(r, 1000))
  if (warmUp) {
    await lab.exec('cli', ['perfdhcp', '-4', '-l', CLIENT_IP, '-r', '500', '-R', '200', '-p', '3', '-b', 'mac=00:0c:77:00:00:00', SERVER_IP], { timeoutMs: 30_000 })
  }
  const before = await cpuSeconds(pid)
  const r = await perfdhcp(lab, rate, clients)
  const after = await cpuSeconds(pid)
  await stop()
  const user = after[0] - before[0]
  const sys = after[1] - before[1]
  const cpu = user + sys
  return `${server.padEnd(8)} run ${n}: ${r.rate.toFixed(1)} DORA/s, ACKs ${r.raReceived}/${r.doSent}, CPU ${(cpu * 1000).toFixed(0)} ms (user ${(user * 1000).toFixed(0)}, sys ${(sys * 1000).toFixed(0)}) = ${((cpu / r.raReceived) * 1e6).toFixed(0)} µs/DORA`
}

if (!isRoot()) throw new Error('needs root (network namespaces)')
const lab = await createLab({ hosts: { srv: 1, cli: 2 } })
const dir = await mkdtemp(join(tmpdir(), 'bootlab-dhcp-cpu-'))
try {
  await readdress(lab)
  for (let i = 0; i < runs; i++) {
    for (const server of ['bootlab', 'dnsmasq']) {
      if (only && only !== server) continue
      console.log(await one(lab, dir, server, i))
    }
  }
} finally {
  await lab.cleanup()
  await rm(dir, { recursive: true, force: true })
}
