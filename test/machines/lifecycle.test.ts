// Lifecycle details not covered by the scripted boot: hot reload without events, cycle_on_assign,
// removed machines, IP pairing for TFTP, event pruning.
import t from 'tap'
import { Store } from '../../src/store/store.js'
import { Lifecycle } from '../../src/machines/lifecycle.js'
import type { Config } from '../../src/boot/types.js'
import { silentLogger } from '../../src/log.js'
import { machine, profile } from '../http/fixtures/harness.js'

function config(profileOfA?: string, extra: Partial<Config['machines']> = {}): Config {
  return {
    server: { http: { port: 8080, listen: '0.0.0.0' }, unknown: 'discover', unknown_profile: 'discovery', state_dir: '/nonexistent', paths: { images: '/i', firmware: '/f', tftproot: '/t' } },
    switches: {},
    profiles: { inst: profile({ kernel: 'k', then: 'local' }), local: profile({ boot: 'local' }), discovery: profile({ boot: 'local' }) },
    machines: {
      a: machine('a', '02:00:00:00:00:0a', { profile: profileOfA, cycle_on_assign: true, power: { switch: 's', port: 'p1' } }),
      ...extra,
    } as Config['machines'],
  }
}

function setup(t: { teardown(fn: () => unknown): void }, cfg: Config) {
  const store = new Store({ file: ':memory:' })
  t.teardown(() => store.close())
  const state = { cfg }
  const lc = new Lifecycle({ store, getConfig: () => state.cfg, log: silentLogger() })
  lc.start()
  return { store, lc, state }
}

t.test('a swapped config object is reconciled even without a change event', async (t) => {
  const { lc, state } = setup(t, config())
  t.equal(lc.get('a')!.state, 'ready')
  state.cfg = config('inst')
  t.equal(lc.get('a')!.state, 'assigned', 'seen on the next read')
  lc.onConfigChange({ type: 'machine.profile_changed', machine: 'a', from: undefined, to: 'inst' })
  t.equal(lc.list()[0]!.deployment!.id, 1, 'the event does not start a second deployment')
})

t.test('power events: cycling, done, failed, manual; kept in power_ops', async (t) => {
  const { lc, store } = setup(t, config('inst'))
  const where = { switch: 's', port: 'p1' }
  lc.onPower('power.cycle.started', { ...where, machine: 'a', action: 'cycle', reason: 'profile changed' })
  t.equal(lc.get('a')!.state, 'cycling')
  lc.onPower('power.cycle.done', { ...where, machine: 'a', action: 'cycle' })
  t.equal(lc.get('a')!.state, 'cycling', 'stays cycling until the machine is seen netbooting')
  lc.onDhcp({ mac: '02:00:00:00:00:0a', kind: 'discover', class: 'rpi' })
  t.equal(lc.get('a')!.state, 'netbooting')
  lc.onConfigChange({ type: 'machine.profile_changed', machine: 'a', from: 'inst', to: 'inst' })
  lc.onPower('power.cycle.started', { ...where, machine: 'a', action: 'cycle', reason: 'API request' })
  lc.onPower('power.cycle.failed', { ...where, machine: 'a', action: 'cycle', reason: 'switch did not answer' })
  t.equal(lc.get('a')!.state, 'netbooting', 'a failed cycle of a netbooting machine changes nothing')
  lc.onPower('power.manual_required', { ...where, machine: 'a', action: 'cycle', message: 'switch port p1 by hand' })
  lc.onPower('power.cycle.started', { ...where, machine: 'ghost', action: 'cycle' })
  t.same(store.powerOps('a').map((o) => [o.action, o.outcome, o.error]), [['cycle', 'error', 'switch did not answer'], ['cycle', 'ok', null]])
  const types = lc.events({ machine: 'a', limit: 100 }).map((e) => e.type)
  t.ok(types.includes('power.manual'))
})

t.test('a failed cycle of an assigned machine → failed', async (t) => {
  const { lc } = setup(t, config('inst'))
  lc.onPower('power.cycle.started', { machine: 'a', action: 'cycle' })
  lc.onPower('power.cycle.failed', { machine: 'a', action: 'cycle', reason: 'port is protected' })
  const m = lc.get('a')!
  t.equal(m.state, 'failed')
  t.equal(m.state_reason, 'power cycle failed: port is protected')
})

