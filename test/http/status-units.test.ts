// The status page's pure parts: sessions (expiry, cap, hashed ids), the login limiter, cookie
// parsing, boot timelines from event rows, escaping.
import t from 'tap'
import { LoginLimiter, SessionStore, csrfMatches, readCookie, sessionCookie } from '../../src/http/status/session.js'
import { boots, progress } from '../../src/http/status/timeline.js'
import { esc, yamlSnippet } from '../../src/http/status/render.js'
import { shownIssues } from '../../src/http/status/source.js'
import { Store, type EventRow } from '../../src/store/store.js'
import { Lifecycle, type MachineView } from '../../src/machines/lifecycle.js'
import type { Config } from '../../src/boot/types.js'
import { silentLogger } from '../../src/log.js'
import { machine, profile } from './fixtures/harness.js'

t.test('sessions: expiry, cap, CSRF', async (t) => {
  let now = 1_000_000
  const s = new SessionStore({ ttlMs: 1000, max: 3, now: () => now })
  const a = s.create()
  t.equal(s.get(a.id), a.session)
  t.not(a.session.key, a.id, 'the store keys by a hash, not the id')
  t.ok(csrfMatches(a.session, a.session.csrf))
  t.notOk(csrfMatches(a.session, ''), 'empty CSRF token')
  t.notOk(csrfMatches(a.session, undefined), 'missing CSRF token')
  t.notOk(csrfMatches(undefined, a.session.csrf), 'no session')
  t.notOk(csrfMatches(a.session, a.session.csrf + 'x'))
  const b = s.create()
  s.create()
  s.create()
  t.equal(s.size, 3, 'capped')
  t.equal(s.get(a.id), undefined, 'the oldest went first')
  t.ok(s.get(b.id))
  now += 1001
  t.equal(s.get(b.id), undefined, 'expired')
  t.equal(s.get('x'.repeat(500)), undefined, 'oversized ids are not looked up')
  t.match(sessionCookie('abc', 3_600_000, false), /^bootlab_session=abc; Path=\/; HttpOnly; SameSite=Strict; Max-Age=3600$/)
  t.match(sessionCookie('abc', 3_600_000, true), /; Secure$/)
  t.equal(readCookie('a=1; bootlab_session=xyz; b=2', 'bootlab_session'), 'xyz')
  t.equal(readCookie(undefined, 'bootlab_session'), undefined)
})

t.test('login limiter: per source, window, capped table', async (t) => {
  let now = 0
  const l = new LoginLimiter({ attempts: 2, windowMs: 10_000, maxSources: 2, now: () => now })
  l.failed('a')
  t.equal(l.blockedFor('a'), 0)
  l.failed('a')
  t.equal(l.blockedFor('a'), 10)
  t.equal(l.blockedFor('b'), 0, 'other sources unaffected')
  now = 10_001
  t.equal(l.blockedFor('a'), 0, 'window over')
  l.failed('b'); l.failed('c'); l.failed('d')
  t.equal(l.blockedFor('b'), 0, 'the table stays small (oldest entries dropped)')
})

let id = 0
const ev = (type: string, data: Record<string, unknown>, ts: number): EventRow => ({ id: ++id, ts, machine: 'pi-01', mac: 'dc:a6:32:00:00:01', type, data } as EventRow)

