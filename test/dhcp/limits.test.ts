// Protocol limits of the DHCP engine (issue 13 items 12, 19), no sockets, time injected:
// starvation by invented MACs, rate limits, known_only, short offer holds, forged RELEASE, relays.
import t from 'tap'
import { DhcpEngine } from '../../src/dhcp/engine.js'
import type { DhcpLimits } from '../../src/dhcp/guard.js'
import { OFFER_HOLD_MS, type PoolConfig } from '../../src/dhcp/leases.js'
import { MessageType, Opt, decodePacket, optU8, type DhcpPacket } from '../../src/dhcp/packet.js'
import { silentLogger } from '../../src/log.js'
import { TestPolicy, clientPacket } from './helpers.js'

const SERVER = '10.0.0.1'
/** 50 addresses, as in the review */
const POOL: PoolConfig = { subnet: '10.0.0.0/24', start: '10.0.0.100', end: '10.0.0.149', leaseSeconds: 43200 }
const bc = { address: '0.0.0.0', port: 68 }
const ip4 = (ip: string): number[] => ip.split('.').map(Number)
const mac = (i: number): string => `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`

function setup(limits: Partial<DhcpLimits> = {}, mode: 'full' | 'proxy' = 'full'): { e: DhcpEngine; policy: TestPolicy; clock: { now: number } } {
  const clock = { now: 1_000_000 }
  const policy = new TestPolicy(SERVER)
  const e = new DhcpEngine({ mode, serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy, ...(mode === 'full' ? { pools: [POOL] } : {}), logger: silentLogger(), now: () => clock.now, limits })
  return { e, policy, clock }
}

async function ask(e: DhcpEngine, buf: Buffer, src = bc): Promise<DhcpPacket | null> {
  const tx = await e.handle(buf, src, 'dhcp')
  return tx ? decodePacket(tx.buf) : null
}

/** DISCOVER + REQUEST; the address acknowledged, or null */
async function dora(e: DhcpEngine, m: string): Promise<string | null> {
  const offer = await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: m }))
  if (!offer) return null
  const ack = await ask(e, clientPacket({ type: MessageType.REQUEST, mac: m, options: [[Opt.REQUESTED_IP, ip4(offer.yiaddr)], [Opt.SERVER_ID, ip4(SERVER)]] }))
  return ack && optU8(ack, Opt.MESSAGE_TYPE) === MessageType.ACK ? ack.yiaddr : null
}

t.test('60 invented MACs take at most the unknown share of a 50-address pool; a configured machine still gets one', async (t) => {
  const { e, policy, clock } = setup()
  policy.known.add('52:54:00:aa:bb:01')
  let got = 0
  for (let i = 0; i < 60; i++) {
    if (await dora(e, mac(i))) got++
    clock.now += 100
  }
  t.equal(got, 25, 'unknown MACs hold half the pool (unknown_share 0.5)')
  t.equal(e.stats().dropped['unknown-share-exhausted'], 35)
  t.ok(await dora(e, '52:54:00:aa:bb:01'), 'the configured machine gets an address')
  // an unknown client that holds a lease keeps renewing it
  const renew = await ask(e, clientPacket({ type: MessageType.REQUEST, mac: mac(0), ciaddr: '10.0.0.100' }), { address: '10.0.0.100', port: 68 })
  t.equal(renew && optU8(renew, Opt.MESSAGE_TYPE), MessageType.ACK)
})

