// A DISCOVER flood from random MACs must not starve real clients (issue 15): soft offers, the
// REQUEST that answers our offer, returning clients and configured machines each keep a way in.
// Pure: no sockets, time injected.
import t from 'tap'
import { DhcpEngine } from '../../src/dhcp/engine.js'
import { DEFAULT_DHCP_LIMITS, MAX_RECENT_CLIENTS, RECENT_WINDOW_MS, RecentKeys, RequestGuard, type Asker, type DhcpLimits } from '../../src/dhcp/guard.js'
import { LeaseTable, MAX_OFFER_MEMORY, buildPool, clientKey, type PoolConfig } from '../../src/dhcp/leases.js'
import { ipToInt } from '../../src/net/ipv4.js'
import { MessageType, Opt, decodePacket, optU8, type DhcpPacket } from '../../src/dhcp/packet.js'
import { silentLogger } from '../../src/log.js'
import { TestPolicy, clientPacket } from './helpers.js'

const SERVER = '10.0.0.1'
const POOL: PoolConfig = { subnet: '10.0.0.0/24', start: '10.0.0.100', end: '10.0.0.149', leaseSeconds: 3600 }
const bc = { address: '0.0.0.0', port: 68 }
const ip4 = (ip: string): number[] => ip.split('.').map(Number)
const mac = (i: number): string => `02:00:${((i >> 24) & 0xff).toString(16).padStart(2, '0')}:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`
const none = (): boolean => false
const anyone = (): boolean => true

function setup(limits: Partial<DhcpLimits> = {}): { e: DhcpEngine; policy: TestPolicy; clock: { now: number } } {
  const clock = { now: 1_000_000 }
  const policy = new TestPolicy(SERVER)
  const e = new DhcpEngine({ mode: 'full', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy, pools: [POOL], logger: silentLogger(), now: () => clock.now, limits })
  return { e, policy, clock }
}

async function ask(e: DhcpEngine, buf: Buffer): Promise<DhcpPacket | null> {
  const tx = await e.handle(buf, bc, 'dhcp')
  return tx ? decodePacket(tx.buf) : null
}
const discover = (m: string): Buffer => clientPacket({ type: MessageType.DISCOVER, mac: m })
const select = (m: string, ip: string): Buffer => clientPacket({ type: MessageType.REQUEST, mac: m, options: [[Opt.REQUESTED_IP, ip4(ip)], [Opt.SERVER_ID, ip4(SERVER)]] })
const typeOf = (p: DhcpPacket | null): number | undefined => (p ? optU8(p, Opt.MESSAGE_TYPE) : undefined)

t.test('lease table: offers are soft, leases and reservations are not', async (t) => {
  const pool = buildPool({ ...POOL, start: '10.0.0.100', end: '10.0.0.102' }) // 3 addresses
  const table = new LeaseTable()
  const now = 5000
  const noRes = (): boolean => false
  table.bind(ipToInt('10.0.0.100'), mac(1), null, null, now + 60_000)
  table.offer(ipToInt('10.0.0.101'), clientKey(mac(2), null), mac(2), now)
  table.offer(ipToInt('10.0.0.102'), clientKey(mac(3), null), mac(3), now + 1)
  const k4 = clientKey(mac(4), null)
  t.equal(table.choose(pool, k4, null, now + 2, noRes, none), null, 'nothing free and no offer may be taken back')
  t.equal(table.choose(pool, k4, null, now + 2, noRes, anyone), ipToInt('10.0.0.101'), 'the oldest un-requested offer is taken back, never the lease')
  t.equal(table.choose(pool, k4, null, now + 2, (ip) => ip === '10.0.0.101', anyone), ipToInt('10.0.0.102'), 'a reserved address is never taken back')
  t.equal(table.oldestOffer(pool, clientKey(mac(2), null), now + 2, noRes, anyone), ipToInt('10.0.0.102'), 'a client\'s own offer is not "taken back" for it')

  table.offer(ipToInt('10.0.0.101'), k4, mac(4), now + 2)
  t.ok(table.offeredTo(k4, ipToInt('10.0.0.101'), now + 3), 'the address is now offered to the new client')
  t.equal(table.lastOfferOf(clientKey(mac(2), null)), ipToInt('10.0.0.101'), 'the first client\'s offer is remembered')
  t.equal(table.oldestOffer(pool, k4, now + 3, noRes, anyone), ipToInt('10.0.0.102'), 're-offered addresses are the youngest')
  t.ok(table.grantable(ipToInt('10.0.0.101'), clientKey(mac(2), null), now + 3), 'an address only offered to another is grantable')
  t.notOk(table.grantable(ipToInt('10.0.0.100'), clientKey(mac(2), null), now + 3), 'an address bound to another is not')

  // first REQUEST wins: mac(2) binds; mac(4)'s offer is gone with it
  table.bind(ipToInt('10.0.0.101'), mac(2), null, null, now + 60_000)
  t.notOk(table.offeredTo(k4, ipToInt('10.0.0.101'), now + 4), 'the other offer is dropped')
  t.notOk(table.grantable(ipToInt('10.0.0.101'), k4, now + 4), 'and the late one cannot have it')
  t.equal(table.lastOfferOf(clientKey(mac(2), null)), undefined, 'the winner\'s offer memory is spent')
})

