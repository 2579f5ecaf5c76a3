// The snmp driver against Debian's snmpd with a pass_persist PoE table; snmpget confirms.
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { PowerCycler } from '../../src/power/cycler.js'
import { PETH_ADMIN_ENABLE, PETH_DETECTION_STATUS, SnmpDriver } from '../../src/power/drivers/snmp.js'
import { MemoryJournal } from '../../src/power/journal.js'
import type { SnmpSwitch } from '../../src/power/types.js'
import { FAST, record, secret } from './fixtures/helpers.js'
import { V3, startSnmpd, type Snmpd } from './fixtures/snmpd.js'

let snmpd: Snmpd
t.before(async () => { snmpd = await startSnmpd() })
t.teardown(() => snmpd?.stop())

const v2c = (over: Partial<SnmpSwitch> = {}): SnmpSwitch => ({
  driver: 'snmp', host: '127.0.0.1', port: snmpd.port, version: '2c', community: secret('private'),
  off_seconds: 0.3, on_verify_seconds: 5, timeout_seconds: 1, protected: ['1.8'], ports: { 'pi-rack-3': '1.3' }, ...over,
})

t.test('v2c: off and on through pethPsePortAdminEnable; snmpget confirms', async (t) => {
  const d = new SnmpDriver(v2c())
  t.teardown(() => d.release())
  t.same(await d.off('1.2'), { detail: `set ${PETH_ADMIN_ENABLE}.1.2 = 2` })
  t.equal(await snmpd.get(`${PETH_ADMIN_ENABLE}.1.2`), 2, 'snmpget: AdminEnable false(2)')
  t.equal(await snmpd.get(`${PETH_DETECTION_STATUS}.1.2`), 1, 'snmpget: DetectionStatus disabled(1)')
  t.match(await d.status('1.2'), { admin: 'off', oper: 'off' })
  await d.on('1.2')
  t.equal(await snmpd.get(`${PETH_ADMIN_ENABLE}.1.2`), 1, 'snmpget: AdminEnable true(1)')
})

t.test('v3 authPriv (SHA/AES), port given by name through ports:', async (t) => {
  const d = new SnmpDriver(v2c({ version: '3', community: undefined, username: V3.user, auth_protocol: 'sha', auth_key: secret(V3.auth), priv_protocol: 'aes', priv_key: secret(V3.priv) }))
  t.teardown(() => d.release())
  await d.off('pi-rack-3')
  t.equal(await snmpd.get(`${PETH_ADMIN_ENABLE}.1.3`), 2)
  await d.on('pi-rack-3')
  t.equal(await snmpd.get(`${PETH_ADMIN_ENABLE}.1.3`), 1)
  const wrong = new SnmpDriver(v2c({ version: '3', community: undefined, username: V3.user, auth_key: secret('not-the-key-1'), priv_key: secret(V3.priv), timeout_seconds: 1 }))
  t.teardown(() => wrong.release())
  await t.rejects(wrong.off('1.3'), /SNMP set to 127\.0\.0\.1/)
  t.equal(await snmpd.get(`${PETH_ADMIN_ENABLE}.1.3`), 1, 'a wrong key changes nothing')
})

t.test('a cycle through the cycler: off, verify, wait, on, verify (searching → deliveringPower)', async (t) => {
  const c = new PowerCycler({ journal: new MemoryJournal(), log: silentLogger(), ...FAST })
  c.setSwitches({ poe: v2c() })
  t.teardown(() => c.close())
  const events = record(c.events)
  const out = await c.cycle({ machine: 'pi-05', switch: 'poe', port: '1.5' }, 'test')
  t.ok(out.ok, out.reason ?? 'ok')
  t.match(out.state, { admin: 'on', oper: 'on', detail: '1.5 AdminEnable true(1), DetectionStatus deliveringPower(3)' })
  const verifyOn = events.find((e) => e.name === 'power.step' && e.ev.step === 'verify_on')!.ev
  t.ok((verifyOn.attempt as number) >= 3, 'polled through "searching" until delivering power')
  t.equal(await snmpd.get(`${PETH_ADMIN_ENABLE}.1.5`), 1)
  const prot = await c.switchOff({ switch: 'poe', port: '1.8' }, 'test')
  t.notOk(prot.ok)
  t.match(prot.reason, /protected/)
})

t.test('errors: read-only community, unknown index, bad port name, no agent', async (t) => {
  const ro = new SnmpDriver(v2c({ community: secret('public') }))
  t.teardown(() => ro.release())
  await t.rejects(ro.off('1.4'), { message: /SNMP set .*1\.4 on 127\.0\.0\.1|SNMP set to 127\.0\.0\.1/ })
  t.equal(await snmpd.get(`${PETH_ADMIN_ENABLE}.1.4`), 1)
  const d = new SnmpDriver(v2c())
  t.teardown(() => d.release())
  await t.rejects(d.off('1.99'), /SNMP set/)
  await t.rejects(d.off('Gi1/0/3'), /not a "group.port" PoE index/)
  const none = new SnmpDriver(v2c({ port: 9, timeout_seconds: 0.3 }))
  t.teardown(() => none.release())
  await t.rejects(none.status('1.1'), /RequestTimedOut|timed out/i)
})
