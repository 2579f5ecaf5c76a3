import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store, storeFile } from '../../src/store/store.js'
import { MIGRATIONS } from '../../src/store/migrations.js'
import { SqliteJournal } from '../../src/power/journal.js'

function tmp(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('migrations: applied once, numbered, newer schema refused', async (t) => {
  const dir = tmp(t)
  let s = new Store({ file: storeFile(dir) })
  t.equal(s.db.pragma('journal_mode', { simple: true }), 'wal')
  const versions = MIGRATIONS.map((m) => ({ version: m.version }))
  t.same(s.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), versions)
  s.ensureMachine('02:00:00:00:00:01', { name: 'a', state: 'ready' })
  s.close()
  const next = MIGRATIONS.at(-1)!.version + 1
  const extra = [...MIGRATIONS, { version: next, name: 'notes', sql: 'ALTER TABLE machines ADD COLUMN notes TEXT' }]
  s = new Store({ file: storeFile(dir), migrations: extra })
  t.same(s.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), [...versions, { version: next }])
  t.equal(s.machine('02:00:00:00:00:01')!.name, 'a', 'data kept')
  s.close()
  t.throws(() => new Store({ file: storeFile(dir) }), new RegExp(`schema version ${next} is newer`))
})

t.test('migration 2: the power journal table, also where the journal already created it', async (t) => {
  const fresh = new Store({ file: ':memory:' })
  t.teardown(() => fresh.close())
  new SqliteJournal(fresh.db).recordOff({ switch: 'rack', port: 'Gi1/0/3', reason: 'cycle', since: 1 }, 'gigabitethernet1/0/3')
  t.equal(new SqliteJournal(fresh.db).list().length, 1, 'a new database has the table')

  // a database of a bootlab from before migration 2: schema version 1, and the table the journal made itself
  const dir = tmp(t)
  const old = new Store({ file: storeFile(dir), migrations: MIGRATIONS.filter((m) => m.version === 1) })
  old.db.exec(MIGRATIONS.find((m) => m.version === 2)!.sql.replace('IF NOT EXISTS ', ''))
  old.db.prepare("INSERT INTO power_ports_off (switch, port_key, port, machine, reason, since) VALUES ('rack', 'gigabitethernet1/0/7', 'Gi1/0/7', 'pi-07', 'off', 5)").run()
  old.close()
  const s = new Store({ file: storeFile(dir) })
  t.teardown(() => s.close())
  t.same(s.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), MIGRATIONS.map((m) => ({ version: m.version })), 'migrated')
  t.same(new SqliteJournal(s.db).list(), [{ switch: 'rack', port: 'Gi1/0/7', machine: 'pi-07', reason: 'off', since: 5 }], 'the rows left by the old journal are kept')
})

t.test('deployments: a new one supersedes the old one and kills its tokens', async (t) => {
  const s = new Store({ file: ':memory:' })
  t.teardown(() => s.close())
  s.ensureMachine('02:00:00:00:00:01', { name: 'a', state: 'ready' })
  const d1 = s.newDeployment('02:00:00:00:00:01', 'a', 'p1')
  s.addBootToken('h1', d1.id, '02:00:00:00:00:01')
  t.equal(s.tokenDeployment('h1')!.id, d1.id)
  const d2 = s.newDeployment('02:00:00:00:00:01', 'a', 'p2')
  t.equal(s.deployment(d1.id)!.state, 'superseded')
  t.equal(s.tokenDeployment('h1'), undefined)
  t.equal(s.currentDeployment('02:00:00:00:00:01')!.id, d2.id)
  t.equal(s.machine('02:00:00:00:00:01')!.state, 'assigned')
  s.observe('02:00:00:00:00:01', { ip: '10.0.0.5' })
  s.ensureMachine('02:00:00:00:00:02', { state: 'discovered' })
  s.observe('02:00:00:00:00:02', { ip: '10.0.0.5' })
  t.equal(s.machineByIp('10.0.0.5')!.mac, '02:00:00:00:00:02', 'an address belongs to one machine')
  t.equal(s.machine('02:00:00:00:00:01')!.ip, null)
  const op = s.addPowerOp('a', 'cycle')
  t.equal(s.abandonPowerOps(), 1, 'an unfinished power op is closed at start')
  t.same(s.powerOps('a').map((o) => [o.id, o.outcome, o.error]), [[op, 'error', 'interrupted by a restart']])
})

