// Full-mode logic through the engine (no sockets): RFC 2131 message handling, reservations, relays,
// pool validation, lease persistence.
import t from 'tap'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DhcpEngine } from '../../src/dhcp/engine.js'
import type { DhcpLimits } from '../../src/dhcp/guard.js'
import type { PoolConfig } from '../../src/dhcp/leases.js'
import { JsonFileLeaseStore } from '../../src/dhcp/lease-file.js'
import { MessageType, Opt, decodePacket, optIp, optString, optU8, type DhcpPacket } from '../../src/dhcp/packet.js'
import { silentLogger } from '../../src/log.js'
import { TestPolicy, clientPacket, vector } from './helpers.js'

const SERVER = '10.0.0.1'
const LOCAL: PoolConfig = { subnet: '10.0.0.0/24', start: '10.0.0.100', end: '10.0.0.102', router: '10.0.0.1', dns: ['10.0.0.53'], leaseSeconds: 3600 }
const REMOTE: PoolConfig = { subnet: '10.9.0.0/16', start: '10.9.1.0', end: '10.9.1.255', router: '10.9.0.1', leaseSeconds: 600, viaRelay: true }
const bc = { address: '0.0.0.0', port: 68 }

/** the protocol tests: the REMOTE relay allowed, the whole pool open to unknown clients */
const OPEN: Partial<DhcpLimits> = { relays: ['10.9.0.0/16'], unknownShare: 1 }

function engine(policy = new TestPolicy(SERVER), opts: { store?: JsonFileLeaseStore; now?: () => number; pools?: PoolConfig[]; limits?: Partial<DhcpLimits> } = {}): DhcpEngine {
  return new DhcpEngine({ mode: 'full', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy, pools: opts.pools ?? [LOCAL, REMOTE], leaseStore: opts.store, logger: silentLogger(), now: opts.now, limits: opts.limits ?? OPEN })
}

async function ask(e: DhcpEngine, buf: Buffer, src = bc): Promise<{ p: DhcpPacket; dest: { address: string; port: number } } | null> {
  const tx = await e.handle(buf, src, 'dhcp')
  return tx ? { p: decodePacket(tx.buf), dest: tx.dest } : null
}

const MAC = '52:54:00:00:00:01'

async function dora(e: DhcpEngine, mac: string, extra: Array<[number, number[] | string | Buffer]> = []): Promise<DhcpPacket> {
  const offer = (await ask(e, clientPacket({ type: MessageType.DISCOVER, mac, options: extra })))!.p
  const ack = (await ask(e, clientPacket({ type: MessageType.REQUEST, mac, options: [[Opt.REQUESTED_IP, ipArr(offer.yiaddr)], [Opt.SERVER_ID, ipArr(SERVER)], ...extra] })))!.p
  return ack
}
const ipArr = (ip: string): number[] => ip.split('.').map(Number)

t.test('DISCOVER → OFFER → REQUEST → ACK with lease options, broadcast', async (t) => {
  const e = engine()
  const o = await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: MAC }))
  t.equal(optU8(o!.p, Opt.MESSAGE_TYPE), MessageType.OFFER)
  t.equal(o!.p.yiaddr, '10.0.0.100')
  t.equal(optIp(o!.p, Opt.SUBNET_MASK), '255.255.255.0')
  t.equal(optIp(o!.p, Opt.ROUTER), '10.0.0.1')
  t.equal(optIp(o!.p, Opt.DNS), '10.0.0.53')
  t.equal(o!.p.options.get(Opt.LEASE_TIME)!.readUInt32BE(0), 3600)
  t.equal(o!.p.options.get(Opt.RENEWAL_TIME)!.readUInt32BE(0), 1800)
  t.equal(o!.p.options.get(Opt.REBINDING_TIME)!.readUInt32BE(0), 3150)
  t.same(o!.dest, { address: '255.255.255.255', port: 68 })
  t.notOk(o!.p.options.has(Opt.BOOTFILE), 'plain client: no boot options')
  const a = await dora(e, MAC)
  t.equal(optU8(a, Opt.MESSAGE_TYPE), MessageType.ACK)
  t.equal(a.yiaddr, '10.0.0.100', 'same address again for the same client')
  t.equal(e.stats().leases, 1)
})

