// `npm run bench -- idle`: idle memory of `bootlab serve`, started exactly as deploy/bootlab.service
// starts it (the node flags and Environment= of its ExecStart, the compiled dist/ that
// bin/bootlab.js runs), with examples/bootlab.yaml (full and proxy DHCP), against dnsmasq (DHCP +
// TFTP) + nginx (HTTP) in the same run: each serves one small boot (a DHCP exchange with busybox
// udhcpc, one TFTP file with curl, one HTTP request with curl), then idles; RSS and PSS are read
// from /proc. See docs/bench.md.
import { execFile } from 'node:child_process'
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createInterface } from 'node:readline'
import type { ChildProcess } from 'node:child_process'
import { parseDocument } from 'yaml'
import { createLab, isRoot, type Lab } from '../src/lab/netns.js'
import { until } from '../src/lab/fixture.js'
import { writeNginxConfig } from './storm/servers.js'
import { machineLine } from './_machine.js'

const sh = promisify(execFile)
const repo = fileURLToPath(new URL('..', import.meta.url))
const UNIT = join(repo, 'deploy', 'bootlab.service')
const SUBNET = '10.83.0'
const SERVER = `${SUBNET}.1`
const IFACE = 'lab0'
const PORT = 8080
const POOL = { start: `${SUBNET}.100`, end: `${SUBNET}.150` }
/** what the client fetches over TFTP: the BIOS iPXE loader bootlab names (src/dhcp/policy.ts) */
const LOADER = 'ipxe/undionly.kpxe'
const IDLE_MS = Number(process.env.BOOTLAB_IDLE_MS ?? 20_000)
/** small boots served before idling (more: the CPU column compares node flags on the hot paths) */
const BOOTS = Math.min(Math.max(Number(process.env.BOOTLAB_IDLE_BOOTS ?? 1) || 1, 1), 200)
const LOADER_BYTES = 1_000_000
/** each server is started, booted and measured this many times per mode, alternating (the median is reported) */
const RUNS = Math.min(Math.max(Number(process.env.BOOTLAB_IDLE_RUNS ?? 3) || 3, 1), 9)
/** the whole area gives up after this */
const LIMIT_MS = 15 * 60_000

type Mode = 'full' | 'proxy'

/** node flags and environment of the systemd unit's ExecStart (the bench runs bootlab with exactly these) */
export async function unitCommand(unitFile = UNIT): Promise<{ nodeFlags: string[]; env: Record<string, string>; args: string[] }> {
  const text = await readFile(unitFile, 'utf8')
  const exec = /^ExecStart=(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/)
  const bin = exec?.findIndex((w) => w.endsWith('/bin/bootlab.js')) ?? -1
  if (!exec || bin < 1) throw new Error(`${unitFile}: no ExecStart=… node … bin/bootlab.js line`)
  const env: Record<string, string> = {}
  for (const m of text.matchAll(/^Environment=(.+)$/gm)) {
    for (const kv of m[1]!.trim().split(/\s+/)) {
      const i = kv.indexOf('=')
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1).replace(/^"|"$/g, '')
    }
  }
  return { nodeFlags: exec.slice(1, bin), env, args: exec.slice(bin + 1) }
}

export interface Memory { rssKb: number; pssKb: number | null; anonKb: number | null }

/** VmRSS, and Pss/Anonymous from smaps_rollup (summed over the PIDs) */
export async function memoryOf(pids: number[]): Promise<Memory> {
  let rssKb = 0
  let pssKb: number | null = 0
  let anonKb: number | null = 0
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    rssKb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
    const roll = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '')
    const pss = /^Pss:\s+(\d+)/m.exec(roll)?.[1]
    const anon = /^Anonymous:\s+(\d+)/m.exec(roll)?.[1]
    pssKb = pss === undefined || pssKb === null ? null : pssKb + Number(pss)
    anonKb = anon === undefined || anonKb === null ? null : anonKb + Number(anon)
  }
  return { rssKb, pssKb, anonKb }
}