type T = Pick<typeof t, 'equal' | 'same' | 'ok'>

function checkInvariants(t: T, s: Store): number {
  t.equal(s.db.pragma('integrity_check', { simple: true }), 'ok', 'integrity_check')
  t.same(s.db.pragma('foreign_key_check'), [], 'foreign keys')
  const bad = s.db.prepare(`SELECT m.mac FROM machines m LEFT JOIN deployments d ON d.id = m.deployment_id
    WHERE m.deployment_id IS NOT NULL AND (d.id IS NULL OR d.mac != m.mac)`).all()
  t.same(bad, [], 'every machine points at its own deployment')
  const pending = s.db.prepare(`SELECT d.mac FROM deployments d JOIN machines m ON m.mac = d.mac
    WHERE d.state = 'pending' AND d.id != m.deployment_id`).all()
  t.same(pending, [], 'only the current deployment is pending')
  const tokens = s.db.prepare(`SELECT t.token_hash FROM boot_tokens t JOIN machines m ON m.mac = t.mac WHERE t.deployment_id != m.deployment_id`).all()
  t.same(tokens, [], 'no token outlives its deployment')
  const deployed = s.db.prepare(`SELECT m.mac FROM machines m JOIN deployments d ON d.id = m.deployment_id
    WHERE (m.state = 'deployed') != (d.state = 'done')`).all()
  t.same(deployed, [], 'deployed ⇔ current deployment done')
  const seqs = (s.db.prepare("SELECT CAST(json_extract(data, '$.seq') AS INTEGER) AS n FROM events WHERE type = 'hammer' ORDER BY id").all() as { n: number }[]).map((r) => r.n)
  const gaps = seqs.filter((n, i) => n !== i + 1).length
  t.equal(gaps, 0, 'events form an unbroken sequence (no half transactions)')
  const ops = s.db.prepare('SELECT COUNT(*) AS c FROM power_ops WHERE outcome IS NULL').get() as { c: number }
  t.equal(ops.c, 0, 'no power op left half-written')
  const nops = (s.db.prepare('SELECT COUNT(*) AS c FROM power_ops').get() as { c: number }).c
  t.equal(nops, seqs.length, 'one power op per committed transaction')
  return seqs.length
}

t.test('kill -9 while writing leaves a consistent store', async (t) => {
  const dir = tmp(t)
  let total = 0
  for (let round = 0; round < Number(process.env.ROUNDS ?? 10); round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/hammer.ts', import.meta.url).pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    // wait for a few hundred transactions, then kill at a random moment
    const target = 200 + Math.floor(Math.random() * 400)
    await new Promise<void>((resolve, reject) => {
      let buf = ''
      const timer = setTimeout(() => reject(new Error('hammer made no progress')), 60_000)
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString()
        const m = /progress (\d+)\n(?![\s\S]*progress)/.exec(buf)
        if (m && Number(m[1]) >= target) {
          clearTimeout(timer)
          setTimeout(resolve, Math.floor(Math.random() * 20))
        }
      })
      child.once('exit', () => { clearTimeout(timer); reject(new Error('hammer exited')) })
    })
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    t.equal(child.signalCode, 'SIGKILL')
    const s = new Store({ file: storeFile(dir) })
    const n = checkInvariants(t, s)
    t.ok(n > total, `round ${round}: ${n} transactions committed`)
    total = n
    s.close()
  }
})