t.test('REQUEST for another server withdraws our offer; wrong address is NAKed', async (t) => {
  const e = engine()
  await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: MAC }))
  t.equal(await ask(e, clientPacket({ type: MessageType.REQUEST, mac: MAC, options: [[Opt.REQUESTED_IP, [10, 0, 0, 100]], [Opt.SERVER_ID, [10, 0, 0, 2]]] })), null)
  t.same(e.stats().dropped, { 'other-server': 1 })
  const nak = await ask(e, clientPacket({ type: MessageType.REQUEST, mac: MAC, options: [[Opt.REQUESTED_IP, [10, 0, 0, 101]], [Opt.SERVER_ID, ipArr(SERVER)]] }))
  t.equal(optU8(nak!.p, Opt.MESSAGE_TYPE), MessageType.NAK)
  t.same(nak!.dest, { address: '255.255.255.255', port: 68 })
  const wrongNet = await ask(e, clientPacket({ type: MessageType.REQUEST, mac: MAC, options: [[Opt.REQUESTED_IP, [192, 168, 1, 5]]] }))
  t.equal(optU8(wrongNet!.p, Opt.MESSAGE_TYPE), MessageType.NAK, 'INIT-REBOOT on the wrong network')
  t.equal(await ask(e, clientPacket({ type: MessageType.REQUEST, mac: '52:54:00:00:00:09', options: [[Opt.REQUESTED_IP, [10, 0, 0, 102]]] })), null, 'INIT-REBOOT with no record: silent')
})

t.test('renewal is unicast to ciaddr; RELEASE frees the address; DECLINE takes it out of use', async (t) => {
  const e = engine()
  const a = await dora(e, MAC)
  const r = await ask(e, clientPacket({ type: MessageType.REQUEST, mac: MAC, ciaddr: a.yiaddr }))
  t.equal(optU8(r!.p, Opt.MESSAGE_TYPE), MessageType.ACK)
  t.same(r!.dest, { address: a.yiaddr, port: 68 })
  t.equal(r!.p.ciaddr, a.yiaddr)
  t.equal(await ask(e, clientPacket({ type: MessageType.RELEASE, mac: MAC, ciaddr: a.yiaddr, options: [[Opt.SERVER_ID, ipArr(SERVER)]] }), { address: a.yiaddr, port: 68 }), null)
  t.equal(e.stats().accepted, 1)
  t.equal(e.leases().find((l) => l.mac === MAC)?.state, 'released')
  // a second client declines the address it was offered: it is not offered again
  const o2 = (await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: '52:54:00:00:00:02' })))!.p
  await ask(e, clientPacket({ type: MessageType.DECLINE, mac: '52:54:00:00:00:02', options: [[Opt.REQUESTED_IP, ipArr(o2.yiaddr)], [Opt.SERVER_ID, ipArr(SERVER)]] }))
  t.equal(e.stats().accepted, 2)
  const o3 = (await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: '52:54:00:00:00:02' })))!.p
  t.not(o3.yiaddr, o2.yiaddr, 'declined address not offered again')
})

t.test('INFORM: configuration without an address, unicast to ciaddr', async (t) => {
  const e = engine()
  const r = await ask(e, clientPacket({ type: MessageType.INFORM, mac: MAC, ciaddr: '10.0.0.7' }))
  t.equal(optU8(r!.p, Opt.MESSAGE_TYPE), MessageType.ACK)
  t.equal(r!.p.yiaddr, '0.0.0.0')
  t.notOk(r!.p.options.has(Opt.LEASE_TIME))
  t.equal(optIp(r!.p, Opt.ROUTER), '10.0.0.1')
  t.same(r!.dest, { address: '10.0.0.7', port: 68 })
})

