// Hostile YAML (issue 13): injected switch commands, prototype names, huge files, alias bombs,
// loose secret files, plain-http tokens, errors hidden behind other errors, a missing discovery profile.
import t from 'tap'
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig, MAX_CONFIG_BYTES, MAX_CONFIG_NODES } from '../../src/config/load.js'
import { own } from '../../src/config/own.js'

const KEY = 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8'
const base = (switches: string, machines: string, profiles = '  local: { boot: local }\n'): string =>
  `server: { unknown: ignore }\nswitches:\n${switches}profiles:\n${profiles}machines:\n${machines}`
const cisco = `  rack:\n    driver: cisco-ios\n    host: 192.168.1.2\n    username: bootlab\n    password: env:PW\n    host_key: "${KEY}"\n    protected: [Gi1/0/48]\n`
const env = { PW: 'pw' }

const errorsOf = (text: string, opts = {}): string[] => {
  const r = parseConfig(text, 'h.yaml', { env, ...opts })
  return r.ok ? [] : r.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`)
}

t.test('item 4: a cisco-ios port with a newline is refused (it would inject commands and bypass protected)', async (t) => {
  const m = `  pi:\n    mac: dc:a6:32:00:00:03\n    arch: rpi4\n    power: { switch: rack, port: "Gi1/0/4\\ninterface Gi1/0/48\\npower inline never" }\n`
  const errs = errorsOf(base(cisco, m))
  t.match(errs.join('\n'), /machines\.pi\.power\.port: must not contain control characters/)
  // names IOS accepts still pass
  for (const port of ['Gi1/0/3', 'GigabitEthernet1/0/3', 'gi 1/0/3', 'Fa0/1', 'Te1/1/1', 'Tw1/0/12']) {
    t.same(errorsOf(base(cisco, `  pi:\n    mac: dc:a6:32:00:00:03\n    arch: rpi4\n    power: { switch: rack, port: "${port}" }\n`)), [], port)
  }
  t.match(errorsOf(base(cisco, `  pi:\n    mac: dc:a6:32:00:00:03\n    arch: rpi4\n    power: { switch: rack, port: "Gi1/0/3 ; reload" }\n`)).join('\n'), /not a Cisco IOS interface/)
  // a protected entry that is not an interface is refused too
  t.match(errorsOf(base(cisco.replace('[Gi1/0/48]', '["Gi1/0/48\\nreload"]'), '')), [/switches\.rack\.protected\[0\]: must not contain control characters/])
  t.match(errorsOf(base(cisco.replace('[Gi1/0/48]', '["Gi1/0/48 reload"]'), '')), [/switches\.rack\.protected\[0\]: .*not a Cisco IOS interface/])
})

t.test('item 4: snmp ports are group.index integers or a mapped name; other drivers a conservative charset', async (t) => {
  const snmp = `  s:\n    driver: snmp\n    host: 10.0.0.2\n    community: env:PW\n    ports: { pi: "1.3" }\n`
  const mach = (port: string, sw = 's') => `  pi:\n    mac: dc:a6:32:00:00:03\n    arch: rpi4\n    power: { switch: ${sw}, port: ${JSON.stringify(port)} }\n`
  t.same(errorsOf(base(snmp, mach('1.3'))), [])
  t.same(errorsOf(base(snmp, mach('pi'))), [])
  t.match(errorsOf(base(snmp, mach('1.3.4'))).join('\n'), /machines\.pi\.power\.port: .*group\.index/)
  t.match(errorsOf(base(snmp, mach('x'))).join('\n'), /machines\.pi\.power\.port: .*group\.index/)
  const cmd = `  c:\n    driver: command\n    on: [uhubctl, -a, on, -p, "{port}"]\n    off: [uhubctl, -a, off, -p, "{port}"]\n`
  t.same(errorsOf(base(cmd, mach('2', 'c'))), [])
  t.same(errorsOf(base(cmd, mach('hub1:port-2', 'c'))), [])
  t.match(errorsOf(base(cmd, mach('2; rm -rf /', 'c'))).join('\n'), /machines\.pi\.power\.port: /)
  t.match(errorsOf(base(cmd, mach('2\u0007', 'c'))).join('\n'), /machines\.pi\.power\.port: /)
  const man = '  m:\n    driver: manual\n'
  t.match(errorsOf(base(man, mach('a\nb', 'm'))).join('\n'), /machines\.pi\.power\.port: /)
})

t.test('item 4: control characters in any switch value are refused', async (t) => {
  const cmd = `  c:\n    driver: command\n    on: [uhubctl, "-a\\non"]\n    off: [uhubctl]\n`
  t.match(errorsOf(base(cmd, '')).join('\n'), /switches\.c\.on\[1\]: must not contain control characters/)
  t.match(errorsOf(base(cisco.replace('username: bootlab', 'username: "boot\\rlab"'), '')).join('\n'), /switches\.rack\.username: must not contain control characters/)
  const graceful = `  pi:\n    mac: dc:a6:32:00:00:03\n    arch: rpi4\n    power:\n      switch: rack\n      port: Gi1/0/3\n      graceful: { host: pi.lan, key_file: k, host_key: "${KEY}", command: "sudo poweroff\\nrm -rf /" }\n`
  t.match(errorsOf(base(cisco, graceful)), [/machines\.pi\.power\.graceful\.command: must not contain control characters/])
})

t.test('item 5: prototype names are not profiles', async (t) => {
  const m = (profile: string) => `  pc:\n    mac: 00:11:22:33:44:55\n    arch: x86_64\n    profile: ${profile}\n`
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
    t.match(errorsOf(base('', m(name))).join('\n'), new RegExp(`machines\\.pc\\.profile: no profile named "${name}"`), name)
  }
  t.match(errorsOf(base('', '', '  local: { boot: local, then: toString }\n')).join('\n'), /profiles\.local\.then: no profile named "toString"/)
  t.match(errorsOf(base('', '  pc:\n    mac: 00:11:22:33:44:55\n    arch: x86_64\n    power: { switch: toString, port: "1" }\n')).join('\n'), /no switch named "toString"/)
  // dangerous names are refused as names
  for (const name of ['__proto__', 'constructor', 'prototype']) {
    t.match(errorsOf(base('', '', `  local: { boot: local }\n  ${name}: { boot: local }\n`)).join('\n'), /profiles\..*: .*reserved/, `profile ${name}`)
    t.match(errorsOf(base('', `  ${name}:\n    mac: 00:11:22:33:44:55\n    arch: x86_64\n`)).join('\n'), /reserved/, `machine ${name}`)
  }
  const r = parseConfig(base('', m('local')), 'h.yaml', { env })
  t.ok(r.ok)
  if (r.ok) {
    t.equal(Object.getPrototypeOf(r.config.profiles), null, 'profiles: a null-prototype map')
    t.equal(Object.getPrototypeOf(r.config.machines), null, 'machines: a null-prototype map')
    t.equal(Object.getPrototypeOf(r.config.switches), null, 'switches: a null-prototype map')
    t.equal(own(r.config.profiles, 'toString'), undefined)
    t.equal(own(r.config.profiles, 'local')?.name, 'local')
    t.equal(own({ a: 1 } as Record<string, number>, 'constructor'), undefined)
  }
})

t.test('item 11: size and node caps; many keys are checked for duplicates in linear time', async (t) => {
  t.ok(MAX_CONFIG_BYTES <= 1024 * 1024, 'at most 1 MiB')
  const big = '# ' + 'x'.repeat(MAX_CONFIG_BYTES) + '\n'
  t.match(errorsOf(big), [/^1:1 : the file is larger than 1 MiB/])
  // under the byte cap but too many nodes
  const n = MAX_CONFIG_NODES + 10
  const many = 'machines:\n  pc:\n    vars: {' + Array.from({ length: n }, (_, i) => `k${i}: ${i}`).join(', ') + '}\n'
  t.ok(Buffer.byteLength(many) <= MAX_CONFIG_BYTES)
  t.match(errorsOf(many), [/has more than \d+ keys and values/])
  // a duplicate among many keys is still found (and points at the second one)
  const dup = 'machines:\n  pc:\n    mac: 00:11:22:33:44:55\n    arch: bios\n    vars:\n' + Array.from({ length: 2000 }, (_, i) => `      k${i}: x\n`).join('') + '      k7: y\n'
  t.match(errorsOf(dup), [/^2006:7 : this key appears twice/])
})

t.test('item 13: an alias bomb is a config error with its position, not an exception', async (t) => {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`)
  const bomb = lines.join('\n') + '\n'
  let r: ReturnType<typeof parseConfig> | undefined
  t.doesNotThrow(() => { r = parseConfig(bomb, 'bomb.yaml') })
  t.notOk(r?.ok)
  if (r && !r.ok) t.match(r.errors[0], { file: 'bomb.yaml', line: 2, message: /aliases/ })
})

