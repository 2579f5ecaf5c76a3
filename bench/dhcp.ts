// `npm run bench -- dhcp`: full-mode DORA rate and latency, bootlab vs dnsmasq (--no-ping) in the same
// run with the same load generator (perfdhcp from Debian's kea-admin, acting as a relay agent), inside
// network namespaces on a /16 so the pool never runs dry. Latency percentiles come from a packet
// capture in the server's namespace (request in → reply out, matched by xid), the same for both.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createLab, isRoot, type Lab } from '../src/lab/netns.js'
import { startFixture, tsxArgv } from '../src/lab/fixture.js'
import { runLine } from './_machine.js'

/** the DHCP fixture server the netns tests use (src/lab/fixture.ts protocol) */
const DHCP_FIXTURE = fileURLToPath(new URL('../test/dhcp/fixtures/server.ts', import.meta.url))

export const SERVER_IP = '10.78.0.1'
export const CLIENT_IP = '10.78.0.2'
/** simulated client counts: a small lab, and a lease table big enough to show how each server scales */
const CLIENT_COUNTS = [200, 5000]
const SECONDS = 5
const FIXED_RATE = 500
const MAX_RATE = 20000
/** max-rate runs per server and client count, interleaved between the servers (one run moved ±30 %) */
const MAX_RUNS = 3
/** perfdhcp --scenario avalanche: every client's DISCOVER at once, then each retries until served */
const AVALANCHE_CLIENTS = 200
const AVALANCHE_RUNS = 5
/** bootlab's per-client and overall packet rates (its flood defence), lifted for the benchmark */
export const BENCH_LIMITS = { ratePerClient: 1_000_000, rateTotal: 10_000_000 }

export interface PerfResult {
  rate: number
  doSent: number
  doReceived: number
  raReceived: number
  avgDelayMs: number
}

interface Latency { p50: number; p99: number; n: number }

interface Row {
  server: string
  clients: number
  fixed: PerfResult
  latency: Latency
  /** the median (by rate) of MAX_RUNS interleaved max-rate runs, and all their rates */
  max: PerfResult
  maxRates: number[]
  /** server CPU (user + system) per completed DORA in the fixed-rate run, µs */
  cpuPerDoraUs: number
}

function num(text: string, re: RegExp): number {
  const m = re.exec(text)
  return m ? Number(m[1]) : NaN
}

export function parsePerfdhcp(out: string): PerfResult {
  const [doPart = '', raPart = ''] = out.split('***Statistics for: REQUEST-ACK***')
  return {
    rate: num(out, /Rate: ([\d.]+) 4-way exchanges\/second/),
    doSent: num(doPart, /sent packets: (\d+)/),
    doReceived: num(doPart, /received packets: (\d+)/),
    raReceived: num(raPart, /received packets: (\d+)/),
    avgDelayMs: (num(doPart, /avg delay: ([\d.]+) ms/) + num(raPart, /avg delay: ([\d.]+) ms/)),
  }
}

/** request→reply delays (ms) from a pcap of UDP port 67 traffic, matched by xid and message type */
export function pcapLatencies(pcap: Buffer): number[] {
  if (pcap.length < 24) return []
  const le = pcap.readUInt32LE(0) === 0xa1b2c3d4 || pcap.readUInt32LE(0) === 0xa1b23c4d
  const nano = pcap.readUInt32LE(0) === 0xa1b23c4d || pcap.readUInt32BE(0) === 0xa1b23c4d
  const u32 = (o: number): number => (le ? pcap.readUInt32LE(o) : pcap.readUInt32BE(o))
  const linktype = u32(20)
  const pending = new Map<string, number>()
  const out: number[] = []
  let off = 24
  while (off + 16 <= pcap.length) {
    const ts = u32(off) * 1000 + u32(off + 4) / (nano ? 1e6 : 1e3)
    const caplen = u32(off + 8)
    const frame = pcap.subarray(off + 16, off + 16 + caplen)
    off += 16 + caplen
    let ip = linktype === 1 ? 14 : linktype === 113 ? 16 : 0
    if (linktype === 1 && frame.readUInt16BE(12) !== 0x0800) continue
    if (frame.length < ip + 20) continue
    const ihl = (frame[ip]! & 0x0f) * 4
    ip += ihl
    const dhcp = ip + 8
    if (frame.length < dhcp + 244) continue
    const op = frame[dhcp]!
    const xid = frame.readUInt32BE(dhcp + 4)
    let type = 0
    for (let i = dhcp + 240; i + 2 < frame.length;) {
      const code = frame[i]!
      if (code === 0) { i++; continue }
      if (code === 255) break
      if (code === 53) { type = frame[i + 2]!; break }
      i += 2 + frame[i + 1]!
    }
    if (op === 1 && (type === 1 || type === 3)) pending.set(`${xid}:${type}`, ts)
    else if (op === 2 && (type === 2 || type === 5)) {
      const key = `${xid}:${type === 2 ? 1 : 3}`
      const t0 = pending.get(key)
      if (t0 !== undefined) { out.push(ts - t0); pending.delete(key) }
    }
  }
  return out
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export async function readdress(lab: Lab): Promise<void> {
  for (const [h, ip] of [['srv', `${SERVER_IP}/16`], ['cli', `${CLIENT_IP}/16`]] as const) {
    await lab.exec(h, ['ip', 'addr', 'flush', 'dev', 'net0'])
    const r = await lab.exec(h, ['ip', 'addr', 'add', ip, 'dev', 'net0'])
    if (r.code !== 0) throw new Error(r.stderr)
  }
}

export async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const done = new Promise((r) => c.once('exit', r))
  c.kill('SIGTERM')
  await Promise.race([done, new Promise((r) => setTimeout(r, 5000))])
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

/** a started server: its process id (for its CPU time) and how to stop it */
interface Started { pid: number; stop: () => Promise<void> }
export type Starter = () => Promise<Started>

const TICK_S = 0.01 // USER_HZ

/** [user, system] CPU seconds of a process, from /proc/<pid>/stat */
export async function cpuSeconds(pid: number): Promise<[number, number]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return [Number(f[11]) * TICK_S, Number(f[12]) * TICK_S] // utime, stime (fields 14, 15)
}

