// Assign flow: profile edits (as the config module's hot-reload events) lead to exactly one cycle.
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { MemoryJournal } from '../../src/power/journal.js'
import { PowerService } from '../../src/power/service.js'
import type { MachineConfig, PowerConfig } from '../../src/power/types.js'
import { FAST, ciscoSwitch, record } from './fixtures/helpers.js'
import { IosSimulator } from '../../src/lab/ios-sim.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('several rapid profile edits → one cycle; reverted edits, opt-outs and unpowered machines → none', async (t) => {
  const sim = new IosSimulator()
  await sim.start()
  t.teardown(() => sim.stop())
  const machines: Record<string, MachineConfig> = {
    'pi-03': { power: { switch: 'rack', port: 'Gi1/0/3' }, profile: 'a', cycle_on_assign: true },
    'pi-04': { power: { switch: 'rack', port: 'Gi1/0/4' }, profile: 'a', cycle_on_assign: false },
    'pc-01': { profile: 'a' },
    'pi-05': { power: { switch: 'rack', port: 'Gi1/0/5' }, profile: 'a' },
    'pi-08': { power: { switch: 'rack', port: 'Gi1/0/8' }, profile: 'a' },
  }
  const config: PowerConfig = { switches: { rack: ciscoSwitch(sim, { off_seconds: 0.2 }) }, machines }
  const svc = new PowerService({ config, journal: new MemoryJournal(), log: silentLogger(), cycler: FAST, assignDebounceMs: 300 })
  const events = record(svc.events)
  t.teardown(() => svc.stop())

  const edit = (machine: string, from: string, to: string) => {
    machines[machine] = { ...machines[machine]!, profile: to }
    svc.updateConfig({ ...config, machines })
    svc.onConfigChange({ type: 'machine.profile_changed', machine, from, to })
  }
  edit('pi-03', 'a', 'b')
  await sleep(100)
  edit('pi-03', 'b', 'c')
  await sleep(100)
  edit('pi-03', 'c', 'ubuntu')
  edit('pi-04', 'a', 'b') // cycle_on_assign: false
  edit('pc-01', 'a', 'b') // no power:
  edit('pi-05', 'a', 'b')
  edit('pi-05', 'b', 'a') // back where it started
  edit('pi-08', 'a', 'b') // protected port: refused, does not crash anything
  svc.onConfigChange({ type: 'machine.added', machine: 'pi-09' })

  // wait for the debounce and the cycle
  for (let i = 0; i < 100 && !events.some((e) => e.name === 'power.cycle.done'); i++) await sleep(100)
  await sleep(600) // a second cycle, if one were coming, would have started by now
  const started = events.filter((e) => e.name === 'power.cycle.started').map((e) => e.ev)
  t.same(started.map((e) => [e.machine, e.action, e.reason]), [['pi-03', 'cycle', 'profile changed: a → ubuntu']], 'exactly one cycle')
  t.equal(sim.log.filter((l) => l.line === 'power inline never').length, 1)
  t.equal(sim.log.filter((l) => l.line === 'power inline auto').length, 1)
  t.ok(events.some((e) => e.name === 'power.cycle.done' && e.ev.machine === 'pi-03'))
})

t.test('API assignment cycles at once and absorbs a pending edit of the same machine', async (t) => {
  const sim = new IosSimulator()
  await sim.start()
  t.teardown(() => sim.stop())
  const config: PowerConfig = {
    switches: { rack: ciscoSwitch(sim, { off_seconds: 0.2 }) },
    machines: { 'pi-03': { power: { switch: 'rack', port: 'Gi1/0/3' }, profile: 'b' }, 'pc-01': { profile: 'x' } },
  }
  const svc = new PowerService({ config, journal: new MemoryJournal(), log: silentLogger(), cycler: FAST, assignDebounceMs: 300 })
  const events = record(svc.events)
  t.teardown(() => svc.stop())
  svc.onConfigChange({ type: 'machine.profile_changed', machine: 'pi-03', from: 'a', to: 'b' })
  const out = await svc.assigned('pi-03', 'b')
  t.ok(out?.ok)
  t.equal(await svc.assigned('pc-01', 'x'), null, 'no power: → no cycle')
  // the API wrote the YAML: the reload reports the same change; it is not a second assignment
  svc.onConfigChange({ type: 'machine.profile_changed', machine: 'pi-03', from: 'a', to: 'b' })
  await sleep(600)
  t.equal(events.filter((e) => e.name === 'power.cycle.started').length, 1, 'one cycle in all')
  svc.onConfigChange({ type: 'machine.profile_changed', machine: 'pi-03', from: 'b', to: 'c' })
  for (let i = 0; i < 50 && events.filter((e) => e.name === 'power.cycle.done').length < 2; i++) await sleep(100)
  t.equal(events.filter((e) => e.name === 'power.cycle.started').length, 2, 'a later edit is a new assignment')
})