async function children(pid: number): Promise<number[]> {
  const t = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  return t.trim().split(/\s+/).filter(Boolean).map(Number)
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const exited = new Promise<void>((r) => c.once('exit', () => r()))
  c.kill('SIGTERM')
  const t = setTimeout(() => c.kill('SIGKILL'), 6000)
  await exited
  clearTimeout(t)
}

/** keeps the last lines of a child's output (and drains its pipes) */
function tail(c: ChildProcess, onLine?: (l: string) => void): () => string {
  let log = ''
  for (const s of [c.stdout, c.stderr]) {
    if (s) createInterface({ input: s }).on('line', (l) => { log = (log + l + '\n').slice(-8000); onLine?.(l) })
  }
  return () => log
}

/** examples/bootlab.yaml, pointed at the lab: interface, state, files; `mode` DHCP */
async function bootlabConfig(dir: string, mode: Mode): Promise<string> {
  const doc = parseDocument(await readFile(join(repo, 'examples', 'bootlab.yaml'), 'utf8'))
  doc.setIn(['server', 'interface'], IFACE)
  doc.setIn(['server', 'state_dir'], join(dir, 'state'))
  doc.setIn(['server', 'paths'], doc.createNode({ images: join(dir, 'images'), firmware: join(dir, 'firmware'), tftproot: join(dir, 'tftproot') }))
  doc.setIn(['server', 'dhcp', 'mode'], mode)
  if (mode === 'full') {
    doc.setIn(['server', 'dhcp', 'pool'], `${POOL.start}-${POOL.end}`)
    doc.setIn(['server', 'dhcp', 'router'], SERVER)
  }
  const file = join(dir, 'bootlab.yaml')
  await writeFile(file, doc.toString())
  await copyFile(join(repo, 'examples', 'rack.secret'), join(dir, 'rack.secret'))
  await cp(join(repo, 'examples', 'profiles'), join(dir, 'profiles'), { recursive: true })
  return file
}

interface Measured { label: string; mem: Memory; pids: number; boot: string; cpuMs: number }