t.test('lease table: the memory of taken-back offers is capped', async (t) => {
  const pool = buildPool({ ...POOL, start: '10.0.0.100', end: '10.0.0.100' }) // one address, taken back every time
  const table = new LeaseTable()
  const n = MAX_OFFER_MEMORY + 100
  let offered = 0
  for (let i = 0; i < n; i++) {
    const k = clientKey(mac(i), null)
    const ip = table.choose(pool, k, null, i, () => false, anyone)
    if (ip === ipToInt('10.0.0.100')) { table.offer(ip, k, mac(i), i); offered++ }
  }
  t.equal(offered, n, 'every new client got the one address, taken back from the previous one')
  t.equal(table.lastOfferOf(clientKey(mac(0), null)), undefined, 'the oldest memories are forgotten')
  t.equal(table.lastOfferOf(clientKey(mac(n - 2), null)), ipToInt('10.0.0.100'), 'recent ones are kept')
  t.ok(table.offeredTo(clientKey(mac(n - 1), null), ipToInt('10.0.0.100'), n), 'the standing offer is kept')
})

t.test('guard: lanes for offer answers, configured machines and returning clients; every lane capped', async (t) => {
  const limits: DhcpLimits = { ...DEFAULT_DHCP_LIMITS, ratePerClient: 5, rateTotal: 20 } // returning: 2 a minute
  const g = new RequestGuard(limits, '10.0.0.0/24', 0)
  const stranger = (i: number): Asker => ({ key: `mac:${mac(i)}`, mac: mac(i), known: false, answersOffer: false })
  for (let i = 0; i < 20; i++) t.equal(g.admit(stranger(i), 0), 'ok', `stranger ${i}`)
  t.equal(g.admit(stranger(100), 0), 'rate-limited-total', 'a new MAC once the overall bucket is empty')
  t.equal(g.admit({ ...stranger(100), answersOffer: true }, 0), 'ok', 'a REQUEST answering our offer costs no overall allowance')
  t.equal(g.admit(stranger(101), 0), 'rate-limited-total')
  t.equal(g.admit(stranger(101), 0), 'ok', 'the same MAC again: a returning client')
  t.equal(g.admit(stranger(102), 0), 'rate-limited-total')
  t.equal(g.admit(stranger(102), 0), 'ok', 'second returning client')
  t.equal(g.admit(stranger(102), 0), 'rate-limited-returning', 'the returning bucket is small and capped too')
  const knownPi: Asker = { key: 'mac:52:54:00:aa:bb:01', mac: '52:54:00:aa:bb:01', known: true, answersOffer: false }
  for (let i = 0; i < 5; i++) t.equal(g.admit(knownPi, 0), 'ok', `configured machine, packet ${i + 1}`)
  t.equal(g.admit(knownPi, 0), 'rate-limited-client', 'its own per-client limit still applies')
  // the same configured MAC with invented client ids: one per-MAC allowance, then the (empty) overall one
  for (let i = 0; i < 5; i++) t.equal(g.admit({ ...knownPi, key: `id:spoof${i}` }, 0), 'rate-limited-known', `spoofed client id ${i}`)
  const offerSpam = { ...stranger(200), answersOffer: true }
  for (let i = 0; i < 5; i++) g.admit(offerSpam, 0)
  t.equal(g.admit(offerSpam, 0), 'rate-limited-client', 'answers to offers are still limited per client')
})

t.test('recent clients: capped, oldest forgotten, window', async (t) => {
  const r = new RecentKeys(3, 1000)
  t.notOk(r.touch('a', 0), 'first sight')
  t.ok(r.touch('a', 500), 'seen again within the window')
  t.notOk(r.touch('a', 2000), 'seen again after the window')
  for (const k of ['b', 'c', 'd']) r.touch(k, 2001)
  t.equal(r.size, 3, 'capped')
  t.notOk(r.touch('a', 2002), 'the oldest was forgotten')
  t.ok(MAX_RECENT_CLIENTS >= 4096 && RECENT_WINDOW_MS >= 10_000, 'defaults remember a real client\'s retry')
})

