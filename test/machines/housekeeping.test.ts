// A MAC flood (`unknown: discover`, thousands of made-up MACs) is bounded in time and in the log:
// unconfigured machines not seen for `server.discovered_expire` are forgotten with their events,
// each machine keeps its newest EVENTS_PER_MACHINE events, and the journal gets a few lines, not thousands.
import t from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Store } from '../../src/store/store.js'
import { Lifecycle, EVENTS_PER_MACHINE } from '../../src/machines/lifecycle.js'
import type { Config } from '../../src/boot/types.js'
import { machine } from '../http/fixtures/harness.js'

const KNOWN = '02:00:00:00:00:0a'

function config(expire?: string): Config {
  return {
    server: { http: { port: 0, listen: '127.0.0.1' }, unknown: 'discover', unknown_profile: 'discovery', state_dir: '/nonexistent', paths: { images: '/x', firmware: '/x', tftproot: '/x' }, ...(expire ? { discovered_expire: expire } : {}) },
    switches: {},
    profiles: { discovery: { boot: 'local', initrd: [] } },
    machines: { a: machine('a', KNOWN) },
  } as unknown as Config
}

function randomMac(i: number): string {
  return `aa:bb:${[i >> 16, (i >> 8) & 255, i & 255, 7].map((b) => b.toString(16).padStart(2, '0')).join(':')}`
}

function setup(cfg: Config) {
  let now = Date.UTC(2026, 0, 1)
  const lines: { level: number; msg: string }[] = []
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { level: number; msg: string }); cb() } })
  const store = new Store({ file: ':memory:', now: () => now })
  const lc = new Lifecycle({ store, getConfig: () => cfg, log: pino({ level: 'info' }, sink) })
  lc.start()
  return { store, lc, lines, advance: (ms: number) => { now += ms } }
}

t.test('discovered machines expire, configured ones stay', async (t) => {
  const { store, lc, advance } = setup(config())
  t.teardown(() => store.close())
  for (let i = 0; i < 300; i++) lc.onDhcp({ mac: randomMac(i), kind: 'discover', class: 'ipxe' })
  lc.onDhcp({ mac: KNOWN, kind: 'discover', class: 'ipxe' })
  t.equal(store.countUnnamed(), 300)
  advance(6 * 86400_000)
  lc.onDhcp({ mac: randomMac(0), kind: 'discover', class: 'ipxe' }) // still around
  t.same(lc.maintain().machines, 0, 'nothing expires before 7 days')
  advance(2 * 86400_000)
  const r = lc.maintain()
  t.equal(r.machines, 299, 'machines not seen for 7 days forgotten')
  t.equal(store.countUnnamed(), 1, 'the one seen recently stays')
  t.ok(store.machine(KNOWN), 'a configured machine stays')
  t.equal(store.events({ machine: randomMac(5) }).length, 0, 'their events went with them')
})

t.test('discovered_expire is configurable', async (t) => {
  const { store, lc, advance } = setup(config('1h'))
  t.teardown(() => store.close())
  lc.onDhcp({ mac: randomMac(1), kind: 'discover', class: 'ipxe' })
  advance(2 * 3600_000)
  t.equal(lc.maintain().machines, 1)
})

t.test('events pruned per machine', async (t) => {
  const { store, lc } = setup(config())
  t.teardown(() => store.close())
  for (let i = 0; i < EVENTS_PER_MACHINE + 300; i++) lc.onDhcp({ mac: KNOWN, kind: 'request', class: 'ipxe', ip: '10.0.0.9' })
  lc.onDhcp({ mac: randomMac(1), kind: 'discover', class: 'ipxe' })
  const before = store.db.prepare('SELECT COUNT(*) AS n FROM events WHERE mac = ?').get(KNOWN) as { n: number }
  t.ok(before.n > EVENTS_PER_MACHINE)
  lc.maintain()
  const after = store.db.prepare('SELECT COUNT(*) AS n FROM events WHERE mac = ?').get(KNOWN) as { n: number }
  t.equal(after.n, EVENTS_PER_MACHINE, 'newest events of the machine kept')
  t.ok(store.events({ machine: randomMac(1) }).length > 0, 'other machines untouched')
})

t.test('a MAC flood does not flood the log', async (t) => {
  const { store, lc, lines } = setup(config())
  t.teardown(() => store.close())
  for (let i = 0; i < 1000; i++) lc.onDhcp({ mac: randomMac(i), kind: 'discover', class: 'ipxe' })
  t.comment(`1000 unknown MACs → ${lines.length} log lines`)
  t.ok(lines.length <= 10, `a few log lines (${lines.length})`)
  t.ok(lines.some((l) => /discovered an unknown machine/.test(l.msg)), 'the first one is still logged')
})
