// Power drivers as the last line of defence (issue 13): no injected IOS commands, no credentials
// in events, no token over plain http, no inherited properties as ports or machines.
import t from 'tap'
import http from 'node:http'
import { silentLogger } from '../../src/log.js'
import { PowerCycler } from '../../src/power/cycler.js'
import { CiscoIosDriver } from '../../src/power/drivers/cisco-ios.js'
import { CommandDriver, redactedReason } from '../../src/power/drivers/command.js'
import { IosShell } from '../../src/power/drivers/ios-shell.js'
import { SnmpDriver } from '../../src/power/drivers/snmp.js'
import { WebhookDriver } from '../../src/power/drivers/webhook.js'
import { MemoryJournal } from '../../src/power/journal.js'
import { PowerService } from '../../src/power/service.js'
import { PowerError, type CommandSwitch } from '../../src/power/types.js'
import { FAST, ciscoSwitch, record, secret } from './fixtures/helpers.js'
import { IosSimulator } from '../../src/lab/ios-sim.js'

delete process.env.NODE_OPTIONS

const INJECT = 'Gi1/0/4\ninterface Gi1/0/48\npower inline never'

t.test('item 4: the cisco-ios driver and the shell refuse injected lines; nothing reaches the switch', async (t) => {
  const sim = new IosSimulator({})
  await sim.start()
  t.teardown(() => sim.stop())
  const d = new CiscoIosDriver(ciscoSwitch(sim), silentLogger())
  t.teardown(() => d.release())
  await t.rejects(d.off(INJECT), { name: 'PowerError', kind: 'config' })
  await t.rejects(d.status('Gi1/0/3 ; reload'), { name: 'PowerError', kind: 'config' })
  const shell = await IosShell.open(ciscoSwitch(sim), silentLogger())
  t.teardown(() => shell.close())
  await t.rejects(shell.send('show power inline Gi1/0/3\nreload'), { name: 'PowerError', kind: 'config' })
  t.notOk(sim.log.some((l) => /Gi1\/0\/48|reload/.test(l.line)), 'no injected line reached the switch')
  t.equal(sim.port_('Gi1/0/4').admin, 'auto', 'the port was not touched')
})

t.test('item 20: command argv, stdout and stderr stay out of events; {secret:…} and environment', async (t) => {
  const tool = `
    const [port, action] = process.argv.slice(1)
    if (process.env.PLUG_TOKEN !== 'tok-from-env-123') { console.error('bad token ' + process.env.PLUG_TOKEN); process.exit(9) }
    if (port === 'broken') { console.error('login as admin:hunter2-pw@plug failed, password=hunter2-pw'); process.exit(3) }
    console.log('ok ' + action + ' with ' + process.argv.slice(3).join(' '))`
  const argv = (action: string) => [process.execPath, '-e', tool, '{port}', action, '--password', '{secret:pw}']
  const sw: CommandSwitch = {
    driver: 'command', on: argv('on'), off: argv('off'), protected: [], off_seconds: 0,
    secrets: { pw: secret('hunter2-pw'), token: secret('tok-from-env-123') },
    environment: { PLUG_TOKEN: '{secret:token}' },
  }
  const c = new PowerCycler({ journal: new MemoryJournal(), log: silentLogger(), ...FAST, retries: 0 })
  c.setSwitches({ plug: sw })
  t.teardown(() => c.close())
  const events = record(c.events)
  const ok = await c.switchOff({ switch: 'plug', port: 'usb-2' }, 'test')
  t.ok(ok.ok, ok.reason ?? 'ok: the secret reached the environment')
  const bad = await c.switchOff({ switch: 'plug', port: 'broken' }, 'test')
  t.notOk(bad.ok)
  t.match(bad.reason, /\(off\) exited 3/)
  const all = JSON.stringify(events) + JSON.stringify(bad)
  t.notMatch(all, /hunter2/, 'the secret is in no event')
  t.notMatch(all, /--password/, 'the arguments are in no event')
  t.notMatch(all, /ok off with/, 'stdout is in no event')
  t.match(all, /node \(off\) exited 0/)
  // an undefined secret is a config error before anything runs
  const d = new CommandDriver({ ...sw, on: [process.execPath, '{secret:nope}'] })
  await t.rejects(d.on('usb-2'), { kind: 'config', message: /\{secret:nope\} is not defined/ })
  await t.rejects(d.on('usb\n2'), { name: 'PowerError', kind: 'config' })
  t.equal(redactedReason('x\nssh: connect to https://bob:pw1234@h failed token=abcd Bearer xyz1\n', ['pw1234']), 'ssh: connect to https://[redacted]@h failed token=[redacted] Bearer [redacted]')
})

t.test('item 21: the webhook driver refuses a token over plain http to another host', async (t) => {
  let hits = 0
  const server = http.createServer((_req, res) => { hits++; res.end('{"status": "running"}') })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const mk = (host: string, allow?: boolean) => new WebhookDriver({
    driver: 'webhook', protected: [], token: secret('tok'), ...(allow ? { allow_insecure: true } : {}),
    on: { url: `http://${host}:${port}/on` }, off: { url: `http://${host}:${port}/off` },
  })
  await t.rejects(mk('plug.invalid').on('1'), { kind: 'config', message: /plain http/ })
  t.equal(hits, 0)
  await t.resolves(mk('127.0.0.1').on('1'), 'loopback is fine')
  await t.rejects(mk('localhost.invalid', true).on('1'), { name: 'PowerError', kind: 'connect' }, 'allow_insecure lets it try')
})

t.test('item 5: inherited names are neither machines nor SNMP ports', async (t) => {
  const snmp = new SnmpDriver({ driver: 'snmp', host: '127.0.0.1', version: '2c', protected: [], ports: { pi: '1.3' } })
  t.equal(snmp.index('pi'), '1.3')
  t.throws(() => snmp.index('toString'), PowerError)
  t.throws(() => snmp.index('constructor'), PowerError)
  const svc = new PowerService({ config: { switches: {}, machines: {} }, journal: new MemoryJournal(), log: silentLogger() })
  t.teardown(() => svc.stop())
  t.throws(() => svc.target('toString'), { kind: 'config', message: /no machine "toString"/ })
  t.throws(() => svc.target('constructor'), { name: 'PowerError', kind: 'config' })
})
