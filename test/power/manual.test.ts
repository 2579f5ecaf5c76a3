// A manual "switch": bootlab asks a person and reports that it did; nothing is journaled.
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { MemoryJournal } from '../../src/power/journal.js'
import { PowerService } from '../../src/power/service.js'
import { record } from './fixtures/helpers.js'

t.test('manual: the cycle becomes a request to a person', async (t) => {
  const journal = new MemoryJournal()
  const svc = new PowerService({
    config: { switches: { desk: { driver: 'manual', protected: [] } }, machines: { 'nuc-1': { power: { switch: 'desk', port: 'nuc-1' } } } },
    journal, log: silentLogger(),
  })
  const events = record(svc.events)
  const out = await svc.cycle('nuc-1', 'profile assigned')
  t.match(out, { ok: true, manual: true, port_state: 'unknown' })
  t.match(events.find((e) => e.name === 'power.manual_required')?.ev, { machine: 'nuc-1', action: 'cycle', message: 'power-cycle nuc-1 by hand (switch desk is manual)' })
  t.notOk(events.some((e) => e.name === 'power.cycle.done'), 'not reported as done: the lifecycle waits for the machine to netboot')
  t.same(journal.list(), [])
  t.match(await svc.status('nuc-1'), { driver: 'manual', state: null })
})
