// show power inline parsing across IOS 12.2 / 15.x / IOS XE layouts, error lines (interface names: test/net/switch-port.test.ts).
import t from 'tap'
import { findIosError, parsePowerInline, rowToStatus } from '../../src/power/drivers/ios-parse.js'

const IOS15_FULL = `Module   Available     Used     Remaining
          (Watts)     (Watts)    (Watts)
------   ---------   --------   ---------
1           370.0       21.0       349.0
Interface Admin  Oper       Power   Device              Class Max
                            (Watts)
--------- ------ ---------- ------- ------------------- ----- ----
Gi1/0/1   auto   on         5.6     Ieee PD             4     30.0
Gi1/0/2   auto   on         15.4    IP Phone 7962       3     30.0
Gi1/0/3   auto   off        0.0     n/a                 n/a   30.0
Gi1/0/4   off    off        0.0     n/a                 n/a   30.0
Gi1/0/5   auto   power-deny 0.0     Ieee PD             4     30.0
Gi1/0/6   static faulty     0.0     n/a                 n/a   30.0
Gi1/0/7   auto   off        0.0
--------- ------ ---------- ------- ------------------- ----- ----
Totals:          2    on    21.0
`

const IOS122 = `Available:370.0(w)  Used:55.6(w)  Remaining:314.4(w)

Interface Admin  Oper       Power   Device              Class Max
                            (Watts)
--------- ------ ---------- ------- ------------------- ----- ----
Fa0/1     auto   on         15.4    Ieee PD             0     15.4
Fa0/12    auto   off        0.0     n/a                 n/a   15.4
`

const XE_SINGLE = `Interface Admin  Oper       Power   Device              Class Max
                            (Watts)
--------- ------ ---------- ------- ------------------- ----- ----
Gi2/0/5   auto   on         5.6     Ieee PD             4     30.0

Interface  AdminPowerMax   AdminConsumption
             (Watts)           (Watts)
---------- --------------- --------------------
Gi2/0/5              30.0                 30.0
`

t.test('IOS 15 full table: Admin and Oper of each row', async (t) => {
  t.same(rowToStatus(parsePowerInline(IOS15_FULL, 'GigabitEthernet1/0/1')!), { admin: 'on', oper: 'on', detail: 'Gi1/0/1 Admin auto, Oper on' })
  t.match(rowToStatus(parsePowerInline(IOS15_FULL, 'Gi1/0/2')!), { admin: 'on', oper: 'on' }, 'device name with spaces')
  t.match(rowToStatus(parsePowerInline(IOS15_FULL, 'Gi1/0/3')!), { admin: 'on', oper: 'off' }, 'enabled, nothing drawing power')
  t.match(rowToStatus(parsePowerInline(IOS15_FULL, 'Gi1/0/4')!), { admin: 'off', oper: 'off' })
  t.match(rowToStatus(parsePowerInline(IOS15_FULL, 'Gi1/0/5')!), { admin: 'on', oper: 'off' }, 'power-deny')
  t.match(rowToStatus(parsePowerInline(IOS15_FULL, 'Gi1/0/6')!), { admin: 'on', oper: 'off' }, 'static + faulty')
  t.match(rowToStatus(parsePowerInline(IOS15_FULL, 'Gi1/0/7')!), { admin: 'on', oper: 'off' }, 'truncated row')
  t.equal(parsePowerInline(IOS15_FULL, 'Gi1/0/9'), null)
  t.equal(parsePowerInline(IOS15_FULL, 'Gi2/0/1'), null)
})

t.test('IOS 12.2 budget line and Fa names; IOS XE second table is skipped', async (t) => {
  t.match(rowToStatus(parsePowerInline(IOS122, 'FastEthernet0/1')!), { admin: 'on', oper: 'on' })
  t.match(rowToStatus(parsePowerInline(IOS122, 'Fa0/12')!), { admin: 'on', oper: 'off' })
  t.equal(parsePowerInline(IOS122, 'Fa0/2'), null, 'Fa0/2 is not Fa0/12')
  t.same(parsePowerInline(XE_SINGLE, 'Gi2/0/5'), { iface: 'Gi2/0/5', admin: 'auto', oper: 'on' })
  t.equal(parsePowerInline('Gi2/0/5              30.0                 30.0\n', 'Gi2/0/5'), null, 'AdminPowerMax row alone is not a state')
})

t.test('error lines versus syslog lines', async (t) => {
  t.equal(findIosError("                 ^\n% Invalid input detected at '^' marker.\n"), "% Invalid input detected at '^' marker.")
  t.equal(findIosError('% Ambiguous command:  "int"'), '% Ambiguous command:  "int"')
  t.equal(findIosError('% Incomplete command.\n'), '% Incomplete command.')
  t.equal(findIosError('Command rejected: power inline static: pwr not available'), 'Command rejected: power inline static: pwr not available')
  t.equal(findIosError('%ILPOWER-5-POWER_GRANTED: Interface Gi1/0/5: Power granted'), null)
  t.equal(findIosError('*Mar  1 00:12:41.337: %SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.0.0.2)'), null)
  t.equal(findIosError('Enter configuration commands, one per line.  End with CNTL/Z.'), null)
})
