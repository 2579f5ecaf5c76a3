// JSON API: auth on mutations (401/403), assign persisted in the YAML (comments kept) and picked up
// like a hand edit, power delegation, no secrets in responses.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { startHarness, type Harness } from './fixtures/harness.js'
import { labConfig, PI_MAC } from './fixtures/lab-config.js'
import { createYamlAssigner } from '../../src/machines/yaml-assign.js'

const YAML = `# lab config
machines:
  pi-03:   # the Pi in slot 3
    mac: ${PI_MAC}
    profile: ubuntu-install   # reinstall by changing this
  pc-01:
    mac: 52:54:00:12:34:56
`

// a stand-in for src/power with the same contract (powerApi() status codes, PowerService.assigned())
interface FakePower { calls: string[]; fail?: boolean }

function setup(t: { teardown(fn: () => unknown): void }, power?: FakePower): Promise<Harness> {
  return startHarness({
    config: (d) => {
      const c = labConfig(d)
      c.machines['pi-03']!.power = { switch: 'rack', port: 'Gi1/0/3' }
      c.machines['pi-03']!.cycle_on_assign = true
      c.switches = { rack: { driver: 'cisco-ios', password: 'hunter2' } }
      return c
    },
    power: power && {
      api: async (method, machine, body) => {
        const action = (body as { action?: string } | undefined)?.action
        power.calls.push(`${method} ${machine}${action ? ' ' + action : ''}`)
        if (method === 'GET') return { status: 200, body: { machine, switch: 'rack', port: 'Gi1/0/3', state: 'on' } }
        if (power.fail) return { status: 502, body: { ok: false, action, machine, reason: 'switch unreachable' } }
        return { status: 200, body: { ok: true, action, machine, switch: 'rack', port: 'Gi1/0/3' } }
      },
      assigned: async (machine, profile) => {
        power.calls.push(`assigned ${machine} ${profile}`)
        return null
      },
    },
    // the YAML file is the source of truth; "reload" re-reads it like the config loader would
    persistAssign: (h) => {
      const file = join(h.dir, 'bootlab.yaml')
      writeFileSync(file, YAML)
      return createYamlAssigner({
        configPath: file,
        reload: async () => {
          const y = parse(readFileSync(file, 'utf8')) as { machines: Record<string, { profile?: string }> }
          for (const [name, m] of Object.entries(y.machines)) {
            const cur = h.config.machines[name]
            if (cur && cur.profile !== m.profile) {
              const from = cur.profile
              cur.profile = m.profile
              h.lifecycle.onConfigChange({ type: 'machine.profile_changed', machine: name, from, to: m.profile })
            }
          }
        },
      })
    },
  }).then((h) => {
    t.teardown(() => h.close())
    return h
  })
}

async function call(h: Harness, method: string, path: string, body?: unknown, auth?: string): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (auth !== undefined) headers.authorization = auth
  const r = await fetch(h.baseUrl + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await r.text()
  let json: Record<string, unknown> = {}
  try { json = JSON.parse(text) as Record<string, unknown> } catch {}
  return { status: r.status, json, text }
}

t.test('mutations need the bearer token', async (t) => {
  const power: FakePower = { calls: [] }
  const h = await setup(t, power)
  for (const [path, body] of [['/api/machines/pi-03/assign', { profile: 'local' }], ['/api/machines/pi-03/power', { action: 'cycle' }]] as const) {
    let r = await call(h, 'POST', path, body)
    t.equal(r.status, 401, `${path} without Authorization`)
    t.equal(r.json.error, 'authorization required')
    r = await call(h, 'POST', path, body, 'Bearer wrong-token')
    t.equal(r.status, 403, `${path} with a wrong token`)
    r = await call(h, 'POST', path, body, `Basic ${h.token}`)
    t.equal(r.status, 403, `${path} with another scheme`)
    r = await call(h, 'POST', path, body, `Bearer ${h.token}x`)
    t.equal(r.status, 403, `${path} with a longer token`)
  }
  t.same(power.calls, [], 'nothing was powered')
  t.equal(h.lifecycle.get('pi-03')!.profile, 'ubuntu-install', 'nothing was assigned')
})