t.test('reservations: the machine gets its address, nobody else does', async (t) => {
  const pol = new TestPolicy(SERVER)
  pol.reservations.set('52:54:00:00:00:0a', '10.0.0.100')
  const e = engine(pol)
  const other = await dora(e, MAC)
  t.equal(other.yiaddr, '10.0.0.101', 'reserved address skipped for others')
  const mine = await dora(e, '52:54:00:00:00:0a')
  t.equal(mine.yiaddr, '10.0.0.100')
  pol.reservations.set('52:54:00:00:00:0b', '10.0.0.20') // outside the dynamic range, inside the subnet
  t.equal((await dora(e, '52:54:00:00:00:0b')).yiaddr, '10.0.0.20')
})

t.test('pool exhaustion is a counted drop', async (t) => {
  const e = engine(new TestPolicy(SERVER), { pools: [LOCAL] })
  for (let i = 1; i <= 3; i++) await dora(e, `52:54:00:00:01:0${i}`)
  t.equal(await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: '52:54:00:00:01:09' })), null)
  t.same(e.stats().dropped, { 'pool-exhausted': 1 })
})

t.test('relayed requests: reply to the relay, pool chosen by giaddr, option 82 echoed', async (t) => {
  const e = engine()
  const ri = Buffer.from([1, 3, 0x61, 0x62, 0x63])
  const tx = await e.handle(clientPacket({ type: MessageType.DISCOVER, mac: MAC, giaddr: '10.9.0.1', options: [[Opt.RELAY_AGENT_INFO, ri]] }), { address: '10.9.0.1', port: 67 }, 'dhcp')
  const p = decodePacket(tx!.buf)
  t.same(tx!.dest, { address: '10.9.0.1', port: 67 })
  t.equal(p.yiaddr, '10.9.1.0')
  t.equal(optIp(p, Opt.SUBNET_MASK), '255.255.0.0')
  t.equal(p.giaddr, '10.9.0.1')
  t.same(p.options.get(Opt.RELAY_AGENT_INFO), ri)
  t.equal(await e.handle(clientPacket({ type: MessageType.DISCOVER, mac: MAC, giaddr: '172.16.0.1' }), { address: '172.16.0.1', port: 67 }, 'dhcp'), null)
  t.same(e.stats().dropped, { 'relay-not-allowed': 1 })
})

