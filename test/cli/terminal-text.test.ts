// Control characters from the network never reach the terminal (issue 13 item 16).
import t from 'tap'
import { terminalText } from '../../src/cli/terminal-text.js'
import { machineRows } from '../../src/cli/machines.js'
import type { MachineView } from '../../src/machines/lifecycle.js'

t.test('escape sequences, controls and bidi overrides are removed or replaced', async (t) => {
  t.equal(terminalText('pi-03'), 'pi-03')
  t.equal(terminalText('a\u001b[2J\u001b[31mred\u001b[0m'), 'ared')
  t.equal(terminalText('x\u001b]0;pwned title\u0007y'), 'xy', 'OSC (window title) removed')
  t.equal(terminalText('x\u001b]52;c;ZXZpbA==\u001b\\y'), 'xy', 'OSC 52 (clipboard) removed')
  t.equal(terminalText('line1\nline2\r\u0008\u007f'), 'line1?line2???')
  t.equal(terminalText('\u009b2Jz'), 'z', 'C1 CSI')
  t.equal(terminalText('abc\u202edcba'), 'abc?dcba', 'right-to-left override')
  t.equal(terminalText('Ünïcødé ✓'), 'Ünïcødé ✓', 'printable Unicode is kept')
})

t.test('bootlab machines rows carry no control characters', async (t) => {
  const m: MachineView = {
    name: null, mac: '02:00:00:00:00:01', serial: null, arch: 'x86\u001b[2J', ip: '10.0.0.5', configured: false,
    state: 'netbooting', state_reason: 'boom\u001b]0;x\u0007', state_since: new Date().toISOString(), netboot_step: 'ipxe\r\nFAKE LINE',
    profile: null, boot_profile: 'discovery\u0007', applied_profile: null, deployed_at: null, deployment: null, power: false,
    first_seen: null, last_seen: null,
  }
  const rows = machineRows([m])
  // eslint-disable-next-line no-control-regex
  t.notOk(rows.flat().some((c) => /[\u0000-\u001f\u007f-\u009f]/.test(c)), JSON.stringify(rows))
  t.equal(rows[0]![3], 'netbooting (ipxe??FAKE LINE)')
})