/**
 * A freshly started server first serves WARM_UP_SECONDS of DORAs at the fixed rate from 200 other
 * clients (another MAC range), so the measured run sees a running server: bootlab's JavaScript is
 * compiled by then (dnsmasq gets the same warm-up, and both then hold 200 more leases).
 */
const WARM_UP_SECONDS = 3
export async function warmUp(lab: Lab): Promise<void> {
  await lab.exec('cli', ['perfdhcp', '-4', '-l', CLIENT_IP, '-r', String(FIXED_RATE), '-R', '200', '-p', String(WARM_UP_SECONDS), '-b', 'mac=00:0c:77:00:00:00', SERVER_IP], { timeoutMs: (WARM_UP_SECONDS + 30) * 1000 })
}

export async function perfdhcp(lab: Lab, rate: number, clients: number): Promise<PerfResult> {
  const r = await lab.exec('cli', ['perfdhcp', '-4', '-l', CLIENT_IP, '-r', String(rate), '-R', String(clients), '-p', String(SECONDS), '-W', '500000', SERVER_IP], { timeoutMs: (SECONDS + 30) * 1000 })
  const res = parsePerfdhcp(r.stdout)
  if (Number.isNaN(res.rate)) throw new Error(`perfdhcp failed (${r.code}): ${r.stdout.slice(-500)} ${r.stderr.slice(-500)}`)
  return res
}

async function measure(lab: Lab, dir: string, name: string, clients: number, start: Starter): Promise<Omit<Row, 'max' | 'maxRates'>> {
  // fixed rate, with a capture for the latency distribution and the server's CPU time
  const srv = await start()
  await warmUp(lab)
  const pcapFile = join(dir, `${name.split(' ')[0]}-${clients}.pcap`)
  const cap = lab.spawn('srv', ['tcpdump', '-i', 'net0', '-n', '-B', '16384', '-s', '400', '-U', '-w', pcapFile, 'udp port 67'])
  await new Promise((r) => setTimeout(r, 1000))
  const cpu0 = await cpuSeconds(srv.pid)
  const fixed = await perfdhcp(lab, FIXED_RATE, clients)
  const cpu1 = await cpuSeconds(srv.pid)
  await new Promise((r) => setTimeout(r, 300))
  await stopChild(cap)
  await srv.stop()
  const delays = pcapLatencies(await readFile(pcapFile)).sort((a, b) => a - b)
  const latency = { p50: percentile(delays, 50), p99: percentile(delays, 99), n: delays.length }
  const cpuPerDoraUs = ((cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) / fixed.raReceived) * 1e6
  return { server: name, clients, fixed, latency, cpuPerDoraUs }
}

/** As fast as perfdhcp can go, against a fresh (warmed-up) server. */
async function maxRate(lab: Lab, clients: number, start: Starter): Promise<PerfResult> {
  const srv = await start()
  try {
    await warmUp(lab)
    return await perfdhcp(lab, MAX_RATE, clients)
  } finally {
    await srv.stop()
  }
}

/**
 * How to start each server in the lab's "srv" namespace, fresh each time (a new lease file).
 * `leaseFile: false` runs bootlab with its leases in memory; `nodeArgs` go to bootlab's Node.
 */