t.test('item 14: secret files others can read warn; world-writable ones are refused', { skip: process.getuid?.() === undefined }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-secret-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'rack.secret')
  writeFileSync(file, 'hunter2-secret\n')
  const text = base(cisco.replace('password: env:PW', `password_file: ${file}`), '')
  chmodSync(file, 0o600)
  const ok = parseConfig(text, join(dir, 'b.yaml'))
  t.ok(ok.ok)
  t.same(ok.warnings, [])
  chmodSync(file, 0o644)
  const loose = parseConfig(text, join(dir, 'b.yaml'))
  t.ok(loose.ok, 'still loads')
  t.match(loose.warnings, [{ path: 'switches.rack.password_file', message: /readable by other users \(mode 0644\); chmod 600/ }])
  t.notMatch(JSON.stringify(loose.warnings), /hunter2/, 'never the content')
  // group bits for bootlab's own group: the documented root:bootlab 0640 set-up, no warning
  chmodSync(file, 0o640)
  t.same(parseConfig(text, join(dir, 'b.yaml')).warnings, [], 'group-readable by our own group')
  if (process.getuid?.() === 0) {
    chownSync(file, 0, 54321)
    t.match(parseConfig(text, join(dir, 'b.yaml')).warnings, [{ message: /open to group 54321 \(mode 0640\)/ }])
    chownSync(file, 54321, process.getgid!())
    chmodSync(file, 0o600)
    t.match(parseConfig(text, join(dir, 'b.yaml')).warnings, [{ message: /belongs to uid 54321/ }])
    chownSync(file, 0, 0)
  }
  chmodSync(file, 0o666)
  const ww = parseConfig(text, join(dir, 'b.yaml'))
  t.notOk(ww.ok)
  if (!ww.ok) t.match(ww.errors, [{ path: 'switches.rack.password_file', message: /writable by every user/ }])
  chmodSync(file, 0o600)
})