t.test('reads: machines, one machine, profiles, events — and no secrets', async (t) => {
  const h = await setup(t)
  await fetch(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}`)
  // machine details are not for every device on the LAN: the token (or a status page session) is needed
  for (const path of ['/api/machines', '/api/machines/pi-03', '/api/profiles', '/api/events']) {
    t.equal((await call(h, 'GET', path)).status, 401, `${path} without the token`)
    t.equal((await call(h, 'GET', path, undefined, 'Bearer wrong')).status, 403, `${path} with a wrong token`)
  }
  const auth = `Bearer ${h.token}`
  const ms = await call(h, 'GET', '/api/machines', undefined, auth)
  t.equal(ms.status, 200)
  const names = (ms.json.machines as { name: string }[]).map((m) => m.name).sort()
  t.same(names, ['pc-01', 'pi-03'])
  const one = await call(h, 'GET', '/api/machines/pi-03', undefined, auth)
  t.equal((one.json.machine as { state: string }).state, 'netbooting')
  t.ok((one.json.events as unknown[]).length > 0)
  t.equal((await call(h, 'GET', `/api/machines/${PI_MAC}`, undefined, auth)).status, 200, 'by MAC too')
  t.equal((await call(h, 'GET', '/api/machines/nope', undefined, auth)).status, 404)
  const ps = await call(h, 'GET', '/api/profiles', undefined, auth)
  t.same((ps.json.profiles as { name: string; kind: string }[]).map((p) => [p.name, p.kind]), [
    ['ubuntu-install', 'kernel'], ['ubuntu-live', 'kernel'], ['local', 'local'], ['discovery', 'local'],
  ])
  const ev = await call(h, 'GET', '/api/events?machine=pi-03&limit=3', undefined, auth)
  t.equal((ev.json.events as unknown[]).length, 3)
  for (const r of [ms, one, ps, ev]) {
    t.notMatch(r.text, /[0-9a-f]{32}/, 'no boot token')
    t.notMatch(r.text, /hunter2/, 'no switch password')
    t.notMatch(r.text, new RegExp(h.token), 'no API token')
  }
})

t.test('assign: YAML edited in place, reload picks it up, power module told once', async (t) => {
  const power: FakePower = { calls: [] }
  const h = await setup(t, power)
  const auth = `Bearer ${h.token}`
  let r = await call(h, 'POST', '/api/machines/pi-03/assign', { profile: 'nope' }, auth)
  t.equal(r.status, 400)
  r = await call(h, 'POST', '/api/machines/ghost/assign', { profile: 'local' }, auth)
  t.equal(r.status, 404)
  r = await call(h, 'POST', '/api/machines/pi-03/assign', '{not json', auth)
  t.equal(r.status, 400)
  r = await call(h, 'POST', '/api/machines/pc-01/assign', { profile: 'local', cycle: true }, auth)
  t.equal(r.status, 409, 'cycle without power control')

  const before = h.lifecycle.get('pi-03')!.deployment!.id
  r = await call(h, 'POST', '/api/machines/pi-03/assign', { profile: 'ubuntu-live' }, auth)
  t.equal(r.status, 200, r.text)
  t.equal(r.json.power, 'cycling')
  const yaml = readFileSync(join(h.dir, 'bootlab.yaml'), 'utf8')
  t.equal(yaml, YAML.replace('profile: ubuntu-install   # reinstall', 'profile: ubuntu-live   # reinstall'), 'only the profile changed; comments kept')
  const m = h.lifecycle.get('pi-03')!
  t.equal(m.profile, 'ubuntu-live')
  t.ok(m.deployment!.id > before)
  t.same(power.calls, ['assigned pi-03 ubuntu-live'], 'the power module decides about the cycle, once')

  // assigning the same profile again = reinstall: a new deployment (new instance-id)
  r = await call(h, 'POST', '/api/machines/pi-03/assign', { profile: 'ubuntu-live' }, auth)
  t.equal(r.status, 200)
  t.ok((r.json.deployment as number) > m.deployment!.id)
  t.equal(h.lifecycle.get('pi-03')!.state, 'assigned')

  // cycle_on_assign: false → no cycle, unless --cycle
  h.config.machines['pi-03']!.cycle_on_assign = false
  power.calls.length = 0
  r = await call(h, 'POST', '/api/machines/pi-03/assign', { profile: 'local' }, auth)
  t.equal(r.json.power, 'none')
  r = await call(h, 'POST', '/api/machines/pi-03/assign', { profile: 'ubuntu-live', cycle: true }, auth)
  t.equal(r.json.power, 'cycling')
  t.same(power.calls, ['POST pi-03 cycle'])
})

t.test('power: delegated to the power module', async (t) => {
  const power: FakePower = { calls: [], fail: false }
  const h = await setup(t, power)
  const auth = `Bearer ${h.token}`
  let r = await call(h, 'POST', '/api/machines/pi-03/power', { action: 'off' }, auth)
  t.equal(r.status, 200)
  t.same(r.json, { ok: true, action: 'off', machine: 'pi-03', switch: 'rack', port: 'Gi1/0/3' })
  r = await call(h, 'GET', '/api/machines/pi-03/power')
  t.equal(r.status, 401, 'reading the port opens a switch session: it needs the token too')
  r = await call(h, 'GET', '/api/machines/pi-03/power', undefined, auth)
  t.equal(r.status, 200)
  t.equal(r.json.state, 'on')
  r = await call(h, 'POST', '/api/machines/ghost/power', { action: 'on' }, auth)
  t.equal(r.status, 404)
  power.fail = true
  r = await call(h, 'POST', '/api/machines/pi-03/power', { action: 'cycle' }, auth)
  t.equal(r.status, 502)
  t.equal(r.json.reason, 'switch unreachable')
  t.same(power.calls, ['POST pi-03 off', 'GET pi-03', 'POST pi-03 cycle'])
})

t.test('no power service at all', async (t) => {
  const h = await setup(t)
  const r = await call(h, 'POST', '/api/machines/pi-03/power', { action: 'on' }, `Bearer ${h.token}`)
  t.equal(r.status, 409)
})