export function serverStarters(lab: Lab, dir: string, o: { leaseFile?: boolean; nodeArgs?: string[] } = {}): { bootlab: Starter; dnsmasq: Starter } {
  const pool = { subnet: '10.78.0.0/16', start: '10.78.1.0', end: '10.78.255.254', leaseSeconds: 3600 }
  let n = 0
  const bootlab: Starter = async () => {
    // the rate limits are bootlab's flood defence, not its speed: lifted here (dnsmasq has none)
    const opts = { interface: 'net0', mode: 'full', pools: [pool], ...(o.leaseFile === false ? {} : { leaseFile: join(dir, `leases-${n++}.json`) }), events: false, limits: BENCH_LIMITS }
    const argv = tsxArgv(DHCP_FIXTURE, JSON.stringify(opts))
    argv.splice(1, 0, ...(o.nodeArgs ?? []))
    const srv = await startFixture(lab, 'srv', argv)
    return { pid: srv.child.pid!, stop: () => srv.stop() }
  }
  const dnsmasq: Starter = async () => {
    const d = lab.spawn('srv', ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=net0', '--bind-interfaces',
      '--dhcp-range=10.78.1.0,10.78.255.254,255.255.0.0,1h', '--no-ping', `--dhcp-leasefile=${join(dir, `dnsmasq-${n++}.leases`)}`,
      '--dhcp-lease-max=70000', '--user=root', '--group=root', '--quiet-dhcp'])
    await new Promise((r) => setTimeout(r, 1000))
    return { pid: d.pid!, stop: () => stopChild(d) }
  }
  return { bootlab, dnsmasq }
}

export async function run(): Promise<string> {
  const started = new Date()
  if (!isRoot()) return '## DHCP\n\nSkipped: needs root (network namespaces).'
  const lab = await createLab({ hosts: { srv: 1, cli: 2 } })
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-bench-dhcp-'))
  try {
    await readdress(lab)
    const { bootlab, dnsmasq } = serverStarters(lab, dir)
    const rows: Row[] = []
    for (const clients of CLIENT_COUNTS) {
      const servers = [['bootlab', bootlab], ['dnsmasq --no-ping', dnsmasq]] as const
      const fixed = []
      for (const [name, start] of servers) fixed.push(await measure(lab, dir, name, clients, start))
      const runs: PerfResult[][] = servers.map(() => [])
      for (let i = 0; i < MAX_RUNS; i++) for (const [k, [, start]] of servers.entries()) runs[k]!.push(await maxRate(lab, clients, start))
      fixed.forEach((f, k) => {
        const byRate = [...runs[k]!].sort((a, b) => a.rate - b.rate)
        rows.push({ ...f, max: byRate[Math.floor(byRate.length / 2)]!, maxRates: runs[k]!.map((r) => r.rate) })
      })
    }
    const av = await avalanche(lab, { bootlab, 'dnsmasq --no-ping': dnsmasq })
    return `${report(rows, await runLine(started, 'npm run bench -- dhcp'))}\n${av}`
  } finally {
    await lab.cleanup()
    await rm(dir, { recursive: true, force: true })
  }
}

interface AvalancheRun { seconds: number; resent: number; rcvbufErrors: number }

/** UDP RcvbufErrors of the server's namespace (datagrams the kernel dropped: socket buffer full) */
async function rcvbufErrors(lab: Lab): Promise<number> {
  const r = await lab.exec('srv', ['cat', '/proc/net/snmp'])
  const [head, vals] = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'))
  const i = head?.split(/\s+/).indexOf('RcvbufErrors') ?? -1
  return i > 0 ? Number(vals?.split(/\s+/)[i]) : NaN
}

