// Faults played during a storm: packet loss on the client links, a `kill -9` of bootlab with a check
// of what it left on disk, a garbage YAML, and (attacker.ts) half-open TFTP sessions and DHCP floods.
import { readFile, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { addLoss, removeLoss } from '../../src/lab/loss.js'
import { JsonFileLeaseStore } from '../../src/dhcp/lease-file.js'
import type { Lease } from '../../src/dhcp/leases.js'
import type { StormLab } from './run-storm.js'

/**
 * Drops `percent` % of the UDP packets on every client link (nftables in each client namespace):
 * both directions, or only those towards the Pis (`inbound`).
 */
export async function setLoss(s: StormLab, percent: number, inbound = false): Promise<void> {
  for (const c of s.clients) {
    await removeLoss(s.lab, c)
    if (percent > 0) await addLoss(s.lab, c, { percent, chains: inbound ? ['input'] : ['input', 'output'] })
  }
}

interface ApiMachine { mac: string; name: string | null; ip: string | null; state: string; netboot_step: string | null; last_seen: string | null }
interface LeaseDoc { leases: Lease[] }

/** bootlab's leases as saved (the snapshot with its journal replayed) */
function readLeases(stateDir: string): Promise<Lease[]> {
  return new JsonFileLeaseStore(join(stateDir, 'dhcp-leases.json')).load()
}

/** events: the ids of the newest (up to 1000) events the API listed */
export interface Snapshot { machines: ApiMachine[]; leases: LeaseDoc['leases']; events: number[] }

/** what bootlab reports: its API's machines and events, and its lease file */
export async function snapshot(s: StormLab, host: string, base: string, stateDir: string): Promise<Snapshot> {
  const get = async (path: string): Promise<unknown> => {
    const r = await s.lab.exec(host, ['curl', '-sf', '--max-time', '5', `${base}${path}`], { timeoutMs: 10_000 })
    if (r.code !== 0) throw new Error(`GET ${path} failed (${r.code})`)
    return JSON.parse(r.stdout)
  }
  const machines = ((await get('/api/machines')) as { machines: ApiMachine[] }).machines
  const events = ((await get('/api/events?limit=1000')) as { events: { id: number }[] }).events.map((e) => e.id)
  let leases: LeaseDoc['leases'] = []
  try { leases = await readLeases(stateDir) } catch { /* none yet */ }
  return { machines, leases, events }
}

export interface StoreCheck {
  integrity: string
  walBefore: boolean
  openError: string | null
  machines: number
  events: number
  /** committed changes reported before the kill and missing after it */
  missing: string[]
  leasesBefore: number
  leasesAfter: number
}

/**
 * Opens the store bootlab left behind (as a restart would: read-write, WAL replay by SQLite),
 * runs `PRAGMA integrity_check`, and compares with the snapshot taken before the kill.
 */
export async function checkStore(stateDir: string, before: Snapshot): Promise<StoreCheck> {
  const file = join(stateDir, 'bootlab.sqlite')
  const walBefore = existsSync(`${file}-wal`)
  const out: StoreCheck = { integrity: '', walBefore, openError: null, machines: 0, events: 0, missing: [], leasesBefore: before.leases.length, leasesAfter: 0 }
  let db: Database.Database | undefined
  try {
    db = new Database(file, { fileMustExist: true })
    out.integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ')
    const rows = db.prepare('SELECT mac, name, ip, state, netboot_step, last_seen FROM machines').all() as { mac: string; name: string | null; ip: string | null; state: string; netboot_step: string | null; last_seen: number | null }[]
    out.machines = rows.length
    out.events = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n
    const byMac = new Map(rows.map((r) => [r.mac, r]))
    for (const m of before.machines) {
      const r = byMac.get(m.mac)
      if (!r) { out.missing.push(`machine ${m.mac}`); continue }
      if (m.ip && r.ip !== m.ip) out.missing.push(`${m.mac} ip ${m.ip} (now ${r.ip})`)
      if (m.last_seen && (r.last_seen ?? 0) < Date.parse(m.last_seen)) out.missing.push(`${m.mac} last_seen ${m.last_seen}`)
    }
    const has = db.prepare('SELECT 1 FROM events WHERE id = ?')
    const lost = before.events.filter((id) => has.get(id) === undefined)
    if (lost.length) out.missing.push(`${lost.length} of ${before.events.length} reported events`)
  } catch (err) {
    out.openError = (err as Error).message
  } finally {
    db?.close()
  }
  try {
    const after = await readLeases(stateDir)
    out.leasesAfter = after.length
    const have = new Set(after.map((l) => `${l.mac} ${l.ip}`))
    for (const l of before.leases) if (l.state === 'bound' && !have.has(`${l.mac} ${l.ip}`)) out.missing.push(`lease ${l.mac} ${l.ip}`)
  } catch (err) {
    out.missing.push(`lease file unreadable: ${(err as Error).message}`)
  }
  return out
}

/** replaces the YAML with garbage (bootlab must keep the last good config and say why) */
export async function garbageYaml(configFile: string): Promise<string> {
  const good = await readFile(configFile, 'utf8')
  await writeFile(configFile, 'server:\n  interface: [unclosed\nmachines: {{{ not yaml\n\t- :\n')
  return good
}