/** one small boot from the `cli` namespace: DHCP (udhcpc as a BIOS PXE client), TFTP, HTTP */
async function smallBoot(lab: Lab, mode: Mode, httpPath: string): Promise<string> {
  const mac = lab.hosts.cli!.mac
  // full: a lease (-n: exit 1 without one); proxy: bootlab/dnsmasq answer with boot data only,
  // which udhcpc does not take as a lease, so the exchange is checked by the servers' answer
  const dhcp = await lab.exec('cli', ['busybox', 'udhcpc', '-i', 'net0', '-n', '-q', '-f', '-s', '/bin/true', '-t', '3', '-T', '2',
    '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000'], { timeoutMs: 20_000 })
  if (mode === 'full' && dhcp.code !== 0) throw new Error(`udhcpc got no lease: ${dhcp.stderr}`)
  const tftp = await lab.exec('cli', ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{size_download}', `tftp://${SERVER}/${LOADER}`], { timeoutMs: 15_000 })
  if (tftp.code !== 0) throw new Error(`TFTP ${LOADER}: ${tftp.stderr}`)
  const http = await lab.exec('cli', ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${SERVER}:${PORT}${httpPath.replace('@MAC@', mac)}`], { timeoutMs: 15_000 })
  if (http.code !== 0 || http.stdout !== '200') throw new Error(`HTTP ${httpPath}: ${http.stdout} ${http.stderr}`)
  return `udhcpc exit ${dhcp.code}, TFTP ${tftp.stdout} B, HTTP ${http.stdout}`
}

/** user + system CPU time of the processes, in ms */
async function cpuMs(pids: number[]): Promise<number> {
  let ticks = 0
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(f[11]) + Number(f[12])
  }
  return ticks * 10
}

/** BOOTS small boots; returns the last one's summary and the servers' CPU time they took */
async function boots(lab: Lab, mode: Mode, httpPath: string, pids: () => Promise<number[]>): Promise<{ boot: string; cpuMs: number }> {
  const c0 = await cpuMs(await pids())
  let boot = ''
  for (let i = 0; i < BOOTS; i++) boot = await smallBoot(lab, mode, httpPath)
  return { boot, cpuMs: (await cpuMs(await pids())) - c0 }
}

async function idleThenMeasure(pids: () => Promise<number[]>): Promise<{ mem: Memory; n: number }> {
  await new Promise((r) => setTimeout(r, IDLE_MS))
  const p = await pids()
  return { mem: await memoryOf(p), n: p.length }
}

async function measureBootlab(lab: Lab, dir: string, mode: Mode): Promise<Measured> {
  const { nodeFlags, env, args } = await unitCommand()
  const config = await bootlabConfig(join(dir, `bootlab-${mode}`), mode)
  const cliArgs = args.map((a) => (a === '/etc/bootlab/bootlab.yaml' ? config : a))
  const child = lab.spawn('srv', [process.execPath, ...nodeFlags, join(repo, 'bin', 'bootlab.js'), ...cliArgs], { env: { ...process.env, ...env, BOOTLAB_FROM_SOURCE: '' } })
  let up = false
  const log = tail(child, (l) => { if (/bootlab running/.test(l)) up = true })
  try {
    await until(() => (up ? true : child.exitCode !== null ? Promise.reject(new Error(`bootlab exited ${child.exitCode}:\n${log()}`)) : undefined), 30_000, 'bootlab running')
    const { boot, cpuMs } = await boots(lab, mode, '/boot.ipxe?mac=@MAC@&buildarch=i386&platform=pcbios', async () => [child.pid!])
    const health = await lab.exec('cli', ['curl', '-sS', '--max-time', '5', `http://${SERVER}:${PORT}/healthz`])
    const answered = Number((JSON.parse(health.stdout) as { dhcp?: { stats?: { answered?: number } } }).dhcp?.stats?.answered ?? 0)
    if (answered < 1) throw new Error(`bootlab answered no DHCP packet (${boot})`)
    const m = await idleThenMeasure(async () => [child.pid!])
    return { label: `bootlab, ${mode} DHCP`, mem: m.mem, pids: m.n, boot: `${boot}, ${answered} DHCP answer(s)`, cpuMs }
  } finally {
    await stop(child)
  }
}

async function measureReference(lab: Lab, dir: string, mode: Mode): Promise<Measured> {
  const d = join(dir, `reference-${mode}`)
  await mkdir(join(d, 'tftp', 'ipxe'), { recursive: true })
  await copyFile(join(dir, 'loader'), join(d, 'tftp', LOADER))
  await mkdir(join(d, 'www'), { recursive: true })
  await writeFile(join(d, 'www', 'boot.ipxe'), '#!ipxe\nsanboot --no-describe --drive 0x80\n')
  // nginx's default: one worker
  const nginx = lab.spawn('srv', ['nginx', '-c', await writeNginxConfig(d, join(d, 'www'), `${SERVER}:${PORT}`, 1), '-g', 'user root;'])
  const dhcp = mode === 'full'
    ? [`--dhcp-range=${POOL.start},${POOL.end},255.255.255.0,1h`, '--dhcp-authoritative', `--dhcp-option=option:router,${SERVER}`, `--dhcp-boot=${LOADER}`]
    : [`--dhcp-range=${SUBNET}.0,proxy`, `--pxe-service=x86PC,iPXE,${LOADER.replace(/\.kpxe$/, '')}`]
  const dnsmasq = lab.spawn('srv', ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', `--interface=${IFACE}`, '--bind-interfaces', '--no-ping',
    `--dhcp-leasefile=${join(d, 'dnsmasq.leases')}`, ...dhcp, '--enable-tftp', `--tftp-root=${join(d, 'tftp')}`, '--log-facility=-',
    '--user=root', '--group=root', `--pid-file=${join(d, 'dnsmasq.pid')}`])
  const logs = [tail(nginx), tail(dnsmasq)]
  try {
    await until(async () => {
      if (nginx.exitCode !== null || dnsmasq.exitCode !== null) throw new Error(`reference servers exited:\n${logs.map((l) => l()).join('\n')}`)
      const udp = await lab.exec('srv', ['ss', '-ulnH', 'sport = :69'])
      const tcp = await lab.exec('srv', ['ss', '-tlnH', `sport = :${PORT}`])
      return udp.stdout.trim() && tcp.stdout.trim() ? true : undefined
    }, 30_000, 'dnsmasq and nginx listening')
    const pids = async (): Promise<number[]> => [dnsmasq.pid!, nginx.pid!, ...(await children(nginx.pid!))]
    const { boot, cpuMs } = await boots(lab, mode, '/boot.ipxe', pids)
    const m = await idleThenMeasure(pids)
    return { label: `dnsmasq + nginx, ${mode} DHCP`, mem: m.mem, pids: m.n, boot, cpuMs }
  } finally {
    await Promise.all([stop(dnsmasq), stop(nginx)])
  }
}