t.test('offers are held briefly and soft: at the cap the oldest un-requested offer is taken back; a late REQUEST still works', async (t) => {
  const { e, clock } = setup({ unknownShare: 0.1 }) // 5 addresses for unknown clients
  for (let i = 0; i < 5; i++) t.ok(await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: mac(i) })), `offer ${i}`)
  const o9 = await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: mac(9) }))
  t.equal(o9?.yiaddr, '10.0.0.100', 'the share is held by offers: the oldest (mac 0) is taken back')
  clock.now += OFFER_HOLD_MS + 1
  t.ok(OFFER_HOLD_MS <= 10_000, `offer hold ${OFFER_HOLD_MS} ms`)
  const o = await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: mac(8) }))
  t.ok(o, 'after the hold, a new client gets an offer')
  // mac(1) REQUESTs its (expired, still free) offer late: granted
  const late = await ask(e, clientPacket({ type: MessageType.REQUEST, mac: mac(1), options: [[Opt.REQUESTED_IP, ip4('10.0.0.101')], [Opt.SERVER_ID, ip4(SERVER)]] }))
  t.equal(late && optU8(late, Opt.MESSAGE_TYPE), MessageType.ACK)
})

t.test('known_only: only configured machines get addresses', async (t) => {
  const { e, policy } = setup({ knownOnly: true })
  policy.known.add('52:54:00:aa:bb:01')
  t.equal(await dora(e, mac(1)), null)
  t.equal(e.stats().dropped['unknown-client'], 1)
  t.equal(await dora(e, '52:54:00:aa:bb:01'), '10.0.0.100')
})

t.test('rate limits per client and overall', async (t) => {
  const { e, clock } = setup({ ratePerClient: 5, rateTotal: 8 })
  for (let i = 0; i < 5; i++) t.ok(await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: mac(1) })))
  t.equal(await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: mac(1) })), null, 'sixth packet in a minute from one MAC')
  t.equal(e.stats().dropped['rate-limited-client'], 1)
  for (let i = 2; i < 5; i++) t.ok(await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: mac(i) })))
  t.equal(await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: mac(7) })), null, 'ninth packet overall')
  t.equal(e.stats().dropped['rate-limited-total'], 1)
  clock.now += 60_000
  t.ok(await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: mac(1) })), 'a minute later the allowance is back')
})

t.test('RELEASE only from the lease holder\'s own address', async (t) => {
  const { e } = setup()
  const victim = mac(1)
  const ip = await dora(e, victim)
  t.equal(ip, '10.0.0.100')
  const release = clientPacket({ type: MessageType.RELEASE, mac: victim, ciaddr: ip!, options: [[Opt.SERVER_ID, ip4(SERVER)]] })
  t.equal(await ask(e, release, { address: '10.0.0.66', port: 68 }), null)
  t.equal(await ask(e, release, bc), null)
  t.equal(e.stats().dropped['release-not-from-holder'], 2, 'forged RELEASEs are counted')
  t.equal(e.leases().find((l) => l.mac === victim)?.state, 'bound', 'the lease survives')
  await ask(e, release, { address: ip!, port: 68 })
  t.equal(e.leases().find((l) => l.mac === victim)?.state, 'released', 'the holder releases it')
})

t.test('relayed requests are answered only for allowed relay subnets', async (t) => {
  const pi = '52:54:00:aa:bb:02'
  const pxe: Array<[number, Buffer | string | number[]]> = [[Opt.VENDOR_CLASS, 'PXEClient:Arch:00007:UNDI:003016'], [Opt.CLIENT_ARCH, [0, 7]]]
  const relayed = (giaddr: string): Buffer => clientPacket({ type: MessageType.DISCOVER, mac: pi, giaddr, options: pxe })
  const { e } = setup({}, 'proxy')
  t.equal(await e.handle(relayed('172.16.0.1'), { address: '172.16.0.1', port: 67 }, 'dhcp'), null, 'proxy mode: unknown relay ignored')
  t.equal(e.stats().dropped['relay-not-allowed'], 1)
  t.ok(await e.handle(relayed('10.0.0.254'), { address: '10.0.0.254', port: 67 }, 'dhcp'), 'a relay on the interface subnet is answered')
  const { e: e2 } = setup({ relays: ['172.16.0.0/24'] }, 'proxy')
  const tx = await e2.handle(relayed('172.16.0.1'), { address: '172.16.0.1', port: 67 }, 'dhcp')
  t.same(tx?.dest, { address: '172.16.0.1', port: 67 }, 'a listed relay is answered, through the relay')
})
