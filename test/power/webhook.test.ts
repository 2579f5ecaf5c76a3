// The webhook driver against a local HTTPS server with a certificate made by openssl at test
// time: untrusted unless its CA is configured (TLS verification stays on); MAAS-style answers.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { silentLogger } from '../../src/log.js'
import { PowerCycler } from '../../src/power/cycler.js'
import { MemoryJournal } from '../../src/power/journal.js'
import type { WebhookSwitch } from '../../src/power/types.js'
import { FAST, record, secret } from './fixtures/helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'bootlab-webhook-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=bootlab test CA')
ssl('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1')
writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n')
ssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '1', '-extfile', 'ext')

const state = new Map<string, 'running' | 'stopped'>()
const requests: Array<{ method: string; url: string; auth: string | undefined; body: string }> = []
const server = https.createServer({ key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.crt')) }, (req, res) => {
  let body = ''
  req.on('data', (d: Buffer) => { body += d.toString() })
  req.on('end', () => {
    requests.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body })
    const m = /^\/power\/([^/]+)\/(on|off|status)$/.exec(req.url!)
    if (!m) { res.writeHead(404).end('no such thing'); return }
    const port = decodeURIComponent(m[1]!)
    if (port === 'flaky') { res.writeHead(503).end('busy'); return }
    if (m[2] === 'status') { res.end(`{"status" : "${state.get(port) ?? 'running'}"}`); return }
    state.set(port, m[2] === 'on' ? 'running' : 'stopped')
    res.end('{"ok": true}')
  })
})
let base = ''
t.before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
})
t.teardown(() => new Promise<void>((r) => server.close(() => r())))

const hook = (over: Partial<WebhookSwitch> = {}): WebhookSwitch => ({
  driver: 'webhook',
  on: { url: `${base}/power/{port}/on`, method: 'POST', headers: { 'x-action': '{action}' }, body: '{"port":"{port}"}' },
  off: { url: `${base}/power/{port}/off` },
  status: { url: `${base}/power/{port}/status`, method: 'GET' },
  token: secret('tok-Zq81'), timeout_seconds: 2, off_seconds: 0.2, protected: [], ...over,
})

t.test('an untrusted certificate is refused; nothing reaches the server', async (t) => {
  const c = new PowerCycler({ journal: new MemoryJournal(), log: silentLogger(), ...FAST })
  c.setSwitches({ plug: hook() })
  const out = await c.cycle({ switch: 'plug', port: 'pi-1' }, 'test')
  t.notOk(out.ok)
  t.match(out.reason, /TLS certificate not trusted .*give the endpoint's CA in ca_file/)
  t.equal(out.port_state, 'unchanged')
  t.equal(requests.length, 0)
})

t.test('with the CA configured: a MAAS-style cycle with bearer token, verified by the status regex', async (t) => {
  const c = new PowerCycler({ journal: new MemoryJournal(), log: silentLogger(), ...FAST })
  c.setSwitches({ plug: hook({ ca_file: join(dir, 'ca.crt') }) })
  const events = record(c.events)
  const out = await c.cycle({ switch: 'plug', port: 'pi 1/a' }, 'test')
  t.ok(out.ok, out.reason ?? 'ok')
  t.same(requests.map((r) => `${r.method} ${r.url}`), [
    'POST /power/pi%201%2Fa/off', 'GET /power/pi%201%2Fa/status', 'POST /power/pi%201%2Fa/on', 'GET /power/pi%201%2Fa/status',
  ])
  t.ok(requests.every((r) => r.auth === 'Bearer tok-Zq81'))
  t.equal(requests[2]!.body, '{"port":"pi 1/a"}')
  t.match(events.find((e) => e.ev.step === 'verify_off')!.ev.detail, /stopped.*\(off\)/)
  t.notOk(JSON.stringify(events).includes('tok-Zq81'), 'the token is not in events')
  const flaky = await c.switchOff({ switch: 'plug', port: 'flaky' }, 'test')
  t.notOk(flaky.ok)
  t.match(flaky.reason, /HTTP 503/)
  t.equal(events.filter((e) => e.name === 'power.step' && e.ev.port === 'flaky').length, 2, '5xx is retried')
  c.setSwitches({ plug: hook({ ca_file: join(dir, 'ca.crt'), off: { url: `${base}/nope/{port}` } }) })
  const missing = await c.switchOff({ switch: 'plug', port: 'x' }, 'test')
  t.match(missing.reason, /HTTP 404/)
})
