// The storm scenarios, shared by `npm run bench -- storm N`, `npm run soak` and the CI test: a storm
// against a server, and the fault storms (loss, a vanishing client, half-open TFTP sessions, a DHCP
// flood, a garbage YAML, kill -9 of bootlab).
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Lab } from '../../src/lab/netns.js'
import { startFixture, tsxArgv } from '../../src/lab/fixture.js'
import { runStorm, sampleUsage, summarize, resetClients, SERVER_IP, POOL, IFACE, type StormLab, type StormOptions, type Summary, type Usage } from './run-storm.js'
import { startBootlab, startReference, HTTP_PORT, type BootlabOptions, type ServerHandle, type StormFiles } from './servers.js'
import { checkStore, garbageYaml, setLoss, snapshot, type StoreCheck } from './faults.js'

const ATTACKER = fileURLToPath(new URL('./attacker.ts', import.meta.url))
export const BASE = `http://${SERVER_IP}:${HTTP_PORT}`

export type ServerKind = 'bootlab' | 'reference'

export function bootlabOptions(dir: string, tag: string): BootlabOptions {
  return { stateDir: join(dir, `state-${tag}`), configFile: join(dir, `bootlab-${tag}.yaml`), pool: POOL, address: SERVER_IP, iface: IFACE }
}

export async function startServer(s: StormLab, f: StormFiles, kind: ServerKind, o: BootlabOptions): Promise<ServerHandle> {
  return kind === 'bootlab' ? await startBootlab(s.lab, 'srv', f, o) : await startReference(s.lab, 'srv', f, o)
}

export interface StormRow { label: string; server: string; summary: Summary; usage: Usage; wallMs: number; notes: string[] }

/** one storm against a freshly started server; optional loss on the client links */
export async function stormOnce(s: StormLab, f: StormFiles, kind: ServerKind, label: string, o: Omit<StormOptions, 'files'> & { loss?: number; inbound?: boolean; tag: string }): Promise<StormRow> {
  await resetClients(s)
  const srv = await startServer(s, f, kind, bootlabOptions(f.dir, o.tag))
  try {
    if (o.loss) await setLoss(s, o.loss, o.inbound)
    const u = sampleUsage(srv.pids)
    const r = await runStorm(s, { files: f, ...o })
    const usage = await u.stop()
    return { label, server: srv.name, summary: summarize(r), usage, wallMs: r.wallMs, notes: [] }
  } finally {
    if (o.loss) await setLoss(s, 0)
    await srv.stop()
  }
}

/** bootlab's non-zero /metrics counters of one protocol matching `re` (for the notes) */
async function counters(s: StormLab, proto: 'dhcp' | 'tftp', re: RegExp): Promise<string> {
  const r = await s.lab.exec('srv', ['curl', '-sf', '--max-time', '5', `${BASE}/metrics`])
  const lines = r.stdout.split('\n').filter((l) => l.startsWith(`bootlab_${proto}_`) && re.test(l) && !/ 0$/.test(l))
  return lines.map((l) => l.replace(`bootlab_${proto}_`, '')).join(', ')
}

/** starts an attacker fixture in `host` (made on first use, address .5/.6) */
async function attacker(lab: Lab, host: string, octet: number, spec: Record<string, unknown>): Promise<() => Promise<{ sent: number; answers: number; ms: number }>> {
  if (!lab.hosts[host]) {
    await lab.addHost(host, { octet })
    await lab.exec(host, ['ip', 'route', 'add', 'default', 'dev', 'net0']) // limited broadcasts
  }
  const f = await startFixture(lab, host, tsxArgv(ATTACKER, JSON.stringify(spec)))
  return async () => {
    const m = await f.waitFor((x) => x.event === 'done', 120_000, `${host} done`)
    return { sent: Number(m.sent), answers: Number(m.answers), ms: Number(m.ms) }
  }
}

/** a storm while an attacker opens `count` TFTP sessions it never acknowledges */
export async function halfOpenStorm(s: StormLab, f: StormFiles, kind: ServerKind, n: number, count: number, rate: number): Promise<StormRow> {
  let result = { sent: 0, answers: 0, ms: 0 }
  let metrics = ''
  const row = await stormOnce(s, f, kind, `${count} half-open TFTP sessions (${rate}/s)`, {
    n, tag: `halfopen-${kind}`, spreadMs: 3000,
    during: async () => {
      const done = await attacker(s.lab, 'atk', 5, { mode: 'halfopen', server: SERVER_IP, file: 'ipxe/snp-arm64.efi', count, rate, holdMs: 4000 })
      result = await done()
      if (kind === 'bootlab') metrics = await counters(s, 'tftp', /session|refus|drop|fail|timeout|active/)
    },
  })
  if (metrics) row.notes.push(`bootlab /metrics after the attack: ${metrics}`)
  row.notes.push(`attacker: ${result.sent} RRQs in ${(result.ms / 1000).toFixed(1)} s, ${result.answers} packets answered`)
  return row
}

