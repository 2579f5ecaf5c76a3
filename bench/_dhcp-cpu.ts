// Server CPU per DORA at a fixed rate, bootlab (the DHCP test fixture, full mode, JSON lease file)
// and dnsmasq --no-ping, the same load as `npm run bench -- dhcp` (perfdhcp as a relay agent):
//   npx tsx bench/_dhcp-cpu.ts [runs=3] [rate=500] [clients=200] [--prof DIR] [--no-lease-file] [--only bootlab|dnsmasq] [--warm-up]
// CPU = user + system time of the server process from /proc/<pid>/stat across the perfdhcp run,
// divided by the ACKs perfdhcp received. --prof writes a V8 CPU profile of each bootlab run to DIR.
// --warm-up: first the warm-up of `npm run bench -- dhcp` (a running server, not one that just started).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLab, isRoot, type Lab } from '../src/lab/netns.js'
import { cpuSeconds, perfdhcp, readdress, serverStarters, warmUp, type Starter } from './dhcp.js'

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined }
const positional = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && ['--prof', '--only'].includes(args[i - 1]!)))
const runs = Number(positional[0] ?? 3)
const rate = Number(positional[1] ?? 500)
const clients = Number(positional[2] ?? 200)
const profDir = flag('--prof')
const only = flag('--only')
const leaseFile = !args.includes('--no-lease-file')
const warm = args.includes('--warm-up')

async function one(start: Starter, lab: Lab, server: string, n: number): Promise<string> {
  const srv = await start()
  if (warm) await warmUp(lab)
  const before = await cpuSeconds(srv.pid)
  const r = await perfdhcp(lab, rate, clients)
  const after = await cpuSeconds(srv.pid)
  await srv.stop()
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
  const starters = serverStarters(lab, dir, { leaseFile, ...(profDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {}) })
  for (let i = 0; i < runs; i++) {
    for (const server of ['bootlab', 'dnsmasq'] as const) {
      if (only && only !== server) continue
      console.log(await one(starters[server], lab, server, i))
    }
  }
} finally {
  await lab.cleanup()
  await rm(dir, { recursive: true, force: true })
}