/** AVALANCHE_RUNS interleaved runs per server, each against a freshly started server */
async function avalanche(lab: Lab, starters: Record<string, Starter>): Promise<string> {
  const runs: Record<string, AvalancheRun[]> = Object.fromEntries(Object.keys(starters).map((k) => [k, []]))
  for (let i = 0; i < AVALANCHE_RUNS; i++) {
    for (const [name, start] of Object.entries(starters)) {
      const { stop } = await start()
      const before = await rcvbufErrors(lab)
      const r = await lab.exec('cli', ['perfdhcp', '-4', '-l', CLIENT_IP, '--scenario', 'avalanche', '-R', String(AVALANCHE_CLIENTS), SERVER_IP], { timeoutMs: 120_000 })
      const took = /It took (\d+):(\d+):([\d.]+) to provision/.exec(r.stdout)
      runs[name]!.push({
        seconds: took ? Number(took[1]) * 3600 + Number(took[2]) * 60 + Number(took[3]) : NaN,
        resent: num(r.stdout, /Requests resent: (\d+)/),
        rcvbufErrors: (await rcvbufErrors(lab)) - before,
      })
      await stop()
    }
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const lines = [
    `### Avalanche: ${AVALANCHE_CLIENTS} clients at once`,
    '',
    `perfdhcp \`--scenario avalanche -R ${AVALANCHE_CLIENTS}\`: all ${AVALANCHE_CLIENTS} DISCOVERs at once, then each client retries (with back-off) until its DORA is done;`,
    `time until all are provisioned. ${AVALANCHE_RUNS} interleaved runs, fresh server each; median (min–max). Kernel drops = UDP RcvbufErrors in the server's namespace during the run.`,
    '',
    '| server | seconds | requests resent | kernel drops (receive buffer full) |',
    '| --- | --- | --- | --- |',
  ]
  for (const [name, rs] of Object.entries(runs)) {
    const col = (k: keyof AvalancheRun, d: number): string => `${f(med(rs.map((x) => x[k])), d)} (${f(Math.min(...rs.map((x) => x[k])), d)}–${f(Math.max(...rs.map((x) => x[k])), d)})`
    lines.push(`| ${name} | ${col('seconds', 2)} | ${col('resent', 0)} | ${col('rcvbufErrors', 0)} |`)
  }
  const [b, d] = Object.values(runs)
  if (b && d) lines.push('', `Ratio bootlab / dnsmasq, median time to provision all: ${f(med(b.map((x) => x.seconds)) / med(d.map((x) => x.seconds)), 2)}× (lower is better).`)
  return lines.join('\n') + '\n'
}

function f(x: number, d = 1): string {
  return Number.isFinite(x) ? x.toFixed(d) : 'n/a'
}

function report(rows: Row[], when: string): string {
  const lines = [
    '## DHCP (full mode, DORA)',
    '',
    `${when}.`,
    '',
    `perfdhcp (kea-admin) as a relay agent, ${SECONDS} s per run, server and client in network namespaces on one bridge;`,
    'each server is started fresh (empty lease table) for each run and warmed up (below). Both servers make every lease durable before the ACK:',
    'bootlab appends the changed leases to its lease journal (one O_DSYNC write, several ACKs share it), dnsmasq rewrites and fsyncs its lease',
    'file. Latency = server-side time from request in to reply out, from a packet capture in the server namespace',
    `(DISCOVER→OFFER and REQUEST→ACK together), at a fixed ${FIXED_RATE} DORA/s; max rate = what perfdhcp completed when asked for ${MAX_RATE}/s, median (min–max) of ${MAX_RUNS} runs per server, interleaved.`,
    `Before each measured run the fresh server serves ${WARM_UP_SECONDS} s of DORAs at ${FIXED_RATE}/s from 200 other clients (a running server, not one that just`,
    'started). CPU = user + system time of the server process (/proc/<pid>/stat) over the fixed-rate run, per completed DORA.',
    "bootlab's rate limits (its flood defence; dnsmasq has none) are lifted for this benchmark.",
    '',
    `| clients | server | DORA/s at ${FIXED_RATE}/s | ACKs/DISCOVERs | p50 ms | p99 ms | perfdhcp avg RTT ms (D-O + R-A) | CPU µs/DORA at ${FIXED_RATE}/s | max DORA/s | ACKs/DISCOVERs at max |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.clients} | ${r.server} | ${f(r.fixed.rate)} | ${r.fixed.raReceived}/${r.fixed.doSent} | ${f(r.latency.p50, 3)} | ${f(r.latency.p99, 3)} | ${f(r.fixed.avgDelayMs, 3)} | ${f(r.cpuPerDoraUs, 0)} | ${f(r.max.rate)} (${f(Math.min(...r.maxRates))}–${f(Math.max(...r.maxRates))}) | ${r.max.raReceived}/${r.max.doSent} |`),
    '',
  ]
  for (const clients of CLIENT_COUNTS) {
    const b = rows.find((r) => r.clients === clients && r.server === 'bootlab')
    const d = rows.find((r) => r.clients === clients && r.server !== 'bootlab')
    if (!b || !d) continue
    lines.push(`Ratios bootlab / dnsmasq, ${clients} clients: max DORA rate ${f(b.max.rate / d.max.rate, 2)}× (higher is better); p99 latency ${f(b.latency.p99 / d.latency.p99, 2)}×, p50 ${f(b.latency.p50 / d.latency.p50, 2)}×, CPU per DORA ${f(b.cpuPerDoraUs / d.cpuPerDoraUs, 2)}× (lower is better).`, '')
  }
  return lines.join('\n')
}
