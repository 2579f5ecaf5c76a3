// The whole assign path as a user drives it: `bootlab serve` running, the YAML edited (twice in
// quick succession, then once more), and the IOS switch simulator counting what bootlab sends.
import t from 'tap'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IosSimulator } from '../../src/lab/ios-sim.js'
import { freePort, serve } from '../helpers/serve.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('editing a machine\'s profile: in the YAML power-cycles its port exactly once', async (t) => {
  const sim = new IosSimulator({ password: 'sw-pass-123' })
  await sim.start()
  t.teardown(() => sim.stop())
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-assign-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'sw.secret'), 'sw-pass-123\n', { mode: 0o600 })
  const port = await freePort()
  const tftpPort = await freePort()
  const yaml = (profile: string) => `
server:
  advertise: 127.0.0.1
  http: { port: ${port}, listen: 127.0.0.1 }
  tftp: { port: ${tftpPort}, listen: 127.0.0.1 }
  dhcp: { mode: off }
  unknown: ignore
  state_dir: state
switches:
  sw:
    driver: cisco-ios
    host: 127.0.0.1
    port: ${sim.port}
    username: bootlab
    password_file: sw.secret
    host_key: "${sim.hostKeyFingerprint}"
    off_seconds: 1
    on_verify_seconds: 5
profiles:
  a: { boot: local }
  b: { chain: "http://127.0.0.1/b.ipxe" }
  c: { boot: local, description: third }
machines:
  pi-09:
    mac: dc:a6:32:00:00:09
    arch: rpi4
    power: { switch: sw, port: Gi1/0/3 }
    profile: ${profile}
`
  const file = join(dir, 'bootlab.yaml')
  await writeFile(file, yaml('a'))
  const s = await serve(['--config', file], { port })
  t.teardown(async () => { await s.stop('SIGKILL') })

  const offs = () => sim.log.filter((e) => /^power inline never/.test(e.line)).length
  const ons = () => sim.log.filter((e) => /^power inline auto/.test(e.line)).length
  await sleep(500)
  t.equal(offs(), 0, 'no cycle at start')

  // two saves in quick succession (an editor's autosave, a second thought): one assignment
  await writeFile(file, yaml('b'))
  await sleep(300)
  await writeFile(file, yaml('c'))
  const until = async (pred: () => boolean, ms: number) => { const end = Date.now() + ms; while (!pred() && Date.now() < end) await sleep(100) }
  await until(() => ons() >= 1, 20_000)
  await sleep(3_000) // would a second cycle follow?
  t.equal(offs(), 1, 'PoE switched off once')
  t.equal(ons(), 1, 'and on once')
  const off = sim.log.find((e) => /^power inline never/.test(e.line))!
  const on = sim.log.find((e) => /^power inline auto/.test(e.line))!
  t.ok(on.at - off.at >= 1000, `on came ${on.at - off.at} ms after off (off_seconds: 1)`)
  t.match(sim.log.map((e) => e.line), ['terminal length 0'], 'a real CLI session')
  t.notOk(sim.log.some((e) => /write mem|copy run/.test(e.line)), 'never saves the switch config')

  const token = (await readFile(join(dir, 'state', 'api-token'), 'utf8')).trim()
  const { events } = (await (await fetch(`${s.url}/api/events?machine=pi-09&limit=100`, { headers: { authorization: `Bearer ${token}` } })).json()) as { events: Array<{ type: string }> }
  t.ok(events.length > 0, 'the machine history is there')
  t.ok(events.some((e) => /power|cycl/.test(JSON.stringify(e))), 'the power cycle is in the machine history')
  t.comment(`history: ${[...new Set(events.map((e) => e.type))].join(', ')}`)

  // a later, separate assignment cycles again, once
  await writeFile(file, yaml('a'))
  await until(() => ons() >= 2, 20_000)
  await sleep(3_000)
  t.equal(offs(), 2, 'a new assignment: one more cycle')
  t.equal(ons(), 2)
  t.notMatch(s.output(), /sw-pass-123/, 'the switch password never reaches the log')
  t.notMatch(await readFile(file, 'utf8'), /sw-pass-123/)
})
