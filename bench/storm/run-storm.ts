// One boot storm: N simulated Pis (bench/storm/pi-client.ts) spread over a few client namespaces
// of one lab, against whatever server runs in the lab's `srv` namespace; the server's RSS and CPU
// are sampled from /proc while it runs. Bounded: every Pi has a boot time limit, every client
// process a hard one.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { createLab, type Lab } from '../../src/lab/netns.js'
import { startFixture, tsxArgv, type Fixture } from '../../src/lab/fixture.js'
import type { BootResult, ClientSpec, PiSpec } from './pi-client.js'
import type { StormFiles } from './servers.js'

const CLIENT = fileURLToPath(new URL('./pi-client.ts', import.meta.url))

export const SUBNET = '10.79.0'
export const SERVER_IP = `${SUBNET}.1`
export const POOL = { start: `${SUBNET}.20`, end: `${SUBNET}.250` }
export const IFACE = 'lab0'

export interface StormLab { lab: Lab; clients: string[] }

/** the lab: server namespace `srv` (10.79.0.1 on lab0) and `clients` client namespaces c0…, no addresses */
export async function createStormLab(clients: number): Promise<StormLab> {
  const lab = await createLab({ subnet: SUBNET, prefix: 'bst' })
  try {
    await lab.addHost('srv', { octet: 1, ifname: IFACE })
    const hosts = await lab.addHosts('c', clients)
    for (const h of hosts) {
      // limited broadcasts need a route out of an address-less namespace
      const r = await lab.exec(h.name, ['ip', 'route', 'add', 'default', 'dev', 'net0'])
      if (r.code !== 0) throw new Error(r.stderr)
    }
    return { lab, clients: hosts.map((h) => h.name) }
  } catch (err) {
    await lab.cleanup()
    throw err
  }
}

/**
 * Drops the leased addresses the previous storm added to the client namespaces, and every
 * namespace's neighbour cache: the next server may hand an address to a Pi in another namespace.
 */
export async function resetClients(s: StormLab): Promise<void> {
  await s.lab.exec('srv', ['ip', 'neigh', 'flush', 'all'])
  for (const c of s.clients) {
    await s.lab.exec(c, ['ip', 'neigh', 'flush', 'all'])
    await s.lab.exec(c, ['ip', 'addr', 'flush', 'dev', 'net0'])
    await s.lab.exec(c, ['ip', 'route', 'replace', 'default', 'dev', 'net0'])
  }
}

export interface Usage { peakRssKb: number; cpuSeconds: number; fds: number }

/** samples RSS (sum over the PIDs) and CPU time every 200 ms; peak RSS also from VmHWM */
export function sampleUsage(pids: () => number[]): { stop: () => Promise<Usage> } {
  const tick = Number(process.env.CLK_TCK ?? 100)
  let peak = 0
  const startCpu = new Map<number, number>()
  let lastCpu = new Map<number, number>()
  let fds = 0
  const read = async (): Promise<void> => {
    let rss = 0
    const cpu = new Map<number, number>()
    for (const pid of pids()) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (f.length > 14) {
        const t = (Number(f[11]) + Number(f[12])) / tick
        cpu.set(pid, t)
        if (!startCpu.has(pid)) startCpu.set(pid, t)
      }
    }
    if (cpu.size > 0) lastCpu = cpu
    peak = Math.max(peak, rss)
  }
  void read()
  const timer = setInterval(() => { void read() }, 200)
  return {
    async stop() {
      clearInterval(timer)
      await read()
      fds = 0
      for (const pid of pids()) fds += (await import('node:fs/promises').then((m) => m.readdir(`/proc/${pid}/fd`)).catch(() => [])).length
      let cpuSeconds = 0
      for (const [pid, t] of lastCpu) cpuSeconds += t - (startCpu.get(pid) ?? t)
      return { peakRssKb: peak, cpuSeconds, fds }
    },
  }
}

