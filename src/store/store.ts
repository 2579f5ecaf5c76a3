// Persistent state in SQLite (better-sqlite3, WAL). Everything that changes more than one row runs in
// one transaction, so a crash (even kill -9) leaves either the old or the new state, never a mix.
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { MIGRATIONS, type Migration } from './migrations.js'

export type MachineState =
  | 'unknown' | 'discovered' | 'ready' | 'assigned' | 'cycling' | 'netbooting' | 'installing' | 'deployed' | 'failed'

export interface MachineRow {
  mac: string
  name: string | null
  serial: string | null
  arch: string | null
  ip: string | null
  first_seen: number | null
  last_seen: number | null
  state: MachineState
  state_reason: string | null
  state_since: number
  netboot_step: string | null
  deployment_id: number | null
  applied_profile: string | null
  deployed_at: number | null
}

export type DeploymentState = 'pending' | 'done' | 'failed' | 'superseded'

export interface DeploymentRow {
  id: number
  mac: string
  machine: string
  profile: string
  state: DeploymentState
  created_at: number
  finished_at: number | null
}

export interface EventRow {
  id: number
  ts: number
  machine: string | null
  mac: string | null
  type: string
  data: Record<string, unknown>
}

export interface PowerOpRow {
  id: number
  machine: string
  action: string
  requested_at: number
  finished_at: number | null
  outcome: 'ok' | 'error' | null
  error: string | null
}

export interface StoreOptions {
  /** file path of the database; ':memory:' for tests */
  file: string
  /** 'FULL' survives power loss too; 'NORMAL' (default) survives process crashes */
  synchronous?: 'NORMAL' | 'FULL'
  migrations?: Migration[]
  /** clock, for tests */
  now?: () => number
}

/** valid cloud-init tokens kept per deployment (each boot script issues one) */
export const BOOT_TOKENS_KEPT = 8

export function storeFile(stateDir: string): string {
  return join(stateDir, 'bootlab.sqlite')
}

/**
 * Write health, for /metrics and /healthz: every failed write transaction is counted; the store is
 * degraded from a failed write until the next successful one.
 */
export class WriteHealth {
  errors = 0
  degraded = false
  lastError: string | null = null
  lastErrorAt: number | null = null

  ok(): void {
    this.degraded = false
  }

  failed(err: unknown): void {
    this.errors++
    this.degraded = true
    this.lastError = err instanceof Error ? err.message : String(err)
    this.lastErrorAt = Date.now()
  }

  /** the /healthz part */
  report(): { status: 'ok' | 'degraded'; errors: number; last_error?: string; last_error_at?: string } {
    return {
      status: this.degraded ? 'degraded' : 'ok',
      errors: this.errors,
      ...(this.lastError !== null ? { last_error: this.lastError, last_error_at: new Date(this.lastErrorAt!).toISOString() } : {}),
    }
  }
}

/**
 * The database file is damaged or is not a database. bootlab cannot repair it; the message says
 * how to recover and what is lost (docs/security.md, "State database").
 */
export class StoreCorruptError extends Error {
  constructor(readonly file: string, readonly detail: string) {
    super(`the state database ${file} is damaged (${detail}).
To recover: stop bootlab, move the file aside (mv ${file} ${file}.broken; also its -wal and -shm files if present), and start bootlab again: it creates a new, empty database.
Lost with it: the machine history (states, deployments, events) and the power journal (ports an interrupted power cycle left off: check those by hand).
Kept: the configuration, and the DHCP leases (dhcp-leases.json and dhcp-leases.json.journal, separate files).`)
    this.name = 'StoreCorruptError'
  }
}

/** SQLite's words for a damaged file: SQLITE_CORRUPT (and its extended codes), SQLITE_NOTADB. */
function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
}

export class Store {
  readonly db: Database.Database
  readonly now: () => number
  readonly health = new WriteHealth()

