// `bootlab power …`: standalone with a configuration, and against a server through the API
// handler the HTTP module mounts (a minimal node:http server stands in for the real one here).
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { powerCommand, type LoadResult } from '../../src/cli/power.js'
import { silentLogger } from '../../src/log.js'
import { powerApi } from '../../src/power/api.js'
import { MemoryJournal } from '../../src/power/journal.js'
import { PowerService } from '../../src/power/service.js'
import type { PowerConfig } from '../../src/power/types.js'
import { FAST, ciscoSwitch } from './fixtures/helpers.js'
import { IosSimulator } from '../../src/lab/ios-sim.js'

const sim = new IosSimulator()
let config: PowerConfig
t.before(async () => {
  await sim.start()
  config = {
    switches: { rack: ciscoSwitch(sim, { off_seconds: 0.2 }) },
    machines: {
      'pi-03': { power: { switch: 'rack', port: 'Gi1/0/3' } },
      'pi-08': { power: { switch: 'rack', port: 'Gi1/0/8' } },
      'pc-01': {},
    },
  }
})
t.teardown(() => sim.stop())

async function run(argv: string[], load?: (f: string) => Promise<LoadResult>) {
  const out: string[] = []
  const err: string[] = []
  let code = -1
  const cmd = powerCommand({ loadConfig: load ?? (async () => ({ ok: true, config: { power: config } })), out: (l) => out.push(l), err: (l) => err.push(l), setExit: (c) => { code = c } })
  cmd.exitOverride()
  await cmd.parseAsync(argv, { from: 'user' })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

t.test('standalone: cycle, status, off/on, errors', async (t) => {
  let r = await run(['cycle', 'pi-03', '--config', 'x.yaml'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /ok {3}off {8}configure terminal \/ interface Gi1\/0\/3 \/ power inline never \/ end/)
  t.match(r.out, /pi-03 \(rack Gi1\/0\/3\): cycle done in \d+\.\d s — Gi1\/0\/3 Admin auto, Oper on/)
  r = await run(['off', 'pi-03', '--config', 'x.yaml', '--json'])
  t.equal(r.code, 0)
  t.match(JSON.parse(r.out), { ok: true, action: 'off', port_state: 'off' })
  r = await run(['status', 'pi-03', '--config', 'x.yaml'])
  t.match(r.out, /pi-03 \(rack Gi1\/0\/3, cisco-ios\): off — Gi1\/0\/3 Admin off, Oper off/)
  r = await run(['on', 'pi-03', '--config', 'x.yaml'])
  t.equal(r.code, 0)
  r = await run(['cycle', 'pi-08', '--config', 'x.yaml'])
  t.equal(r.code, 2)
  t.match(r.err, /Gi1\/0\/8 on rack is protected/)
  r = await run(['cycle', 'pc-01', '--config', 'x.yaml'])
  t.match(r.err, /machine "pc-01" has no power: section/)
  r = await run(['cycle', 'nope', '--config', 'x.yaml'])
  t.match(r.err, /no machine "nope"/)
  r = await run(['cycle', 'pi-03', '--config', 'bad.yaml'], async () => ({ ok: false, errors: ['bad.yaml:3:7: unknown key "swithces"'] }))
  t.equal(r.code, 1)
  t.match(r.err, /bad\.yaml:3:7/)
})

t.test('through a running server: POST/GET /api/machines/:name/power with the API token', async (t) => {
  const svc = new PowerService({ config, journal: new MemoryJournal(), log: silentLogger(), cycler: FAST })
  t.teardown(() => svc.stop())
  const server = http.createServer((req, res) => {
    const m = /^\/api\/machines\/([^/]+)\/power$/.exec(req.url ?? '')
    if (!m) { res.writeHead(404).end(); return }
    if (req.method !== 'GET' && req.headers.authorization !== 'Bearer T0KEN') {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"API token required"}')
      return
    }
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', async () => {
      const a = await powerApi(svc, req.method!, decodeURIComponent(m[1]!), body ? JSON.parse(body) : undefined)
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  let r = await run(['cycle', 'pi-03', '--server', url, '--token', 'T0KEN'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /pi-03 \(rack Gi1\/0\/3\): cycle done/)
  r = await run(['status', 'pi-03', '--server', url, '--json'])
  t.match(JSON.parse(r.out), { machine: 'pi-03', switch: 'rack', port: 'Gi1/0/3', driver: 'cisco-ios', state: { admin: 'on', oper: 'on' } })
  r = await run(['off', 'pi-03', '--server', url, '--token', 'wrong'])
  t.equal(r.code, 4)
  t.match(r.err, /401: API token required/)
  r = await run(['cycle', 'pi-08', '--server', url, '--token', 'T0KEN'])
  t.equal(r.code, 2)
  t.match(r.err, /protected/)
  r = await run(['cycle', 'pi-03', '--server', 'http://127.0.0.1:9'])
  t.equal(r.code, 4)
  t.match(r.err, /cannot reach the bootlab server/)

  t.match(await powerApi(svc, 'GET', 'nope'), { status: 404 })
  t.match(await powerApi(svc, 'POST', 'pi-03', { action: 'reboot' }), { status: 400 })
  t.match(await powerApi(svc, 'POST', 'pi-08', { action: 'off' }), { status: 403 })
  t.match(await powerApi(svc, 'POST', 'pc-01', { action: 'off' }), { status: 400 })
})