t.test('pools outside the interface subnet are refused unless they are relay pools', async (t) => {
  const mk = (pools: PoolConfig[]): DhcpEngine => engine(new TestPolicy(SERVER), { pools })
  t.throws(() => mk([{ ...LOCAL, subnet: '192.168.5.0/24', start: '192.168.5.10', end: '192.168.5.20', router: undefined }]), /not on the interface's subnet/)
  t.throws(() => mk([{ ...LOCAL, start: '10.0.0.1', end: '10.0.0.5' }]), /server's own address/)
  t.throws(() => mk([{ ...LOCAL, start: '10.0.1.1', end: '10.0.1.5' }]), /not inside/)
  t.throws(() => mk([LOCAL, { ...LOCAL }]), /overlap/)
  t.throws(() => new DhcpEngine({ mode: 'full', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy: new TestPolicy(SERVER), logger: silentLogger() }), /at least one pool/)
})

t.test('a Pi in full mode gets an address and the Raspberry Pi Boot menu', async (t) => {
  const e = engine()
  const o = (await ask(e, vector('pi4-eeprom-discover')))!.p
  t.equal(o.yiaddr, '10.0.0.100')
  t.equal(optString(o, Opt.TFTP_SERVER), SERVER)
  t.equal(o.siaddr, SERVER)
  t.match(o.options.get(Opt.VENDOR_SPECIFIC)!.toString('latin1'), /Raspberry Pi Boot/)
})

t.test('leases persist (JSON snapshot + journal) and load into a new engine', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-leases-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'sub', 'leases.json')
  const e1 = engine(new TestPolicy(SERVER), { store: new JsonFileLeaseStore(file) })
  await e1.load()
  const a = await dora(e1, MAC, [[Opt.HOSTNAME, 'pi-03']])
  await e1.flush()
  const doc = JSON.parse(await readFile(file, 'utf8')) as { version: number; leases: Array<{ ip: string; mac: string; hostname: string }> }
  t.equal(doc.version, 1)
  t.match(doc.leases, [{ ip: a.yiaddr, mac: MAC, hostname: 'pi-03' }], 'the first save after loading writes a snapshot')
  const b = await dora(e1, '52:54:00:00:00:02')
  await e1.close()
  t.match(await readFile(`${file}.journal`, 'utf8'), new RegExp(`"ip":"${b.yiaddr.replace(/\./g, '\\.')}"`), 'the next lease went to the journal')
  t.same((await readdir(join(dir, 'sub'))).sort(), ['leases.json', 'leases.json.journal'], 'no temp file left behind')
  const e2 = engine(new TestPolicy(SERVER), { store: new JsonFileLeaseStore(file) })
  await e2.load()
  t.same(e2.leases().map((l) => l.ip).sort(), [a.yiaddr, b.yiaddr].sort(), 'snapshot and journal loaded')
  const renew = await ask(e2, clientPacket({ type: MessageType.REQUEST, mac: MAC, ciaddr: a.yiaddr }))
  t.equal(optU8(renew!.p, Opt.MESSAGE_TYPE), MessageType.ACK, 'restarted engine renews the lease it loaded')
  const other = (await ask(e2, clientPacket({ type: MessageType.DISCOVER, mac: '52:54:00:00:00:77' })))!.p
  t.not(other.yiaddr, a.yiaddr, 'loaded lease not offered to another client')
  t.not(other.yiaddr, b.yiaddr, 'journaled lease not offered to another client')
})

t.test('no ACK before the lease store says the lease is durable', async (t) => {
  let release = (): void => {}
  let saves = 0
  const slow = { load: async () => [], save: () => { saves++; return new Promise<void>((r) => { release = r }) } }
  const e = new DhcpEngine({ mode: 'full', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy: new TestPolicy(SERVER), pools: [LOCAL], leaseStore: slow, logger: silentLogger(), limits: OPEN })
  const o = (await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: MAC })))!.p
  t.equal(saves, 0, 'an OFFER writes nothing')
  let acked = false
  const pending = ask(e, clientPacket({ type: MessageType.REQUEST, mac: MAC, options: [[Opt.REQUESTED_IP, ipArr(o.yiaddr)], [Opt.SERVER_ID, ipArr(SERVER)]] })).then((r) => { acked = true; return r })
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
  t.equal(saves, 1, 'the REQUEST started a save')
  t.equal(acked, false, 'no ACK while the save is pending')
  release()
  t.equal(optU8((await pending)!.p, Opt.MESSAGE_TYPE), MessageType.ACK, 'ACK once the save resolved')
})

t.test('a failing lease store means no ACK', async (t) => {
  const broken = { load: async () => [], save: async () => { throw new Error('disk full') } }
  const e = new DhcpEngine({ mode: 'full', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy: new TestPolicy(SERVER), pools: [LOCAL], leaseStore: broken, logger: silentLogger(), limits: OPEN })
  const o = (await ask(e, clientPacket({ type: MessageType.DISCOVER, mac: MAC })))!.p
  t.equal(await ask(e, clientPacket({ type: MessageType.REQUEST, mac: MAC, options: [[Opt.REQUESTED_IP, ipArr(o.yiaddr)], [Opt.SERVER_ID, ipArr(SERVER)]] })), null)
  t.same(e.stats().dropped, { 'lease-store-failed': 1 })
})
