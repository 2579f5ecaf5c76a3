// The command driver: argv without a shell, {port}/{action}, exit status and a short reason in events.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { PowerCycler } from '../../src/power/cycler.js'
import { MemoryJournal } from '../../src/power/journal.js'
import type { CommandSwitch } from '../../src/power/types.js'
import { FAST, record } from './fixtures/helpers.js'

// a fake "power tool": node -e <code> <state dir> <port> <action>
const TOOL = `
const [dir, port, action] = process.argv.slice(1)
const fs = require('node:fs'), path = require('node:path')
const file = path.join(dir, encodeURIComponent(port))
if (action === 'status') { console.log('port ' + port + ' power: ' + (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : 'on')); process.exit(0) }
if (port === 'broken') { console.error('relay 7 does not answer'); process.exit(3) }
if (port === 'slow') setTimeout(() => {}, 60000)
else { fs.writeFileSync(file, action); console.log('ok ' + action) }
`

// the test runner's loader hooks would slow every `node -e` child down
delete process.env.NODE_OPTIONS

t.test('command driver cycles, verifies with status_on_regex, and never uses a shell', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-cmd-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const argv = (action: string) => [process.execPath, '-e', TOOL, dir, '{port}', action]
  const sw: CommandSwitch = {
    driver: 'command', on: argv('on'), off: argv('{action}'), status: argv('status'), status_on_regex: 'power: on',
    timeout_seconds: 15, off_seconds: 0.2, protected: [],
  }
  const noStatus: CommandSwitch = { ...sw, status: undefined }
  const impatient: CommandSwitch = { ...sw, timeout_seconds: 1 }
  const c = new PowerCycler({ journal: new MemoryJournal(), log: silentLogger(), ...FAST, retries: 0 })
  c.setSwitches({ plug: sw, blind: noStatus, impatient })
  t.teardown(() => c.close())
  const events = record(c.events)

  const out = await c.cycle({ switch: 'plug', port: 'usb-2' }, 'test')
  t.ok(out.ok, out.reason ?? 'ok')
  t.equal(readFileSync(join(dir, 'usb-2'), 'utf8'), 'on')
  const off = events.find((e) => e.name === 'power.step' && e.ev.step === 'off')!.ev
  t.equal(off.detail, 'node (off) exited 0', 'the program and its exit status in the event; no arguments, no output')
  t.match(events.find((e) => e.ev.step === 'verify_off')!.ev.detail, /\(status\) exited 0 → off/)

  const evil = '$(touch pwned); touch pwned2'
  const r = await c.switchOff({ switch: 'plug', port: evil }, 'test')
  t.ok(r.ok)
  t.equal(readFileSync(join(dir, encodeURIComponent(evil)), 'utf8'), 'off', 'the port name reached the tool verbatim')
  t.notOk(existsSync('pwned') || existsSync('pwned2') || existsSync(join(dir, 'pwned')), 'nothing was run by a shell')

  const bad = await c.switchOff({ switch: 'plug', port: 'broken' }, 'test')
  t.notOk(bad.ok)
  t.match(bad.reason, /node \(off\) exited 3: relay 7 does not answer/)
  const slow = await c.switchOff({ switch: 'impatient', port: 'slow' }, 'test')
  t.notOk(slow.ok)
  t.match(slow.reason, /did not finish within 1 s and was killed/)

  const blind = await c.cycle({ switch: 'blind', port: 'usb-3' }, 'test')
  t.ok(blind.ok)
  t.match(events.filter((e) => e.ev.port === 'usb-3' && e.ev.step === 'verify_on').map((e) => e.ev.detail), [/cannot report port state; not verified/])
})

t.test('a missing program is a configuration error, not retried', async (t) => {
  const c = new PowerCycler({ journal: new MemoryJournal(), log: silentLogger(), ...FAST })
  c.setSwitches({ x: { driver: 'command', on: ['/nonexistent/bootlab-tool', '{port}'], off: ['/nonexistent/bootlab-tool'], protected: [] } })
  const events = record(c.events)
  const out = await c.switchOn({ switch: 'x', port: 'p' }, 'test')
  t.notOk(out.ok)
  t.equal(out.reason, 'command not found: /nonexistent/bootlab-tool')
  t.equal(events.filter((e) => e.name === 'power.step').length, 1)
})
