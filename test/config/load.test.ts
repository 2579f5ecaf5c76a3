import t from 'tap'
import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { loadConfig, parseConfig } from '../../src/config/load.js'
import { formatIssue } from '../../src/config/types.js'
import { normaliseMac, parseDuration } from '../../src/config/names.js'

t.test('the example config is valid and fully resolved', async (t) => {
  const r = await loadConfig('examples/bootlab.yaml')
  t.ok(r.ok, r.ok ? '' : r.errors.map(formatIssue).join('\n'))
  if (!r.ok) return
  const c = r.config
  t.equal(c.server.dhcp.mode, 'proxy')
  t.equal(c.server.dhcp.lease_seconds, 12 * 3600)
  t.equal(c.machines['nuc-01']!.mac, '1c:69:7a:00:00:01', 'dash notation normalised')
  t.equal(c.machines['pi-03']!.serial, '1a2b3c03')
  t.equal(c.switches.rack!.password!.reveal(), 's3cr3t-example')
  t.match(c.profiles['ubuntu-24.04-install']!.cloud_init!.user_data!, /\/examples\/profiles\/ubuntu-autoinstall\.yaml$/)
  t.equal(c.server.paths.images, '/var/lib/bootlab/images')
})

t.test('a config with many mistakes reports each one with its line and column', async (t) => {
  const r = await loadConfig('test/fixtures/config/broken.yaml')
  t.notOk(r.ok)
  if (r.ok) return
  const got = r.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`)
  const want = [
    /^4:11 server\.http\.port: must be at most 65535, not 80800$/,
    /^6:11 server\.dhcp\.mode: must be one of proxy, full, off, not the text "prxy" \(did you mean "proxy"\?\)$/,
    /^7:3 server\.unknwn: unknown setting "unknwn" \(did you mean "unknown"\?\)$/,
    /^14:20 switches\.rack\.password_file: .*does-not-exist\.secret does not exist$/,
    /^18:13 switches\.plugs\.driver: unknown driver "smartplug"/,
    /^22:13 profiles\.install\.kernel: leaves the images folder/,
    /^24:11 profiles\.install\.then: no profile named "locl" \(did you mean "local"\?\)$/,
    /^27:3 profiles\.both: has boot and chain; a profile boots one way only/,
    /^38:22 machines\.pi-03\.power\.switch: no switch named "rak" \(did you mean "rack"\?\)$/,
    // pi-04's arch is wrong, and its mac and profile are checked all the same (issue 13 item 23)
    /^41:10 machines\.pi-04\.mac: dc:a6:32:00:00:03 is already used by machine "pi-03"$/,
    /^42:11 machines\.pi-04\.arch: must be one of rpi4, rpi5, arm64, x86_64, bios, not the text "rpi3"/,
    /^43:14 machines\.pi-04\.profile: no profile named "ubuntu"$/,
    /^45:10 machines\.pi-05\.mac: dc:a6:32:00:00:03 is already used by machine "pi-03"$/,
    /^47:34 machines\.pi-05\.power\.port: GigabitEthernet1\/0\/48 is a protected port of switch "rack"/,
    /^49:10 machines\.pi-06\.mac: must be a MAC address/,
  ]
  t.equal(got.length, want.length, got.join('\n'))
  want.forEach((re, i) => t.match(got[i], re))
  t.ok(r.errors.every((e) => e.file === 'test/fixtures/config/broken.yaml'))
})

t.test('YAML syntax errors and duplicate keys point at the text', async (t) => {
  const dup = parseConfig('machines:\n  a:\n    mac: 00:11:22:33:44:55\n    arch: bios\n  a:\n    mac: 00:11:22:33:44:56\n    arch: bios\n', 'x.yaml')
  t.notOk(dup.ok)
  if (!dup.ok) t.match(dup.errors[0], { line: 5, column: 3, message: /appears twice/ })
  const bad = parseConfig('server:\n  http: { port: 80\n', 'y.yaml')
  t.notOk(bad.ok)
  if (!bad.ok) t.match(bad.errors[0], { file: 'y.yaml', line: 3, message: /YAML syntax/ })
})

t.test('missing required settings point at their mapping', async (t) => {
  const r = parseConfig('server: { unknown: ignore }\nmachines:\n  pc:\n    arch: x86_64\n', 'm.yaml')
  t.notOk(r.ok)
  if (!r.ok) t.match(r.errors, [{ line: 3, column: 3, path: 'machines.pc.mac', message: 'is required but missing' }])
})

t.test('references, ports and pools', async (t) => {
  const text = [
    'server:', '  interface: veth0', '  unknown: ignore', '  dhcp: { mode: full, pool: 10.0.0.200-10.0.0.100 }',
    'switches:', '  sw: { driver: manual, protected: [Gi0/1] }',
    'profiles:', '  p: { kernel: k, initrd: /abs/initrd }',
    'machines:',
    '  a: { mac: 00:11:22:33:44:55, arch: x86_64, profile: p, power: { switch: sw, port: gi0/2 } }',
    '  b: { mac: 00:11:22:33:44:56, arch: x86_64, profile: p, power: { switch: sw, port: Gi0/2 } }',
    '  c: { mac: 00:11:22:33:44:57, arch: x86_64, serial: 1a2b3c4d }',
  ].join('\n')
  const r = parseConfig(text, 'r.yaml')
  t.notOk(r.ok)
  if (r.ok) return
  const msgs = r.errors.map((e) => `${e.path}: ${e.message}`)
  t.match(msgs, [
    /server\.dhcp\.pool: starts after it ends/,
    /profiles\.p\.initrd\[0\]: must be relative to the images folder/,
    /machines\.b\.power\.port: sw Gi0\/2 already powers machine "a"/,
    /machines\.c\.serial: a serial \(TFTP prefix\) only applies to Raspberry Pis/,
  ])
})

t.test('profile paths follow the file server\'s jail rules', async (t) => {
  const cases: Array<[string, RegExp | null]> = [
    ['ubuntu/linux', null],
    ['https://example.invalid/linux', null],
    ['../linux', /leaves the images folder/],
    ['/abs/linux', /must be relative to the images folder/],
    ['ubuntu/../linux', /would be refused by the file server: "\.\." in file name/],
    ['ubuntu/li\u0007nux', /would be refused by the file server: control character/],
  ]
  for (const [kernel, why] of cases) {
    const r = parseConfig(`server: { unknown: ignore }\nprofiles:\n  p: { kernel: ${JSON.stringify(kernel)} }\n`, 'k.yaml')
    if (why === null) t.ok(r.ok, kernel)
    else t.match(r.ok ? [] : r.errors, [{ path: 'profiles.p.kernel', message: why }], kernel)
  }
})

t.test('pool ends are checked like every other address in the file', async (t) => {
  const cases: Array<[string, string]> = [['10.0.0.256-10.0.0.9', '10.0.0.256'], ['10.0.0.1-010.0.0.9', '010.0.0.9'], ['1.2.3.4-0001.2.3.5', '0001.2.3.5']]
  for (const [pool, bad] of cases) {
    const r = parseConfig(`server: { interface: veth0, unknown: ignore, dhcp: { mode: full, pool: ${pool} } }\n`, 'p.yaml')
    t.notOk(r.ok, pool)
    if (!r.ok) t.match(r.errors, [{ path: 'server.dhcp.pool', message: `"${bad}" is not an IPv4 address` }], pool)
  }
})

t.test('secrets from the environment never print', async (t) => {
  const text = 'server: { unknown: ignore }\nswitches:\n  sw:\n    driver: webhook\n    token: env:BL_TEST_TOKEN\n    on: { url: "https://plug.invalid/on" }\n    off: { url: "https://plug.invalid/off" }\n'
  const missing = parseConfig(text, 's.yaml', { env: {} })
  t.notOk(missing.ok)
  if (!missing.ok) t.match(missing.errors[0], { line: 5, column: 12, message: 'environment variable BL_TEST_TOKEN is not set' })
  const r = parseConfig(text, 's.yaml', { env: { BL_TEST_TOKEN: 'hunter2-very-secret' } })
  t.ok(r.ok)
  if (!r.ok) return
  t.equal(r.config.switches.sw!.token!.reveal(), 'hunter2-very-secret')
  const shown = [JSON.stringify(r.config), inspect(r.config, { depth: 10 }), String(r.config.switches.sw!.token)].join('\n')
  t.notMatch(shown, /hunter2/)
  const literal = parseConfig(text.replace('env:BL_TEST_TOKEN', 'hunter2'), 's.yaml', { env: {} })
  t.notOk(literal.ok)
  if (!literal.ok) {
    t.match(literal.errors[0]!.message, /must be "env:VARIABLE"/)
    t.notMatch(JSON.stringify(literal.errors), /hunter2/, 'the rejected literal is not echoed')
  }
})

t.test('names', async (t) => {
  for (const m of ['DC-A6-32-01-02-03', 'dca632010203', 'dc:a6:32:01:02:03', 'dca6.3201.0203']) t.equal(normaliseMac(m), 'dc:a6:32:01:02:03', m)
  for (const m of ['dc:a6:32:01:02', 'dc:a6-32:01:02:03', 'zz:a6:32:01:02:03']) t.equal(normaliseMac(m), null, m)
  t.equal(parseDuration('12h'), 43200)
  t.equal(parseDuration('soon'), null)
})

t.test('the example file documents every top-level section', async (t) => {
  const text = readFileSync('examples/bootlab.yaml', 'utf8')
  for (const s of ['server:', 'switches:', 'profiles:', 'machines:']) t.match(text, new RegExp(`^${s}`, 'm'))
})