t.test('timeline: steps, boots, outcome, progress', async (t) => {
  const base = 1_700_000_000_000
  const events = [
    ev('assigned', { profile: 'ubuntu', from: 'local' }, base),
    ev('power.started', { action: 'cycle', reason: 'assigned' }, base + 10),
    ev('power.step', { action: 'cycle', step: 'off', ok: true, duration_ms: 800 }, base + 810),
    ev('power.step', { action: 'cycle', step: 'verify_off', ok: true, duration_ms: 300 }, base + 1110),
    ev('power.step', { action: 'cycle', step: 'on', ok: true, duration_ms: 700 }, base + 5000),
    ev('power.step', { action: 'cycle', step: 'verify_on', ok: true, duration_ms: 400 }, base + 5400),
    ev('power.done', { action: 'cycle' }, base + 5401),
    ev('dhcp', { kind: 'discover', class: 'rpi' }, base + 9000),
    ev('dhcp', { kind: 'request', class: 'rpi', ip: '10.0.0.5' }, base + 9100),
    ev('tftp', { file: '1a2b3c01/start4.elf', outcome: 'ok' }, base + 9500),
    ev('tftp', { file: '1a2b3c01/RPI_EFI.fd', outcome: 'ok' }, base + 9900),
    ev('dhcp', { kind: 'discover', class: 'uefi-arm64' }, base + 14_000),
    ev('tftp', { file: 'ipxe/ipxe-arm64.efi', outcome: 'ok' }, base + 14_500),
    ev('dhcp', { kind: 'discover', class: 'ipxe' }, base + 15_000),
    ev('http.script', { path: '/boot.ipxe' }, base + 15_200),
    ev('http.kernel', { path: '/images/vmlinuz' }, base + 15_400),
    ev('http.initrd', { path: '/images/initrd.img' }, base + 16_000),
    ev('state', { from: 'netbooting', to: 'failed', reason: 'installer: <disk> not found' }, base + 60_000),
    // the next boot: a new bootloader DHCP after the script stage
    ev('dhcp', { kind: 'discover', class: 'rpi' }, base + 70_000),
  ]
  const list = boots(events)
  t.equal(list.length, 2, 'two boots')
  const first = list[0]!
  t.equal(first.outcome, 'failed')
  t.same(first.steps.map((s) => s.label), [
    'assigned', 'power cycle', 'power: off', 'power: verified off', 'power: on', 'power: verified on', 'power cycle done',
    'bootloader DHCP', 'firmware TFTP', 'UEFI DHCP', 'loader', 'iPXE DHCP', 'boot script', 'kernel', 'initrd', 'failed',
  ])
  t.equal(first.steps[2]!.duration_ms, 800, 'power steps keep their own duration')
  t.equal(first.steps[7]!.count, 2, 'DHCP discover + request folded into one step')
  t.equal(first.steps[8]!.detail, '1a2b3c01/start4.elf, 1a2b3c01/RPI_EFI.fd')
  t.equal(first.steps[15]!.detail, 'installer: <disk> not found', 'the reason, raw (escaped when rendered)')
  t.same(progress(first), { reached: 7, of: 10, label: 'initrd' })
  t.equal(list[1]!.outcome, 'running')
  t.same(boots(events, 1).length, 1, 'at most max boots')
  t.same(progress(undefined), { reached: 0, of: 10, label: '' })
  // without DHCP in between (a machine booting its disk after phone-home): the next step is the next boot
  const later = boots([ev('http.script', { path: '/boot.ipxe' }, base), ev('phone-home', {}, base + 5), ev('deployed', { profile: 'u' }, base + 6), ev('http.script', { path: '/boot.ipxe' }, base + 100)])
  t.same(later.map((b) => [b.outcome, b.steps.length]), [['deployed', 3], ['running', 1]])
})

t.test('escaping and snippets', async (t) => {
  t.equal(esc('<a href="x">\'&'), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;')
  t.equal(esc(null), '')
  const m = { name: null, mac: 'dc:a6:32:00:00:09', serial: '1a2b3c09', arch: 'rpi4' } as MachineView
  t.equal(yamlSnippet(m, ['ubuntu']), 'machines:\n  pi-3c09:\n    mac: "dc:a6:32:00:00:09"\n    serial: "1a2b3c09"\n    arch: rpi4\n    # profile: ubuntu')
  const shown = shownIssues([
    { file: 'f', line: 1, column: 2, path: 'switches.rack.password', message: 'expected a file, got the text "hunter2"' },
    { file: 'f', line: 3, column: 4, path: 'machines.pi.arch', message: 'unknown arch "rpi9"' },
  ])
  t.equal(shown[0]!.message, 'expected a file, got the text "…"', 'values under secret-looking settings hidden')
  t.equal(shown[1]!.message, 'unknown arch "rpi9"')
})

t.test('the lifecycle records power steps for the timeline, without device output; status/recover steps are not machine history', async (t) => {
  const store = new Store({ file: ':memory:' })
  t.teardown(() => store.close())
  const cfg = {
    server: { http: { port: 8080, listen: '0.0.0.0' }, unknown: 'discover', unknown_profile: 'local', state_dir: '/nonexistent', paths: { images: '/i', firmware: '/f', tftproot: '/t' } },
    switches: {},
    profiles: { local: profile({ boot: 'local' }) },
    machines: { a: machine('a', '02:00:00:00:00:0a', { power: { switch: 's', port: 'p1' } }) },
  } as Config
  const lc = new Lifecycle({ store, getConfig: () => cfg, log: silentLogger() })
  lc.start()
  const seen: string[] = []
  lc.bus.on('event', (e) => seen.push(e.type))
  lc.onPower('power.step', { machine: 'a', action: 'cycle', step: 'verify_off', ok: true, duration_ms: 321, detail: 'show power inline: off' } as never)
  lc.onPower('power.step', { machine: 'a', action: 'status', step: 'status', ok: true, duration_ms: 5 })
  const evs = lc.events({ machine: 'a' }).filter((e) => e.type === 'power.step')
  t.equal(evs.length, 1)
  t.same(evs[0]!.data, { action: 'cycle', step: 'verify_off', ok: true, duration_ms: 321 }, 'no detail field')
  t.same(seen, ['power.step'], 'published on the bus')
})