/** a storm while random MACs flood DISCOVERs and a real client (busybox udhcpc) asks for a lease */
export async function dhcpFloodStorm(s: StormLab, f: StormFiles, kind: ServerKind, n: number, count: number, rate: number): Promise<StormRow> {
  let result = { sent: 0, answers: 0, ms: 0 }
  let real = ''
  let metrics = ''
  if (!s.lab.hosts.real) {
    await s.lab.addHost('real')
    await s.lab.exec('real', ['ip', 'route', 'add', 'default', 'dev', 'net0'])
  }
  const row = await stormOnce(s, f, kind, `DHCP flood: ${count} DISCOVERs from random MACs (${rate}/s)`, {
    n, tag: `flood-${kind}`, spreadMs: 3000,
    during: async () => {
      const done = await attacker(s.lab, 'atk', 5, { mode: 'dhcp-flood', count, rate })
      await new Promise((r) => setTimeout(r, 2000))
      await s.lab.exec('real', ['ip', 'addr', 'flush', 'dev', 'net0'])
      const t0 = Date.now()
      const u = await s.lab.exec('real', ['busybox', 'udhcpc', '-n', '-q', '-f', '-i', 'net0', '-s', '/bin/true', '-t', '5', '-T', '2'], { timeoutMs: 30_000 })
      const lease = /lease of (\S+) obtained/.exec(u.stdout + u.stderr)?.[1]
      real = u.code === 0 && lease ? `udhcpc (busybox) got ${lease} in ${((Date.now() - t0) / 1000).toFixed(1)} s during the flood` : `udhcpc got NO lease during the flood (exit ${u.code})`
      result = await done()
      if (kind === 'bootlab') metrics = await counters(s, 'dhcp', /./)
    },
  })
  if (metrics) row.notes.push(`bootlab /metrics after the flood: ${metrics}`)
  row.notes.push(real, `flood: ${result.sent} DISCOVERs in ${(result.ms / 1000).toFixed(1)} s, ${result.answers} replies seen by the flooder`)
  return row
}

/** a storm during which bootlab's YAML is replaced by garbage (bootlab only) */
export async function garbageYamlStorm(s: StormLab, f: StormFiles, n: number): Promise<StormRow> {
  const o = bootlabOptions(f.dir, 'yaml')
  let note = ''
  const row = await stormOnce(s, f, 'bootlab', 'YAML replaced with garbage 1 s into the storm', {
    n, tag: 'yaml', spreadMs: 2000,
    during: async () => {
      await new Promise((r) => setTimeout(r, 1000))
      const good = await garbageYaml(o.configFile)
      await new Promise((r) => setTimeout(r, 2000))
      const h = await s.lab.exec('srv', ['curl', '-sf', '--max-time', '5', `${BASE}/healthz`])
      const health = JSON.parse(h.stdout || '{}') as { config?: { status?: string; errors?: unknown } }
      note = `/healthz during the storm: config ${health.config?.status ?? '?'}${health.config?.errors ? ` (${JSON.stringify(health.config.errors).slice(0, 160)})` : ''}`
      await new Promise((r) => setTimeout(r, 3000))
      await writeFile(o.configFile, good)
    },
  })
  row.notes.push(note)
  return row
}

export interface KillResult { row: StormRow; check: StoreCheck; restartMs: number; before: { machines: number; leases: number; events: number } }

/**
 * `kill -9` of bootlab once `afterBoots` Pis have booted: snapshot of the API and the lease file
 * just before, the store opened and checked, bootlab restarted on the same state dir while the
 * storm goes on.
 */
export async function killStorm(s: StormLab, f: StormFiles, n: number, afterBoots: number): Promise<KillResult> {
  await resetClients(s)
  const o = bootlabOptions(f.dir, 'kill')
  let srv = await startBootlab(s.lab, 'srv', f, o)
  let check: StoreCheck | undefined
  let restartMs = 0
  let before = { machines: 0, leases: 0, events: 0 }
  let current = srv
  const u = sampleUsage(() => current.pids())
  try {
    const r = await runStorm(s, {
      files: f, n, spreadMs: 3000,
      during: async (clients) => {
        const deadline = Date.now() + 120_000
        while (clients.reduce((a, c) => a + c.events('boot').length, 0) < afterBoots && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
        const snap = await snapshot(s, 'srv', BASE, o.stateDir)
        before = { machines: snap.machines.length, leases: snap.leases.length, events: snap.events.length }
        const exited = new Promise((r) => srv.child.once('exit', r))
        srv.child.kill('SIGKILL')
        await exited
        check = await checkStore(o.stateDir, snap)
        const t0 = Date.now()
        srv = await startBootlab(s.lab, 'srv', f, o)
        current = srv
        restartMs = Date.now() - t0
      },
    })
    const usage = await u.stop()
    const row: StormRow = { label: `kill -9 of bootlab after ${afterBoots} boots, restart on the same state dir`, server: 'bootlab', summary: summarize(r), usage, wallMs: r.wallMs, notes: [] }
    return { row, check: check!, restartMs, before }
  } finally {
    await srv.stop()
  }
}
