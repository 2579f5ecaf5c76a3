// Issue 15: a DHCP flood of random MACs (DISCOVERs only, 500 a second, bounded) while real clients
// still get served. busybox udhcpc in its own namespaces: one new unknown client early in the flood
// (the unknown share of the pool is full of the flood's offers), one after the overall packet
// bucket is empty (it gets in as a returning client when it retries), and a configured machine
// with a reservation.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { createLab, isRoot, type Lab } from '../../src/lab/netns.js'
import { startFixture, tsxArgv } from '../../src/lab/fixture.js'
import { startServer } from './netlab.js'

/** the storm bench's hostile host (bench/storm/attacker.ts): DISCOVERs from random MACs, never a REQUEST */
const ATTACKER = fileURLToPath(new URL('../../bench/storm/attacker.ts', import.meta.url))
const POOL = { subnet: '10.77.0.0/24', start: '10.77.0.100', end: '10.77.0.150', leaseSeconds: 600 }
const COUNT = 5000
const RATE = 500
/** 20 packets a second overall (burst 1200): the flood empties the bucket ~2.5 s in */
const RATE_TOTAL = 1200

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** busybox udhcpc, one lease then exit: up to 5 DISCOVERs 2 s apart (its own retries) */
async function udhcpc(lab: Lab, host: string): Promise<{ lease: string | null; ms: number; at: number; out: string }> {
  const t0 = Date.now()
  const r = await lab.exec(host, ['busybox', 'udhcpc', '-n', '-q', '-f', '-i', 'net0', '-s', '/bin/true', '-t', '5', '-T', '2'], { timeoutMs: 30_000 })
  const out = r.stdout + r.stderr
  const lease = r.code === 0 ? /lease of (\S+) obtained/.exec(out)?.[1] ?? null : null
  return { lease, ms: Date.now() - t0, at: Date.now(), out }
}

t.test('a random-MAC DISCOVER flood does not starve real clients (busybox udhcpc) nor a configured machine', { skip: !isRoot() && 'needs root' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1, atk: 5, early: 0, late: 0, pi: 0 } })
  t.teardown(() => lab.cleanup())
  await lab.exec('atk', ['ip', 'route', 'add', 'default', 'dev', 'net0']) // limited broadcasts
  const piMac = lab.hosts.pi!.mac
  const srv = await startServer(lab, 'srv', { interface: 'net0', mode: 'full', pools: [POOL], reservations: { [piMac]: '10.77.0.42' }, limits: { rateTotal: RATE_TOTAL }, events: false })
  t.teardown(() => srv.stop())

  const t0 = Date.now()
  const atk = await startFixture(lab, 'atk', tsxArgv(ATTACKER, JSON.stringify({ mode: 'dhcp-flood', count: COUNT, rate: RATE })))
  const flood = atk.waitFor((m) => m.event === 'done', 60_000, 'flood done')
  await sleep(1000) // the flood's offers fill the unknown share (25 of 51 addresses) in the first 50 ms
  const early = udhcpc(lab, 'early')
  await sleep(3000) // ~4 s in: the overall bucket is empty
  const late = udhcpc(lab, 'late')
  await sleep(500)
  const pi = udhcpc(lab, 'pi')
  const [e, l, p] = await Promise.all([early, late, pi])
  const statsDuring = (await srv.stats()).stats as { dropped: Record<string, number>; sent: { offer: number; ack: number } }
  const done = await flood
  const floodMs = Date.now() - t0

  t.ok(e.lease, `early client got a lease in ${e.ms} ms (${e.lease ?? e.out.trim().split('\n').slice(-2).join(' | ')})`)
  t.ok(l.lease, `late client got a lease in ${l.ms} ms (${l.lease ?? l.out.trim().split('\n').slice(-2).join(' | ')})`)
  t.equal(p.lease, '10.77.0.42', `configured machine got its reservation in ${p.ms} ms`)
  t.ok(e.lease !== l.lease, 'two different addresses')
  for (const x of [e.lease, l.lease]) t.match(x ?? '', /^10\.77\.0\.(1[0-4]\d|150)$/, 'from the pool')
  t.ok(l.ms < 15_000 && e.ms < 15_000, 'within udhcpc\'s own retries')
  // the attacker started after t0 and sends its last DISCOVER about a second before it reports done
  const floodEnd = t0 + Number(done.ms) - 1000
  for (const [name, x] of [['early', e], ['late', l], ['configured', p]] as const) t.ok(x.at < floodEnd, `${name} client served while the flood was still running (${floodEnd - x.at} ms before its end)`)
  t.ok(Number(done.sent) >= COUNT * 0.9, `the flood ran: ${done.sent} DISCOVERs in ${done.ms} ms`)
  t.ok(floodMs < 40_000, 'the flood is bounded in time')
  t.ok((statsDuring.dropped['rate-limited-total'] ?? 0) > 1000, `the overall bucket cut the flood (${JSON.stringify(statsDuring.dropped)}, ${statsDuring.sent.offer} offers, ${statsDuring.sent.ack} acks)`)
  const st = (await srv.stats()) as unknown as { leases: Array<{ ip: string; mac: string; state: string }> }
  const bound = st.leases.filter((x) => x.state === 'bound')
  t.equal(bound.length, 3, 'the three real clients hold the only leases')
})