t.test('item 21: a webhook token over plain http is refused unless loopback or allow_insecure', async (t) => {
  const hook = (url: string, extra = '') => `  w:\n    driver: webhook\n    token: env:PW\n${extra}    on: { url: "${url}" }\n    off: { url: "https://plug.lan/off" }\n`
  t.match(errorsOf(base(hook('http://plug.lan/on'), '')).join('\n'), /switches\.w\.on\.url: .*token.*plain http/)
  t.same(errorsOf(base(hook('https://plug.lan/on'), '')), [])
  t.same(errorsOf(base(hook('http://127.0.0.1:8080/on'), '')), [])
  t.same(errorsOf(base(hook('http://localhost/on'), '')), [])
  t.same(errorsOf(base(hook('http://[::1]/on'), '')), [])
  t.same(errorsOf(base(hook('http://plug.lan/on', '    allow_insecure: true\n'), '')), [])
  // no token: plain http is fine
  t.same(errorsOf(base(hook('http://plug.lan/on').replace('    token: env:PW\n', ''), '')), [])
})

t.test('item 23: a cross-check error and a schema error of the same machine come out in one run', async (t) => {
  const m = '  pi:\n    mac: not-a-mac\n    arch: rpi4\n    power: { switch: rack, port: Gi1/0/48 }\n    profile: lcoal\n'
  const errs = errorsOf(base(cisco, m)).join('\n')
  t.match(errs, /machines\.pi\.mac: must be a MAC address/)
  t.match(errs, /machines\.pi\.power\.port: Gi1\/0\/48 is a protected port/)
  t.match(errs, /machines\.pi\.profile: no profile named "lcoal"/)
  // a profile with a schema error still counts as existing for the machines that name it
  const errs2 = errorsOf(base('', '  pc:\n    mac: 00:11:22:33:44:55\n    arch: bios\n    profile: inst\n', '  inst: { kernel: 5, bogus: 1 }\n')).join('\n')
  t.match(errs2, /profiles\.inst\.bogus/)
  t.notMatch(errs2, /no profile named "inst"/)
})

t.test('item 24: a minimal config without a discovery profile is valid, with a warning', async (t) => {
  const r = parseConfig('machines:\n  pc:\n    mac: 00:11:22:33:44:55\n    arch: bios\n    profile: local\nprofiles:\n  local: { boot: local }\n', 'min.yaml')
  t.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors))
  t.match(r.warnings, [{ path: 'server.unknown', message: /no profile "discovery".*recorded.*not booted/ }])
  // an empty file (or one an editor is still writing) is not a valid empty config
  for (const text of ['', '\n', '# only a comment\n']) t.match(errorsOf(text), [/the file is empty/], JSON.stringify(text))
  // an explicitly named unknown_profile that does not exist stays an error
  const e = parseConfig('server: { unknown_profile: disco }\nprofiles:\n  local: { boot: local }\n', 'e.yaml')
  t.notOk(e.ok)
})

t.test('item 20: command secrets come from env: or file:, and every {secret:name} must be defined', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-cmdsecret-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'hub.secret'), 'from-file\n', { mode: 0o600 })
  const sw = (extra: string) => `  hub:\n    driver: command\n    secrets: { pw: "env:PW", tok: "file:hub.secret" }\n${extra}`
  const ok = parseConfig(base(sw('    on: [hub, "{secret:pw}", "{port}"]\n    off: [hub]\n    environment: { HUB_TOKEN: "{secret:tok}" }\n'), ''), join(dir, 'b.yaml'), { env })
  t.ok(ok.ok, ok.ok ? '' : JSON.stringify(ok.errors))
  if (ok.ok) {
    const hub = ok.config.switches.hub as unknown as { secrets: Record<string, { reveal(): string }> }
    t.equal(hub.secrets.pw!.reveal(), 'pw')
    t.equal(hub.secrets.tok!.reveal(), 'from-file')
    t.notMatch(JSON.stringify(ok.config.switches), /from-file/, 'never serialised')
  }
  const bad = parseConfig(base(sw('    on: [hub, "{secret:nope}"]\n    off: [hub]\n    environment: { X: "{secret:gone}" }\n'), ''), join(dir, 'b.yaml'), { env })
  t.notOk(bad.ok)
  if (!bad.ok) {
    t.match(bad.errors.map((e) => `${e.path}: ${e.message}`), [/switches\.hub\.on\[1\]: \{secret:nope\} is not defined/, /switches\.hub\.environment\.X: \{secret:gone\} is not defined/])
  }
})
