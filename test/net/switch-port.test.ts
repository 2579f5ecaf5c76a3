// Switch port names (moved from test/power/ios-parse.test.ts and test/config/load.test.ts, plus edge cases).
import t from 'tap'
import { canonicalPort, parsePortName, shortPort } from '../../src/net/switch-port.js'

t.test('interface names: long, short, spaced, case', async (t) => {
  t.equal(canonicalPort('Gi1/0/3'), 'gigabitethernet1/0/3')
  t.equal(canonicalPort('GigabitEthernet1/0/3'), 'gigabitethernet1/0/3')
  t.equal(canonicalPort('gi 1/0/3'), 'gigabitethernet1/0/3')
  t.equal(canonicalPort('Fa0/3'), 'fastethernet0/3')
  t.equal(canonicalPort('Te1/1/1'), 'tengigabitethernet1/1/1')
  t.equal(canonicalPort('Tw1/0/1'), 'twogigabitethernet1/0/1')
  t.not(canonicalPort('Gi0/3'), canonicalPort('Gi1/0/3'))
  t.equal(shortPort('GigabitEthernet1/0/3'), 'Gi1/0/3')
  t.equal(shortPort('FastEthernet0/12'), 'Fa0/12')
})

t.test('the config check and the driver see the same port (one parser)', async (t) => {
  t.equal(canonicalPort('Gi1/0/3'), canonicalPort('GigabitEthernet1/0/3'))
  t.not(canonicalPort('Gi1/0/3'), canonicalPort('Fa1/0/3'))
})

t.test('abbreviations: table abbreviation first, then any prefix in IOS order', async (t) => {
  t.equal(canonicalPort('Twe1/0/1'), 'twentyfivegige1/0/1', 'Twe is TwentyFiveGigE, not TwoGigabitEthernet')
  t.equal(canonicalPort('Fi1/0/1'), 'fivegigabitethernet1/0/1')
  t.equal(canonicalPort('Et0/1'), 'ethernet0/1')
  t.equal(canonicalPort('g1/0/3'), 'gigabitethernet1/0/3', 'one letter is a prefix too')
  t.equal(canonicalPort('Giga1/0/3'), 'gigabitethernet1/0/3')
  t.equal(canonicalPort('TenGig1/1/1'), 'tengigabitethernet1/1/1')
  t.equal(canonicalPort('f0/1'), 'fastethernet0/1', 'F: FastEthernet comes before FiveGigabitEthernet')
  t.equal(shortPort('TwentyFiveGigE1/1/1'), 'Twe1/1/1')
  t.equal(shortPort('tengigabitethernet 1/1/1'), 'Te1/1/1')
})

t.test('odd input: whitespace, unknown types, no type, empty', async (t) => {
  t.equal(canonicalPort('  GIGABITETHERNET  1/0/3 '), 'gigabitethernet1/0/3')
  t.equal(canonicalPort('Gigabit Ethernet 1/0/3'), 'gigabitethernet1/0/3', 'whitespace inside the type')
  t.equal(canonicalPort('Gi1/0/3\t'), 'gigabitethernet1/0/3')
  t.equal(canonicalPort('Port-channel1'), 'port-channel1', 'an unknown type is kept, lowercase')
  t.equal(shortPort('Port-channel1'), 'port-channel1')
  t.equal(canonicalPort('Vlan10'), 'vlan10')
  t.equal(canonicalPort('1/0/3'), '1/0/3', 'no type at all')
  t.equal(canonicalPort('7'), '7', 'a bare number (SNMP, webhook ports)')
  t.equal(canonicalPort(''), '')
  t.same(parsePortName('gi 1/0/3'), { type: 'GigabitEthernet', abbr: 'Gi', written: 'gi', number: '1/0/3' })
  t.same(parsePortName('Vlan10'), { type: undefined, abbr: undefined, written: 'vlan', number: '10' })
  t.same(parsePortName('3'), { type: undefined, abbr: undefined, written: '', number: '3' })
})
