// The per-machine `uefi:` key: valid settings reach the config; bad ones are reported with line:col.
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { formatIssue } from '../../src/config/types.js'
import { configJsonSchema } from '../../src/config/jsonschema.js'
import { settingsEdits } from '../../src/uefi/index.js'

const pi = (uefi: string): string => `server: { unknown: ignore }
machines:
  pi-01:
    mac: dc:a6:32:00:00:01
    serial: 1a2b3c01
    arch: rpi4
    uefi:
${uefi}`

t.test('a valid uefi: block reaches the machine and converts to edits', async (t) => {
  const r = parseConfig(pi(`      ram_limit_3gb: false
      system_table: devicetree
      boot_timeout: 0
      vars:
        "cd7cc258-31db-22e6-9f22-63b0b8eed6b5:FanOnGpio": "13000000"
        "3b9c5a52-6e0f-4d8e-9d47-0f5e3a1c2b7d:Gone": null
`), 'u.yaml')
  t.ok(r.ok, r.ok ? '' : r.errors.map(formatIssue).join('\n'))
  if (!r.ok) return
  const u = r.config.machines['pi-01']!.uefi!
  t.same(u, { ram_limit_3gb: false, system_table: 'devicetree', boot_timeout: 0, vars: { 'cd7cc258-31db-22e6-9f22-63b0b8eed6b5:FanOnGpio': '13000000', '3b9c5a52-6e0f-4d8e-9d47-0f5e3a1c2b7d:Gone': null } })
  t.same(settingsEdits(u).map((e) => `${e.op} ${e.name}`), ['set RamLimitTo3GB', 'set SystemTableMode', 'set Timeout', 'delete Gone', 'set FanOnGpio'])
  const none = parseConfig('server: { unknown: ignore }\nmachines:\n  pc:\n    mac: 00:11:22:33:44:55\n    arch: x86_64\n', 'n.yaml')
  t.ok(none.ok && none.config.machines.pc!.uefi === undefined, 'no uefi: → undefined (stock firmware)')
})

t.test('bad values are reported with line:column', async (t) => {
  const r = parseConfig(pi(`      ram_limit_3gb: nope
      system_table: dt
      boot_timeout: 70000
      colour: blue
      vars:
        "not-a-guid:X": "01"
        "3b9c5a52-6e0f-4d8e-9d47-0f5e3a1c2b7d:Y": "xyz"
        "cd7cc258-31db-22e6-9f22-63b0b8eed6b5:FanOnGpio": "13"
`), 'bad.yaml')
  t.notOk(r.ok)
  if (r.ok) return
  const text = r.errors.map(formatIssue).join('\n')
  t.match(text, /bad\.yaml:8:22 machines\.pi-01\.uefi\.ram_limit_3gb: /)
  t.match(text, /bad\.yaml:9:21 machines\.pi-01\.uefi\.system_table: /)
  t.match(text, /bad\.yaml:10:21 machines\.pi-01\.uefi\.boot_timeout: /)
  t.match(text, /bad\.yaml:\d+:\d+ machines\.pi-01\.uefi.*colour/)
  // refinements run once the shape is right: check the vars errors on their own
  const v = parseConfig(pi(`      boot_timeout: 3
      vars:
        "not-a-guid:X": "01"
        "3b9c5a52-6e0f-4d8e-9d47-0f5e3a1c2b7d:Y": "xyz"
        "cd7cc258-31db-22e6-9f22-63b0b8eed6b5:FanOnGpio": "13"
        "8be4df61-93ca-11d2-aa0d-00e098032b8c:Timeout": "0000"
`), 'vars.yaml')
  t.notOk(v.ok)
  if (v.ok) return
  const vt = v.errors.map(formatIssue).join('\n')
  t.match(vt, /vars\.yaml:10:\d+ machines\.pi-01\.uefi\.vars\.not-a-guid:X: must be "GUID:Name"/)
  t.match(vt, /vars\.yaml:11:\d+ .*: must be hex bytes/)
  t.match(vt, /vars\.yaml:12:\d+ .*FanOnGpio is a 4-byte little-endian integer in pftf/)
  t.match(vt, /vars\.yaml:13:\d+ .*Timeout is already set by boot_timeout; set it in one place/)
})

t.test('the JSON Schema describes uefi:', async (t) => {
  const s = JSON.stringify(configJsonSchema())
  t.match(s, /"ram_limit_3gb"/)
  t.match(s, /"devicetree"/)
})