export interface StormOptions {
  files: StormFiles
  /** how many of files.pis boot (the first n) */
  n: number
  spreadMs?: number
  bootTimeoutMs?: number
  fileTimeoutMs?: number
  /** Pis (by index) that vanish after this many blocks of start4.elf */
  vanish?: Map<number, number>
  /** called once every client process runs (e.g. to start a fault) with the fixtures */
  during?: (clients: Fixture[]) => Promise<void>
}

export interface StormResult {
  boots: BootResult[]
  wallMs: number
}

/** plays the storm and returns every Pi's result */
export async function runStorm(s: StormLab, o: StormOptions): Promise<StormResult> {
  const per = Math.ceil(o.n / s.clients.length)
  const fixtures: Fixture[] = []
  const bootTimeoutMs = o.bootTimeoutMs ?? 240_000
  try {
    for (let c = 0; c < s.clients.length; c++) {
      const pis: PiSpec[] = o.files.pis.slice(c * per, Math.min(o.n, (c + 1) * per)).map((p, i) => {
        const v = o.vanish?.get(c * per + i)
        return { mac: p.mac, serial: p.serial, configSha: p.configSha, ...(v !== undefined ? { vanishAfterBlocks: v } : {}) }
      })
      if (pis.length === 0) continue
      const spec: ClientSpec = { ifname: 'net0', pis, manifest: o.files.manifest, spreadMs: o.spreadMs ?? 1000, bootTimeoutMs, ...(o.fileTimeoutMs ? { fileTimeoutMs: o.fileTimeoutMs } : {}) }
      fixtures.push(await startFixture(s.lab, s.clients[c]!, tsxArgv(CLIENT, JSON.stringify(spec))))
    }
    const t0 = Date.now()
    await Promise.all(fixtures.map((f) => f.command('go')))
    const during = o.during ? o.during(fixtures) : Promise.resolve()
    await Promise.all(fixtures.map((f) => f.waitFor((m) => m.event === 'done', bootTimeoutMs + 30_000, 'storm done')))
    await during
    const wallMs = Date.now() - t0
    const boots = fixtures.flatMap((f) => f.messages.filter((m) => m.event === 'boot') as unknown as BootResult[])
    return { boots, wallMs }
  } finally {
    await Promise.all(fixtures.map((f) => f.stop()))
  }
}

export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

export interface Summary {
  n: number
  ok: number
  failed: number
  vanished: number
  wrongBytes: number
  retries: number
  /** EEPROM network boots started over */
  restarts: number
  p50: number
  p95: number
  max: number
  errors: string[]
  /** median time spent in each phase of the booted Pis (ms; phase = since the previous one) */
  phaseP50: Record<string, number>
}

export function summarize(r: StormResult): Summary {
  const ok = r.boots.filter((b) => b.ok)
  const times = ok.map((b) => b.ms).sort((a, b) => a - b)
  const errs = new Map<string, number>()
  for (const b of r.boots) if (!b.ok && !b.vanished && b.error) {
    const k = b.error.replace(/\b[0-9a-f]{8}\//, '<serial>/').replace(/\b\d+\b/g, '#')
    errs.set(k, (errs.get(k) ?? 0) + 1)
  }
  const phaseP50: Record<string, number> = {}
  const order = ['dhcp', 'firmware', 'loader', 'script', 'http']
  order.forEach((ph, i) => {
    const d = ok.map((b) => (b.phases[ph] ?? 0) - (i ? b.phases[order[i - 1]!] ?? 0 : 0)).sort((a, b) => a - b)
    phaseP50[ph] = pct(d, 50)
  })
  return {
    phaseP50,
    n: r.boots.length,
    ok: ok.length,
    vanished: r.boots.filter((b) => b.vanished).length,
    failed: r.boots.filter((b) => !b.ok && !b.vanished).length,
    wrongBytes: r.boots.reduce((a, b) => a + b.wrongBytes, 0),
    retries: r.boots.reduce((a, b) => a + b.retries, 0),
    restarts: r.boots.reduce((a, b) => a + (b.restarts ?? 0), 0),
    p50: pct(times, 50), p95: pct(times, 95), max: times.at(-1) ?? NaN,
    errors: [...errs].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${v}× ${k}`),
  }
}
