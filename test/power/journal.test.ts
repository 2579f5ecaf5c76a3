// Crash safety: the journal is written before the off command; a process killed mid-cycle
// leaves the port off, and the next start turns it back on and says so.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { PowerCycler } from '../../src/power/cycler.js'
import { MemoryJournal, SqliteJournal } from '../../src/power/journal.js'
import { PowerService } from '../../src/power/service.js'
import { Store } from '../../src/store/store.js'
import type { PowerDriver } from '../../src/power/types.js'
import { FAST, ciscoSwitch, record } from './fixtures/helpers.js'
import { IosSimulator } from '../../src/lab/ios-sim.js'

t.test('SqliteJournal: record, update, clear, list survive a reopen', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-journal-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'state.db')
  let store = new Store({ file })
  let j = new SqliteJournal(store.db)
  j.recordOff({ switch: 'rack', port: 'Gi1/0/3', machine: 'pi-03', reason: 'cycle', since: 1000 }, 'gigabitethernet1/0/3')
  j.recordOff({ switch: 'rack', port: 'GigabitEthernet1/0/3', machine: 'pi-03', reason: 'off', since: 2000 }, 'gigabitethernet1/0/3')
  j.recordOff({ switch: 'rack', port: 'Gi1/0/4', reason: 'cycle', since: 3000 }, 'gigabitethernet1/0/4')
  store.close()
  store = new Store({ file })
  j = new SqliteJournal(store.db)
  t.same(j.list(), [
    { switch: 'rack', port: 'GigabitEthernet1/0/3', machine: 'pi-03', reason: 'off', since: 2000 },
    { switch: 'rack', port: 'Gi1/0/4', reason: 'cycle', since: 3000 },
  ])
  j.clear('rack', 'gigabitethernet1/0/3')
  t.equal(j.list().length, 1)
  store.close()
})

t.test('the journal entry exists before the off command is sent', async (t) => {
  const journal = new MemoryJournal()
  const seen: number[] = []
  const driver: PowerDriver = {
    kind: 'command',
    canonicalPort: (p) => p,
    off: async () => { seen.push(journal.list().length); return { detail: 'off' } },
    on: async () => ({ detail: 'on' }),
    status: async () => null,
    release: async () => {},
  }
  const c = new PowerCycler({ journal, log: silentLogger(), ...FAST, makeDriver: () => driver })
  c.setSwitches({ s: { driver: 'command', on: ['x'], off: ['x'], off_seconds: 0, protected: [] } })
  const out = await c.switchOff({ switch: 's', port: 'p1' }, 'test')
  t.ok(out.ok)
  t.same(seen, [1], 'off ran with the entry already written')
  t.match(journal.list(), [{ switch: 's', port: 'p1', reason: 'off' }], 'an explicit off stays recorded')
  const back = await c.recover()
  t.match(back, [{ ok: true, detail: /left off: switched off on request/ }], 'recovery leaves requested-off ports off')
  await c.switchOn({ switch: 's', port: 'p1' }, 'test')
  t.equal(journal.list().length, 0)
})

t.test('kill -9 mid-cycle: the port is off; the next start turns it back on and reports it', async (t) => {
  const sim = new IosSimulator()
  await sim.start()
  t.teardown(() => sim.stop())
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'state.db')
  const sw = { ...ciscoSwitch(sim, { off_seconds: 60 }), password: undefined, password_plain: sim.opts.password }
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/cycle-child.ts', import.meta.url)), file, JSON.stringify(sw)], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const steps: string[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child never turned the port off; steps: ${steps.join(',')}`)), 30_000)
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ev = JSON.parse(line) as { step: string; ok: boolean }
      steps.push(`${ev.step}:${ev.ok}`)
      if (ev.step === 'verify_off' && ev.ok) { clearTimeout(timer); resolve() }
    })
  })
  const killed = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await killed
  t.equal(child.signalCode, 'SIGKILL')
  t.equal(sim.port_('Gi1/0/3').admin, 'off', 'the interrupted cycle left the port off')

  const store = new Store({ file })
  t.teardown(() => store.close())
  const journal = new SqliteJournal(store.db)
  t.match(journal.list(), [{ switch: 'rack', port: 'Gi1/0/3', machine: 'pi-03', reason: 'cycle' }])
  const svc = new PowerService({
    config: { switches: { rack: ciscoSwitch(sim) }, machines: { 'pi-03': { power: { switch: 'rack', port: 'Gi1/0/3' } } } },
    journal, log: silentLogger(), cycler: FAST,
  })
  const events = record(svc.events)
  t.teardown(() => svc.stop())
  const report = await svc.start()
  t.match(report, [{ switch: 'rack', port: 'Gi1/0/3', machine: 'pi-03', ok: true, detail: /turned back on \(left off by an interrupted cycle/ }])
  t.equal(sim.port_('Gi1/0/3').admin, 'auto')
  t.equal(sim.port_('Gi1/0/3').oper, 'on')
  t.equal(journal.list().length, 0)
  t.ok(events.some((e) => e.name === 'power.recovered' && e.ev.ok === true))
})