  constructor(opts: StoreOptions) {
    if (opts.file !== ':memory:') mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 })
    this.now = opts.now ?? Date.now
    let db: Database.Database | undefined
    try {
      db = new Database(opts.file)
      db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`)
      db.pragma('foreign_keys = ON')
      db.pragma('busy_timeout = 5000')
      // a damaged page anywhere is found now, with a clear message, not at the first unlucky query
      const check = db.pragma('quick_check(1)', { simple: true })
      if (check !== 'ok') throw new StoreCorruptError(opts.file, String(check))
      migrate(db, opts.migrations ?? MIGRATIONS)
    } catch (err) {
      db?.close()
      if (err instanceof StoreCorruptError) throw err
      if (isCorruption(err)) throw new StoreCorruptError(opts.file, (err as Error).message)
      throw err
    }
    this.db = db
  }

  close(): void {
    if (this.db.open) this.db.close()
  }

  /** Runs fn in one IMMEDIATE transaction (nested calls join the outer one); outcomes count in `health`. */
  tx<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn()
    let result: T
    try {
      result = this.db.transaction(fn).immediate()
    } catch (err) {
      this.health.failed(err)
      throw err
    }
    this.health.ok()
    return result
  }

  // ---- machines -------------------------------------------------------------------------------

  machine(mac: string): MachineRow | undefined {
    return this.db.prepare('SELECT * FROM machines WHERE mac = ?').get(mac) as MachineRow | undefined
  }

  machineByName(name: string): MachineRow | undefined {
    return this.db.prepare('SELECT * FROM machines WHERE name = ? ORDER BY last_seen DESC LIMIT 1').get(name) as MachineRow | undefined
  }

  machineByIp(ip: string): MachineRow | undefined {
    return this.db.prepare('SELECT * FROM machines WHERE ip = ? ORDER BY last_seen DESC LIMIT 1').get(ip) as MachineRow | undefined
  }

  machineBySerial(serial: string): MachineRow | undefined {
    return this.db.prepare('SELECT * FROM machines WHERE serial = ? ORDER BY last_seen DESC LIMIT 1').get(serial) as MachineRow | undefined
  }

  /** machines not (or no longer) in the config */
  countUnnamed(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM machines WHERE name IS NULL').get() as { n: number }).n
  }

  machines(): MachineRow[] {
    return this.db.prepare('SELECT * FROM machines ORDER BY name IS NULL, name, mac').all() as MachineRow[]
  }

  /** One page of machines in the order of machines(), after the row `after` (keyset: its name and mac). */
  machinesPage(limit: number, after?: { name: string | null; mac: string }): MachineRow[] {
    if (!after) return this.db.prepare('SELECT * FROM machines ORDER BY name IS NULL, name, mac LIMIT ?').all(limit) as MachineRow[]
    return this.db.prepare(`SELECT * FROM machines WHERE (name IS NULL, COALESCE(name, ''), mac) > (?, ?, ?)
      ORDER BY name IS NULL, name, mac LIMIT ?`).all(after.name === null ? 1 : 0, after.name ?? '', after.mac, limit) as MachineRow[]
  }

  /**
   * Forgets unconfigured machines last seen (or created, if never seen) before `before`, with their
   * events; machines with a deployment are kept. Returns the MACs removed.
   */
  expireUnnamed(before: number, max = 1000): string[] {
    return this.tx(() => {
      const macs = (this.db.prepare(`SELECT mac FROM machines WHERE name IS NULL AND deployment_id IS NULL
        AND COALESCE(last_seen, state_since) < ? LIMIT ?`).all(before, max) as { mac: string }[]).map((r) => r.mac)
      const delEvents = this.db.prepare('DELETE FROM events WHERE mac = ?')
      const delMachine = this.db.prepare('DELETE FROM machines WHERE mac = ?')
      for (const mac of macs) { delEvents.run(mac); delMachine.run(mac) }
      return macs
    })
  }

  /** Creates the row if needed with the given initial state. Returns the row. */
  ensureMachine(mac: string, init: { name?: string | null; state: MachineState }): MachineRow {
    const ts = this.now()
    this.db.prepare(`INSERT INTO machines (mac, name, state, state_since) VALUES (?, ?, ?, ?)
      ON CONFLICT(mac) DO NOTHING`).run(mac, init.name ?? null, init.state, ts)
    return this.machine(mac)!
  }

  /** Records what was observed about a machine (only the given fields change). */
  observe(mac: string, o: { serial?: string; arch?: string; ip?: string; seen?: boolean }): void {
    const ts = this.now()
    const cur = this.machine(mac)
    if (!cur) throw new Error(`observe: unknown machine ${mac}`)
    if (o.ip !== undefined && o.ip !== cur.ip) {
      // an address belongs to one machine at a time
      this.db.prepare('UPDATE machines SET ip = NULL WHERE ip = ? AND mac != ?').run(o.ip, mac)
    }
    this.db.prepare(`UPDATE machines SET
        serial = COALESCE(?, serial), arch = COALESCE(?, arch), ip = COALESCE(?, ip),
        first_seen = CASE WHEN ? THEN COALESCE(first_seen, ?) ELSE first_seen END,
        last_seen = CASE WHEN ? THEN ? ELSE last_seen END
      WHERE mac = ?`).run(o.serial ?? null, o.arch ?? null, o.ip ?? null, o.seen ? 1 : 0, ts, o.seen ? 1 : 0, ts, mac)
  }

  setName(mac: string, name: string | null): void {
    this.db.prepare('UPDATE machines SET name = ? WHERE mac = ?').run(name, mac)
  }

  setState(mac: string, state: MachineState, reason: string | null = null): void {
    this.db.prepare('UPDATE machines SET state = ?, state_reason = ?, state_since = ?, netboot_step = CASE WHEN ? = \'netbooting\' THEN netboot_step ELSE NULL END WHERE mac = ?')
      .run(state, reason, this.now(), state, mac)
  }

  setNetbootStep(mac: string, step: string): void {
    this.db.prepare('UPDATE machines SET netboot_step = ? WHERE mac = ?').run(step, mac)
  }

  deleteMachine(mac: string): void {
    this.db.prepare('UPDATE machines SET deployment_id = NULL WHERE mac = ?').run(mac)
    this.db.prepare('DELETE FROM machines WHERE mac = ?').run(mac)
  }

  // ---- deployments ----------------------------------------------------------------------------

  deployment(id: number): DeploymentRow | undefined {
    return this.db.prepare('SELECT * FROM deployments WHERE id = ?').get(id) as DeploymentRow | undefined
  }

  currentDeployment(mac: string): DeploymentRow | undefined {
    return this.db.prepare('SELECT d.* FROM deployments d JOIN machines m ON m.deployment_id = d.id WHERE m.mac = ?').get(mac) as DeploymentRow | undefined
  }

  /**
   * Starts a new deployment of `profile` on a machine: the previous one is superseded, its boot
   * tokens die, the machine becomes `assigned`. One transaction.
   */
  newDeployment(mac: string, machine: string, profile: string): DeploymentRow {
    return this.tx(() => {
      const ts = this.now()
      const prev = this.currentDeployment(mac)
      if (prev) {
        this.db.prepare('DELETE FROM boot_tokens WHERE deployment_id = ?').run(prev.id)
        if (prev.state === 'pending') this.db.prepare("UPDATE deployments SET state = 'superseded', finished_at = ? WHERE id = ?").run(ts, prev.id)
      }
      const id = Number(this.db.prepare("INSERT INTO deployments (mac, machine, profile, state, created_at) VALUES (?, ?, ?, 'pending', ?)")
        .run(mac, machine, profile, ts).lastInsertRowid)
      this.db.prepare("UPDATE machines SET deployment_id = ?, state = 'assigned', state_reason = NULL, state_since = ?, netboot_step = NULL WHERE mac = ?")
        .run(id, ts, mac)
      return this.deployment(id)!
    })
  }

  finishDeployment(id: number, state: 'done' | 'failed'): void {
    this.db.prepare('UPDATE deployments SET state = ?, finished_at = ? WHERE id = ?').run(state, this.now(), id)
  }

  markDeployed(mac: string, deploymentId: number, profile: string): void {
    this.tx(() => {
      const ts = this.now()
      this.finishDeployment(deploymentId, 'done')
      this.db.prepare("UPDATE machines SET state = 'deployed', state_reason = NULL, state_since = ?, netboot_step = NULL, applied_profile = ?, deployed_at = ? WHERE mac = ?")
        .run(ts, profile, ts, mac)
    })
  }

  // ---- boot tokens (stored as SHA-256; the token itself only lives in the command line) -----------

  /**
   * A new per-boot token bound to `ip` (null: unbound). At most BOOT_TOKENS_KEPT per deployment: when
   * full, the oldest token never used for a cloud-init fetch makes room; a token in use is never
   * evicted, and when all are in use no new one is added (false).
   */
  addBootToken(tokenHash: string, deploymentId: number, mac: string, ip: string | null = null): boolean {
    return this.db.transaction(() => {
      const n = (this.db.prepare('SELECT COUNT(*) AS n FROM boot_tokens WHERE deployment_id = ?').get(deploymentId) as { n: number }).n
      if (n >= BOOT_TOKENS_KEPT) {
        const evicted = this.db.prepare(`DELETE FROM boot_tokens WHERE rowid IN (SELECT rowid FROM boot_tokens
          WHERE deployment_id = ? AND used_at IS NULL ORDER BY rowid LIMIT ?)`).run(deploymentId, n - BOOT_TOKENS_KEPT + 1).changes
        if (evicted < n - BOOT_TOKENS_KEPT + 1) return false
      }
      this.db.prepare('INSERT INTO boot_tokens (token_hash, deployment_id, mac, created_at, ip) VALUES (?, ?, ?, ?, ?)').run(tokenHash, deploymentId, mac, this.now(), ip)
      return true
    })()
  }

  /** The token's deployment, only while it is the machine's current deployment. */
  tokenDeployment(tokenHash: string): DeploymentRow | undefined {
    return this.bootToken(tokenHash)?.deployment
  }

  /** The token's deployment (while current), the address it is bound to and when it was first used. */
  bootToken(tokenHash: string): { deployment: DeploymentRow; ip: string | null; used_at: number | null } | undefined {
    const r = this.db.prepare(`SELECT d.*, t.ip AS token_ip, t.used_at AS token_used_at FROM boot_tokens t JOIN deployments d ON d.id = t.deployment_id
      JOIN machines m ON m.mac = t.mac AND m.deployment_id = d.id WHERE t.token_hash = ?`).get(tokenHash) as (DeploymentRow & { token_ip: string | null; token_used_at: number | null }) | undefined
    if (!r) return undefined
    const { token_ip: ip, token_used_at: used, ...deployment } = r
    return { deployment, ip, used_at: used }
  }

  /** Marks a token as used for a cloud-init fetch (it is never evicted then). */
  markBootTokenUsed(tokenHash: string): void {
    this.db.prepare('UPDATE boot_tokens SET used_at = COALESCE(used_at, ?) WHERE token_hash = ?').run(this.now(), tokenHash)
  }

  // ---- events ---------------------------------------------------------------------------------

  addEvent(e: { machine?: string | null; mac?: string | null; type: string; data?: Record<string, unknown> }): EventRow {
    const ts = this.now()
    const data = e.data ?? {}
    const id = Number(this.db.prepare('INSERT INTO events (ts, machine, mac, type, data) VALUES (?, ?, ?, ?, ?)')
      .run(ts, e.machine ?? null, e.mac ?? null, e.type, JSON.stringify(data)).lastInsertRowid)
    return { id, ts, machine: e.machine ?? null, mac: e.mac ?? null, type: e.type, data }
  }

  /** Keeps the newest `keep` events. */
  pruneEvents(keep: number): number {
    return this.db.prepare('DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?').run(keep).changes
  }

  /**
   * Keeps the newest `keep` events of each machine (by MAC); events without a MAC are left alone.
   * Index walks only (events_mac): machines under the limit cost one index entry count.
   */
  pruneEventsPerMachine(keep: number): number {
    const over = this.db.prepare('SELECT mac FROM events WHERE mac IS NOT NULL GROUP BY mac HAVING COUNT(*) > ?').all(keep) as { mac: string }[]
    const del = this.db.prepare(`DELETE FROM events WHERE mac = ? AND id < (SELECT id FROM events WHERE mac = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`)
    let n = 0
    for (const { mac } of over) n += del.run(mac, mac, keep - 1).changes
    return n
  }

  events(q: { machine?: string; limit?: number; afterId?: number; beforeId?: number } = {}): EventRow[] {
    const limit = Math.max(1, Math.min(q.limit ?? 100, 1000))
    const where: string[] = []
    const args: (string | number)[] = []
    if (q.machine !== undefined) { where.push('(machine = ? OR mac = ?)'); args.push(q.machine, q.machine) }
    if (q.afterId !== undefined) { where.push('id > ?'); args.push(q.afterId) }
    if (q.beforeId !== undefined) { where.push('id < ?'); args.push(q.beforeId) }
    const sql = `SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`
    const rows = this.db.prepare(sql).all(...args, limit) as (Omit<EventRow, 'data'> & { data: string })[]
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }))
  }

  // ---- power operations -----------------------------------------------------------------------

  addPowerOp(machine: string, action: string): number {
    return Number(this.db.prepare('INSERT INTO power_ops (machine, action, requested_at) VALUES (?, ?, ?)').run(machine, action, this.now()).lastInsertRowid)
  }

  finishPowerOp(id: number, outcome: 'ok' | 'error', error?: string): void {
    this.db.prepare('UPDATE power_ops SET finished_at = ?, outcome = ?, error = ? WHERE id = ?').run(this.now(), outcome, error ?? null, id)
  }

  /** Power operations that were running when the process died: closed as errors. Returns how many. */
  abandonPowerOps(): number {
    return this.db.prepare("UPDATE power_ops SET finished_at = ?, outcome = 'error', error = 'interrupted by a restart' WHERE outcome IS NULL").run(this.now()).changes
  }

  powerOps(machine: string, limit = 20): PowerOpRow[] {
    return this.db.prepare('SELECT * FROM power_ops WHERE machine = ? ORDER BY id DESC LIMIT ?').all(machine, limit) as PowerOpRow[]
  }
}

function migrate(db: Database.Database, migrations: Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)')
  const done = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version))
  const known = Math.max(0, ...migrations.map((m) => m.version))
  const newest = Math.max(0, ...done)
  if (newest > known) throw new Error(`database schema version ${newest} is newer than this bootlab (${known})`)
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue
    db.transaction(() => {
      db.exec(m.sql)
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now())
    }).immediate()
  }
}

export function openStore(stateDir: string, opts: Omit<StoreOptions, 'file'> = {}): Store {
  return new Store({ ...opts, file: storeFile(stateDir) })
}