t.test('start-up assigns; removed machines become discovered', async (t) => {
  const { lc, state } = setup(t, config('inst'))
  t.equal(lc.get('a')!.state, 'assigned')
  state.cfg = config(undefined)
  delete (state.cfg.machines as Record<string, unknown>).a
  lc.onConfigChange({ type: 'machine.removed', machine: 'a' })
  const m = lc.get('02:00:00:00:00:0a')!
  t.equal(m.configured, false)
  t.equal(m.state, 'discovered')
  t.equal(m.state_reason, 'removed from the config')
})

t.test('TFTP is paired by IP from DHCP, or by serial prefix', async (t) => {
  const { lc } = setup(t, config('inst', { b: machine('b', '02:00:00:00:00:0b', { serial: 'cafe0001', profile: 'inst' }) }))
  lc.onDhcp({ mac: '02:00:00:00:00:0a', kind: 'ack', ip: '10.0.0.10' })
  lc.onTftp({ clientIp: '10.0.0.10', file: 'ipxe.efi', outcome: 'ok', bytes: 1000 })
  t.equal(lc.get('a')!.netboot_step, 'tftp ipxe.efi')
  lc.onTftp({ clientIp: '10.0.0.99', file: 'cafe0001/start4.elf', outcome: 'ok', bytes: 1000 })
  const b = lc.get('b')!
  t.equal(b.state, 'netbooting')
  t.equal(b.ip, '10.0.0.99', 'the Pi\'s address learnt from its TFTP prefix')
  lc.onTftp({ clientIp: '10.0.0.200', file: 'nobody.bin', outcome: 'not_found' })
  t.equal(lc.list().length, 2, 'an unpaired TFTP client is not invented')
})

t.test('unknown: ignore records nothing', async (t) => {
  const cfg = config()
  cfg.server.unknown = 'ignore'
  const { lc } = setup(t, cfg)
  lc.onDhcp({ mac: '02:00:00:00:00:99', kind: 'discover' })
  t.equal(lc.get('02:00:00:00:00:99'), undefined)
  t.same(lc.booter.bootTarget({ mac: '02:00:00:00:00:99' }), { kind: 'ignored' })
})

t.test('event pruning keeps the newest', async (t) => {
  const { store } = setup(t, config())
  for (let i = 0; i < 50; i++) store.addEvent({ type: 'x', data: { i } })
  store.pruneEvents(10)
  const ev = store.events({ limit: 1000 })
  t.equal(ev.length, 10)
  t.equal(ev[0]!.data.i, 49)
})

t.test('DHCP server events map to lifecycle inputs', async (t) => {
  const { dhcpObservation } = await import('../../src/machines/inputs.js')
  t.same(dhcpObservation('discover', { mac: 'dc:a6:32:00:00:03', class: 'rpi', arch: 0, rpiSerial: '1a2b3c03', ip: null }),
    { mac: 'dc:a6:32:00:00:03', kind: 'discover', class: 'rpi', serial: '1a2b3c03', arch: 'rpi4' })
  t.same(dhcpObservation('ack', { mac: '52:54:00:00:00:01', class: 'ipxe', arch: 7, rpiSerial: null, ip: '10.0.0.9' }),
    { mac: '52:54:00:00:00:01', kind: 'ack', class: 'ipxe', ip: '10.0.0.9' })
})

t.test('unconfigured machines are capped: a MAC flood cannot grow the table', async (t) => {
  const store = new Store({ file: ':memory:' })
  t.teardown(() => store.close())
  const lc = new Lifecycle({ store, getConfig: () => config(), log: silentLogger(), discoveredMax: 3 })
  lc.start()
  for (let i = 0; i < 10; i++) lc.onDhcp({ mac: `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`, kind: 'discover', class: 'uefi-x64' })
  t.equal(lc.list().filter((m) => !m.configured).length, 3)
  t.equal(lc.discoveredRefused, 7)
  lc.onDhcp({ mac: '02:00:00:00:01:00', kind: 'request', class: 'uefi-x64' })
  t.equal(lc.get('02:00:00:00:01:00')!.state, 'discovered', 'the ones already recorded are still followed')
  lc.onDhcp({ mac: '02:00:00:00:00:0a', kind: 'discover', class: 'rpi' })
  t.ok(lc.get('a'), 'configured machines are never refused')
})