t.test('a random-MAC DISCOVER flood: a returning client and a configured machine still get leases', async (t) => {
  // 1 packet a second overall, so the flood empties the overall bucket at once; 25 addresses for unknown MACs
  const { e, policy, clock } = setup({ rateTotal: 60 })
  const pi = '52:54:00:aa:bb:01'
  const reserved = '52:54:00:aa:bb:02'
  policy.known.add(pi)
  policy.reservations.set(reserved, '10.0.0.42')
  const real = '52:54:00:12:34:56'
  let flood = 0
  /** 500 DISCOVERs a second from MACs never seen before, for `ms` */
  const flooding = async (ms: number): Promise<void> => {
    for (let i = 0; i < ms / 2; i++) { await ask(e, discover(mac(0x10000 + flood++))); clock.now += 2 }
  }
  await flooding(1300) // (the overall bucket gains its one token a second at 1.0 s, 2.0 s…: the flood takes each)
  t.equal(await ask(e, discover(real)), null, 'a new client\'s first DISCOVER is dropped with the flood')
  await flooding(2000)
  const offer = await ask(e, discover(real))
  t.equal(typeOf(offer), MessageType.OFFER, 'its retry 2 s later is answered (returning client)')
  await flooding(500) // the flood goes on between OFFER and REQUEST
  const ack = await ask(e, select(real, offer!.yiaddr))
  t.equal(typeOf(ack), MessageType.ACK, 'its REQUEST is acknowledged')
  t.equal(ack?.yiaddr, offer!.yiaddr)

  const piOffer = await ask(e, discover(pi))
  t.equal(typeOf(piOffer), MessageType.OFFER, 'a configured machine\'s first DISCOVER is answered')
  await flooding(200)
  t.equal(typeOf(await ask(e, select(pi, piOffer!.yiaddr))), MessageType.ACK, 'and acknowledged')
  const resOffer = await ask(e, discover(reserved))
  t.equal(resOffer?.yiaddr, '10.0.0.42', 'a reserved machine gets its reservation')
  await flooding(200)
  t.equal(typeOf(await ask(e, select(reserved, '10.0.0.42'))), MessageType.ACK)

  const st = e.stats()
  t.ok((st.dropped['rate-limited-total'] ?? 0) > 1000, `the flood is cut (${st.dropped['rate-limited-total']} rate-limited-total)`)
  const unknownLeases = e.leases().filter((l) => l.state === 'bound' && !policy.isKnown(l.mac)).length
  t.equal(unknownLeases, 1, 'only the real client holds an unknown lease')
  t.equal(st.leases, 3)
})

t.test('soft offers: a flood that fills the unknown share with offers does not lock a new client out', async (t) => {
  const { e } = setup() // default rates: the overall bucket is not the issue here
  for (let i = 0; i < 200; i++) await ask(e, discover(mac(0x20000 + i)))
  t.equal(e.stats().dropped['unknown-share-exhausted'] ?? 0, 0, 'at the cap, the oldest offers are taken back')
  const real = '52:54:00:12:34:57'
  const offer = await ask(e, discover(real))
  t.equal(typeOf(offer), MessageType.OFFER)
  // the flood takes the real client's offer back before it REQUESTs: the first REQUEST still wins
  for (let i = 0; i < 30; i++) await ask(e, discover(mac(0x30000 + i)))
  t.equal(typeOf(await ask(e, select(real, offer!.yiaddr))), MessageType.ACK, 'the REQUEST for an address offered meanwhile to another is granted')
  const holder = e.leases().find((l) => l.ip === offer!.yiaddr)
  t.equal(holder?.mac, real)
})

t.test('soft offers keep the unknown share for leases, and never hand out a bound address', async (t) => {
  const { e } = setup({ unknownShare: 0.1 }) // 5 addresses
  const got: string[] = []
  for (let i = 0; i < 5; i++) {
    const o = await ask(e, discover(mac(i)))
    const a = await ask(e, select(mac(i), o!.yiaddr))
    if (typeOf(a) === MessageType.ACK) got.push(a!.yiaddr)
  }
  t.equal(got.length, 5, 'five unknown leases')
  t.equal(await ask(e, discover(mac(9))), null, 'a share full of leases: nothing is taken back')
  t.equal(e.stats().dropped['unknown-share-exhausted'], 1)
  // a stranger asks for a bound address, naming us
  t.equal(typeOf(await ask(e, select(mac(9), got[0]!))), MessageType.NAK, 'an address bound to another is refused')
})

t.test('first REQUEST wins; the loser is refused and starts over', async (t) => {
  const { e } = setup({ unknownShare: 0.02 }) // one address for unknown clients
  const a = await ask(e, discover(mac(1)))
  const b = await ask(e, discover(mac(2)))
  t.equal(a?.yiaddr, b?.yiaddr, 'the offer to the first was taken back for the second')
  t.equal(typeOf(await ask(e, select(mac(2), b!.yiaddr))), MessageType.ACK, 'the second REQUESTs first and wins')
  t.equal(typeOf(await ask(e, select(mac(1), a!.yiaddr))), MessageType.NAK, 'the first is refused')
  t.equal(e.leases().filter((l) => l.state === 'bound').length, 1)
})
