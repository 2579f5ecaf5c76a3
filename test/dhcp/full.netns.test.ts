// Full mode against real clients in network namespaces: ISC dhclient and busybox udhcpc obtain,
// renew and release leases with the right options; a restarted server keeps its lease table.
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { CLIENT_SCRIPT, parseClientLog, startServer, until } from './netlab.js'

const POOL = { subnet: '10.77.0.0/24', start: '10.77.0.100', end: '10.77.0.150', router: '10.77.0.1', dns: ['10.77.0.53', '10.77.0.54'], domain: 'lab.test', leaseSeconds: 10 }

t.test('full mode: dhclient and udhcpc obtain, renew and release leases; restart keeps the table', { skip: !isRoot() && 'needs root' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1, dhc: 0, udh: 0 } })
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-dhcp-'))
  t.teardown(async () => { await lab.cleanup(); await rm(dir, { recursive: true, force: true }) })
  const leaseFile = join(dir, 'leases.json')
  const udhMac = lab.hosts.udh!.mac
  const dhcMac = lab.hosts.dhc!.mac
  const opts = { interface: 'net0', mode: 'full', pools: [POOL], leaseFile, reservations: { [udhMac]: '10.77.0.42' } }
  let srv = await startServer(lab, 'srv', opts)
  t.equal(srv.ready.binding, 'device', 'sockets bound to the interface (native helper)')

  // --- ISC dhclient
  const dlog = join(dir, 'dhclient.log')
  const dhclient = lab.spawn('dhc', ['dhclient', '-4', '-d', '-v', '-cf', '/dev/null', '-lf', join(dir, 'dhclient.leases'), '-pf', join(dir, 'dhclient.pid'), '-sf', CLIENT_SCRIPT, '-e', `LOG=${dlog}`, 'net0'])
  void dhclient
  const read = async (f: string): Promise<Array<Record<string, string>>> => { try { return parseClientLog(await readFile(f, 'utf8')) } catch { return [] } }
  const bound = await until(async () => (await read(dlog)).find((e) => e.event === 'bound'), 20000, 'dhclient BOUND')
  t.match(bound.ip, /^10\.77\.0\.(1[0-4]\d|150)$/, 'address from the pool')
  t.equal(bound.mask, '255.255.255.0')
  t.equal(bound.router, '10.77.0.1')
  t.equal(bound.dns, '10.77.0.53,10.77.0.54')
  t.equal(bound.lease, '10')
  t.equal(bound.server, '10.77.0.1')
  t.ok(srv.events('offer', dhcMac).length >= 1 && srv.events('ack', dhcMac).length >= 1, 'server emitted offer and ack events')

  // --- restart: the lease survives and the next renewal (unicast, ciaddr) is acknowledged
  await srv.stop()
  const file = JSON.parse(await readFile(leaseFile, 'utf8')) as { leases: Array<{ ip: string; mac: string; state: string }> }
  t.ok(file.leases.some((l) => l.mac === dhcMac && l.ip === bound.ip && l.state === 'bound'), 'lease file holds the binding')
  srv = await startServer(lab, 'srv', opts)
  t.equal(srv.ready.leases, 1, 'restarted server loaded the lease table')
  const renewAck = await srv.waitFor((m) => m.event === 'ack' && m.mac === dhcMac, 20000, 'renewal ACK after restart')
  t.equal(renewAck.ip, bound.ip, 'same address renewed by the restarted server')
  const renew = await until(async () => (await read(dlog)).find((e) => e.event === 'renew'), 10000, 'dhclient RENEW')
  t.equal(renew.ip, bound.ip)
  t.notOk(srv.events('nak').length, 'no NAK')

  // --- release
  const rel = await lab.exec('dhc', ['dhclient', '-4', '-r', '-v', '-cf', '/dev/null', '-lf', join(dir, 'dhclient.leases'), '-pf', join(dir, 'dhclient.pid'), '-sf', CLIENT_SCRIPT, '-e', `LOG=${dlog}`, 'net0'], { timeoutMs: 20000 })
  t.equal(rel.code, 0, rel.stderr)
  const relEv = await srv.waitFor((m) => m.event === 'release' && m.mac === dhcMac, 10000, 'release event')
  t.ok(relEv)
  await until(async () => {
    const s = await srv.stats()
    const l = (s.leases as Array<{ mac: string; state: string }>).find((x) => x.mac === dhcMac)
    return l?.state === 'released' ? true : undefined
  }, 5000, 'lease released')

  // --- busybox udhcpc, with a reservation
  const ulog = join(dir, 'udhcpc.log')
  const udhcpc = lab.spawn('udh', ['busybox', 'udhcpc', '-f', '-i', 'net0', '-s', CLIENT_SCRIPT, '-t', '5', '-T', '1', '-A', '1', '-x', 'hostname:udh-test'], { env: { ...process.env, LOG: ulog } })
  const ub = await until(async () => (await read(ulog)).find((e) => e.event === 'bound'), 20000, 'udhcpc bound')
  t.equal(ub.ip, '10.77.0.42', 'reservation honoured')
  t.equal(ub.mask, '255.255.255.0')
  t.equal(ub.router, '10.77.0.1')
  t.equal(ub.dns, '10.77.0.53,10.77.0.54')
  t.equal(ub.lease, '10')
  t.equal(ub.server, '10.77.0.1')
  udhcpc.kill('SIGUSR1') // renew now
  await until(async () => (await read(ulog)).find((e) => e.event === 'renew' && e.ip === '10.77.0.42'), 10000, 'udhcpc renew')
  t.pass('udhcpc renewed')
  udhcpc.kill('SIGUSR2') // release
  await srv.waitFor((m) => m.event === 'release' && m.mac === udhMac, 10000, 'udhcpc release')
  t.pass('udhcpc released')
  type Stats = { received: number; answered: number; accepted: number; dropped: Record<string, number> }
  const counted = (s: Stats): number => s.answered + s.accepted + Object.values(s.dropped).reduce((a, b) => a + b, 0)
  // packets still being handled (a lease write in flight) are counted when they finish
  const st = await until(async () => { const x = await srv.stats(); return counted(x.stats as Stats) === (x.stats as Stats).received ? x : undefined }, 5000, 'all packets counted')
  t.ok((st.stats as Stats).received > 0, 'every packet counted as answered, accepted or dropped')
  const hostLease = (st.leases as Array<{ mac: string; hostname: string | null }>).find((l) => l.mac === udhMac)
  t.equal(hostLease?.hostname, 'udh-test', 'hostname (option 12) recorded')
  await srv.stop()
})