const mib = (kb: number | null): string => (kb === null ? 'n/a' : (kb / 1024).toFixed(1))
const ratio = (a: number | null, b: number | null): string => (a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`)
function median(xs: Array<number | null>): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b)
  return v.length === 0 || v.length < xs.length ? null : v[Math.floor(v.length / 2)]!
}
/** "median (min–max)" of one figure over the runs, in MiB */
function cell(ms: Measured[], f: (m: Memory) => number | null): string {
  if (ms.length === 0) return 'not measured'
  const xs = ms.map((m) => f(m.mem))
  const med = median(xs)
  if (med === null || ms.length === 1) return mib(med)
  const v = xs as number[]
  return `${mib(med)} (${mib(Math.min(...v))}–${mib(Math.max(...v))})`
}

export async function run(args: string[] = []): Promise<string> {
  // `idle bootlab`: bootlab only (for trying flags; the table then has no reference)
  const withReference = args[0] !== 'bootlab'
  if (!isRoot()) return '## Idle memory\n\nSkipped: needs root (network namespaces).\n'
  const started = new Date()
  // the unit runs the compiled dist/ (bin/bootlab.js falls back to tsx without it): build it,
  // and the native helpers, as the install does (README "Install as a service")
  await sh('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo, timeout: 180_000 })
  await sh(process.execPath, [join(repo, 'native', 'build.mjs')], { cwd: repo, timeout: 180_000 })
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-idle-'))
  const lab = await createLab({ subnet: SUBNET, prefix: 'bid' })
  let timer: NodeJS.Timeout | undefined
  const rows: Array<{ mode: Mode; bootlab: Measured[]; reference: Measured[] }> = []
  try {
    await lab.addHost('srv', { octet: 1, ifname: IFACE })
    await lab.addHost('cli', { octet: 2 })
    const loader = randomBytes(LOADER_BYTES)
    await writeFile(join(dir, 'loader'), loader)
    for (const mode of ['full', 'proxy'] as const) {
      await mkdir(join(dir, `bootlab-${mode}`, 'firmware', 'ipxe'), { recursive: true })
      await copyFile(join(dir, 'loader'), join(dir, `bootlab-${mode}`, 'firmware', LOADER))
    }
    const work = (async () => {
      for (const mode of ['full', 'proxy'] as const) {
        const row = { mode, bootlab: [] as Measured[], reference: [] as Measured[] }
        rows.push(row)
        for (let i = 0; i < RUNS; i++) {
          const b = await measureBootlab(lab, dir, mode)
          console.error(`idle: ${b.label}: RSS ${mib(b.mem.rssKb)} MiB, CPU ${b.cpuMs} ms for ${BOOTS} boot(s) (${b.boot})`)
          row.bootlab.push(b)
          await lab.exec('srv', ['ip', 'neigh', 'flush', 'all'])
          if (!withReference) continue
          const r = await measureReference(lab, dir, mode)
          console.error(`idle: ${r.label}: RSS ${mib(r.mem.rssKb)} MiB, CPU ${r.cpuMs} ms for ${BOOTS} boot(s) (${r.boot})`)
          row.reference.push(r)
          await lab.exec('srv', ['ip', 'neigh', 'flush', 'all'])
        }
      }
    })()
    const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`idle bench: over ${LIMIT_MS / 1000} s`)), LIMIT_MS) })
    await Promise.race([work, limit])
  } finally {
    clearTimeout(timer)
    await lab.cleanup()
    await rm(dir, { recursive: true, force: true })
  }
  const { nodeFlags, env } = await unitCommand()
  const cmd = `${Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')}node ${nodeFlags.join(' ')} bin/bootlab.js serve --config bootlab.yaml`.replace(/\s+/g, ' ')
  const [dnsV, nginxV] = await Promise.all([
    sh('dnsmasq', ['--version']).then((r) => r.stdout.split('\n')[0]!.replace(/\s+Copyright.*/, '')),
    sh('nginx', ['-v']).then((r) => r.stderr.trim().replace('nginx version: ', '')),
  ])
  return [
    '## Idle memory',
    '',
    `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${await machineLine()}; \`npm run bench -- idle\`. bootlab runs as deploy/bootlab.service runs it: \`${cmd}\` (the compiled dist/, the unit's node flags and Environment=), with examples/bootlab.yaml (its switches, profiles and machines; interface, state and file folders pointed at the bench's namespace; DHCP mode full with a pool, or proxy). References: ${dnsV} (DHCP + TFTP) and nginx ${nginxV} (HTTP, its default single worker). Each server, in turn, serves one small boot from a client namespace (busybox udhcpc as a BIOS PXE client, a 1 MB \`${LOADER}\` over TFTP with curl, the iPXE boot script over HTTP), ${RUNS} time${RUNS > 1 ? 's, alternating with the other server; cells are the median (min–max) of the runs' : ''}${BOOTS > 1 ? `; each run serves ${BOOTS} boots (CPU: the servers' user + system time for them, median, /proc/<pid>/stat)` : ''}; after the boot each idles ${IDLE_MS / 1000} s; then RSS (VmRSS, /proc/<pid>/status) and PSS (smaps_rollup) are read, summed over dnsmasq + the nginx master and worker. "anon" is the anonymous (heap, stacks) part of RSS; the rest is mapped files (node's own binary and libraries, shared with other processes).`,
    '',
    `| mode | bootlab RSS MiB | bootlab PSS MiB | bootlab anon MiB | dnsmasq + nginx RSS MiB | dnsmasq + nginx PSS MiB | RSS ratio (medians) | PSS ratio (medians) |${BOOTS > 1 ? ' bootlab CPU ms | reference CPU ms |' : ''}`,
    `| --- | --- | --- | --- | --- | --- | --- | --- |${BOOTS > 1 ? ' --- | --- |' : ''}`,
    ...rows.map(({ mode, bootlab: b, reference: r }) => {
      const rss = (m: Memory): number => m.rssKb
      const pss = (m: Memory): number | null => m.pssKb
      const med = (ms: Measured[], f: (m: Memory) => number | null): number | null => median(ms.map((m) => f(m.mem)))
      const cpu = (ms: Measured[]): string => String(median(ms.map((m) => m.cpuMs)) ?? 'n/a')
      return `| ${mode} DHCP | ${cell(b, rss)} | ${cell(b, pss)} | ${cell(b, (m) => m.anonKb)} | ${cell(r, rss)} | ${cell(r, pss)} | ${ratio(med(b, rss), med(r, rss))} | ${ratio(med(b, pss), med(r, pss))} |${BOOTS > 1 ? ` ${cpu(b)} | ${cpu(r)} |` : ''}`
    }),
    '',
    ...rows.flatMap(({ bootlab: b, reference: r }) => [...b.slice(0, 1), ...r.slice(0, 1)].map((m) => `- ${m.label} (first run): ${m.boot}${m.pids > 1 ? `; ${m.pids} processes` : ''}`)),
    '',
  ].join('\n')
}
