// Protocol paths driven packet by packet on loopback: Pi probes, UEFI aborts after OACK, duplicate
// ACKs, retransmission and giving up, write refusal, unknown TIDs, limits, options, windows,
// netascii, the memory cache. (Interoperability with real clients: clients.test.ts, loss.test.ts.)
import t from 'tap'
import { mkdtemp, rm, writeFile, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TftpServer, type TftpLimits, type TransferRecord } from '../../src/tftp/server.js'
import { LayeredResolver } from '../../src/tftp/resolver.js'
import { encodeAck, encodeError, encodeRequest } from '../../src/tftp/packet.js'
import { silentLogger } from '../../src/log.js'
import { rawPeer, type RawPeer } from './fixtures/raw.js'

const dir = await mkdtemp(join(tmpdir(), 'bootlab-tftp-srv-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const big = Buffer.alloc(5000)
for (let i = 0; i < big.length; i++) big[i] = i & 0xff
await writeFile(join(dir, 'start4.elf'), big)
await writeFile(join(dir, 'text.txt'), 'a\nb\rc\r\n')

async function server(t: { teardown(fn: () => unknown): void }, limits: Partial<TftpLimits> = {}): Promise<{ srv: TftpServer; port: number; records: TransferRecord[]; peer: () => Promise<RawPeer> }> {
  const srv = new TftpServer({ address: '127.0.0.1', port: 0, resolver: new LayeredResolver({ roots: [dir] }), logger: silentLogger(), limits })
  await srv.start()
  const records: TransferRecord[] = []
  srv.on('tftp.transfer.done', (r) => records.push(r))
  const peers: RawPeer[] = []
  t.teardown(async () => { for (const p of peers) p.close(); await srv.stop() })
  const port = srv.address.port
  return { srv, port, records, peer: async () => { const p = await rawPeer(port); peers.push(p); return p } }
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
}

// long timers: nothing is retransmitted unless a test wants it
const calm: Partial<TftpLimits> = { rtoInitialMs: 5000, rtoMinMs: 5000, rtoMaxMs: 5000 }

t.test('Pi probe: OACK with tsize, then ERROR 0 "Early terminate" is a quiet abort', async (t) => {
  const { srv, peer, records } = await server(t, calm)
  const p = await peer()
  await p.send(encodeRequest('rrq', 'start4.elf', 'octet', { tsize: '0', blksize: '1468' }))
  const r = await p.next()
  t.equal(r?.packet.op, 'oack')
  if (r?.packet.op === 'oack') t.same(Object.fromEntries(r.packet.options), { tsize: '5000', blksize: '1468' })
  await p.send(encodeError(0, 'Early terminate'))
  await until(() => records.length === 1)
  t.match(records[0], { outcome: 'aborted', error: { code: 0, message: 'Early terminate' }, file: 'start4.elf', size: 5000 })
  t.match(srv.stats(), { transfersAborted: 1, transfersFailed: 0, activeSessions: 0 })
})

t.test('Pi probe reading block 1 then terminating; UEFI error 8 after OACK', async (t) => {
  const { srv, peer, records } = await server(t, calm)
  const a = await peer()
  await a.send(encodeRequest('rrq', 'start4.elf', 'octet', { blksize: '1024' }))
  t.equal((await a.next())?.packet.op, 'oack')
  await a.send(encodeAck(0))
  const d = await a.next()
  t.match(d?.packet, { op: 'data', block: 1 })
  if (d?.packet.op === 'data') t.equal(d.packet.data.length, 1024)
  await a.send(encodeError(0, 'Early terminate'))
  const b = await peer()
  await b.send(encodeRequest('rrq', 'start4.elf', 'octet', { tsize: '0' }))
  t.equal((await b.next())?.packet.op, 'oack')
  await b.send(encodeError(8, 'option refused'))
  await until(() => records.length === 2)
  t.same(records.map((r) => r.outcome), ['aborted', 'aborted'])
  t.equal(srv.stats().transfersAborted, 2)
})

t.test('re-ACKed blocks are ignored: no duplicate DATA (Sorcerer\'s Apprentice)', async (t) => {
  const { srv, peer, records } = await server(t, calm)
  const p = await peer()
  await p.send(encodeRequest('rrq', 'start4.elf', 'octet', {}))
  t.match((await p.next())?.packet, { op: 'data', block: 1 })
  await p.send(encodeAck(1))
  t.match((await p.next())?.packet, { op: 'data', block: 2 })
  for (let i = 0; i < 3; i++) await p.send(encodeAck(1))
  await p.send(encodeAck(2))
  t.match((await p.next())?.packet, { op: 'data', block: 3 }, 'the next packet after three duplicate ACKs is block 3')
  for (let b = 3; b <= 10; b++) {
    await p.send(encodeAck(b))
    if (b < 10) t.match((await p.next())?.packet, { op: 'data', block: b + 1 })
  }
  await until(() => records.length === 1)
  t.match(records[0], { outcome: 'ok', bytes: 5000, retransmits: 0 })
  t.equal(srv.stats().duplicateAcks, 3)
})

/** Every packet the peer receives until `quietMs` of silence or an ERROR, as "data<n>" / op names. */
async function drain(p: RawPeer, quietMs = 1000): Promise<string[]> {
  const got: string[] = []
  for (;;) {
    const r = await p.next(quietMs)
    if (!r) return got
    got.push(r.packet.op === 'data' ? `data${r.packet.block}` : r.packet.op)
    if (r.packet.op === 'error') return got
  }
}

t.test('no ACK after the first: retransmits on its timer, then gives up with an error', async (t) => {
  const { srv, peer, records } = await server(t, { rtoInitialMs: 20, rtoMinMs: 10, rtoMaxMs: 40, maxRetries: 3 })
  const p = await peer()
  await p.send(encodeRequest('rrq', 'start4.elf', 'octet', { windowsize: '2' }))
  t.equal((await p.next())?.packet.op, 'oack')
  await p.send(encodeAck(0))
  // from the second timeout on, block 3 goes along as a probe (for clients that answer a
  // duplicate only once, like atftp)
  t.same(await drain(p), ['data1', 'data2', 'data1', 'data2', 'data1', 'data2', 'data3', 'data1', 'data2', 'data3', 'data4', 'error'], 'window, three retransmission rounds, error')
  await until(() => records.length === 1)
  t.match(records[0], { outcome: 'failed', error: { message: 'timeout' }, retransmits: 7 })
  t.equal(srv.stats().transfersFailed, 1)
})

t.test('nothing ever acknowledged: DATA 1 only, within the send budget, then silence (no reflection)', async (t) => {
  const { srv, peer, records, port } = await server(t, { rtoInitialMs: 20, rtoMinMs: 10, rtoMaxMs: 40, maxRetries: 3, preAckMaxSends: 4, preAckTimeoutMs: 600 })
  const p = await peer()
  const rrq = encodeRequest('rrq', 'start4.elf', 'octet', {})
  await p.send(rrq)
  t.same(await drain(p), ['data1', 'data1', 'data1', 'data1'], 'four sends of block 1, no probe of later blocks, no ERROR')
  await until(() => records.length === 1)
  t.match(records[0], { outcome: 'failed', error: { message: 'no ACK' } })
  // a repeated request within the budget is answered; beyond it, not
  const q = await peer()
  await q.send(rrq)
  const first = await q.next()
  for (let i = 0; i < 4; i++) await q.send(rrq, port)
  t.ok(first && (await drain(q)).length <= 3, 'repeated requests share the budget')
  t.ok((srv.stats().drops.pre_ack_budget ?? 0) >= 1, 'requests beyond the budget are counted')
})

t.test('the OACK is never resent on the timer (atftp aborts on a second OACK)', async (t) => {
  // the old rule resent it from the timer after 6 s: the flaky atftp "unexpected OACK" under loss
  const { peer, records } = await server(t, { rtoInitialMs: 20, rtoMinMs: 10, rtoMaxMs: 40, maxRetries: 1000, preAckTimeoutMs: 7000 })
  const p = await peer()
  await p.send(encodeRequest('rrq', 'start4.elf', 'octet', { blksize: '1468', tsize: '0' }))
  t.same(await drain(p, 7500), ['oack'], 'one OACK, then silence until the session ends (7 s)')
  await until(() => records.length === 1)
  t.match(records[0], { outcome: 'failed', error: { message: 'no ACK for the OACK' } })
})

t.test('a lost ACK 0 is repeated by the client: one OACK, then the data', async (t) => {
  const { peer, records } = await server(t, { rtoInitialMs: 20, rtoMinMs: 10, rtoMaxMs: 40 })
  const p = await peer()
  await p.send(encodeRequest('rrq', 'text.txt', 'octet', { blksize: '1468' }))
  t.equal((await p.next())?.packet.op, 'oack')
  await new Promise((r) => setTimeout(r, 500)) // many of our timer periods: the "lost" ACK 0
  await p.send(encodeAck(0))
  t.match((await p.next())?.packet, { op: 'data', block: 1 }, 'DATA 1, not a second OACK')
  await p.send(encodeAck(1))
  await until(() => records.length === 1)
  t.equal(records[0]?.outcome, 'ok')
})

t.test('write requests, unknown modes, missing files, escapes', async (t) => {
  const { srv, peer } = await server(t, calm)
  const cases: [Buffer, number][] = [
    [encodeRequest('wrq', 'x', 'octet'), 2],
    [encodeRequest('rrq', 'start4.elf', 'mail'), 4],
    [encodeRequest('rrq', 'nope', 'octet'), 1],
    [encodeRequest('rrq', '../x', 'octet'), 2],
  ]
  for (const [pkt, code] of cases) {
    const p = await peer()
    await p.send(pkt)
    t.match((await p.next())?.packet, { op: 'error', code })
  }
  t.match(srv.stats(), { refused: 2, notFound: 1, denied: 1 })
})

t.test('a packet from another port gets "unknown transfer ID" and the transfer goes on', async (t) => {
  const { srv, peer, records } = await server(t, calm)
  const p = await peer()
  await p.send(encodeRequest('rrq', 'text.txt', 'octet'))
  const d = await p.next()
  t.match(d?.packet, { op: 'data', block: 1 })
  const intruder = await peer()
  await intruder.send(encodeAck(1), d!.port)
  t.match((await intruder.next())?.packet, { op: 'error', code: 5 })
  await p.send(encodeAck(1))
  await until(() => records.length === 1)
  t.equal(records[0]?.outcome, 'ok')
  t.equal(srv.stats().drops.unknown_tid, 1)
})

t.test('per-client session limit (acknowledged transfers)', async (t) => {
  const { peer } = await server(t, { ...calm, maxSessionsPerClient: 2 })
  const ps = [await peer(), await peer()]
  for (const p of ps) {
    await p.send(encodeRequest('rrq', 'start4.elf', 'octet'))
    t.match((await p.next())?.packet, { op: 'data', block: 1 })
    await p.send(encodeAck(1))
    t.match((await p.next())?.packet, { op: 'data', block: 2 })
  }
  const third = await peer()
  await third.send(encodeRequest('rrq', 'start4.elf', 'octet'))
  t.match((await third.next())?.packet, { op: 'error', message: /Too many/ })
})

t.test('unacknowledged sessions: own lower caps, the oldest is dropped to admit a new request', async (t) => {
  const { srv, peer, records } = await server(t, { ...calm, maxPendingPerClient: 2, maxPendingSessions: 3 })
  // one acknowledged transfer: never dropped for unacknowledged ones
  const a = await peer()
  await a.send(encodeRequest('rrq', 'start4.elf', 'octet'))
  t.match((await a.next())?.packet, { op: 'data', block: 1 })
  await a.send(encodeAck(1))
  t.match((await a.next())?.packet, { op: 'data', block: 2 })
  const ps = [await peer(), await peer(), await peer()]
  for (const p of ps) {
    await p.send(encodeRequest('rrq', 'start4.elf', 'octet'))
    t.match((await p.next())?.packet, { op: 'data', block: 1 }, 'admitted')
  }
  await until(() => records.length === 1)
  t.match(records, [{ outcome: 'failed', error: { message: /unacknowledged/ } }], 'the oldest unacknowledged one was dropped (silently)')
  t.equal(await ps[0]!.next(300), null, 'nothing more to the dropped one')
  t.match(srv.stats(), { activeSessions: 3, pendingSessions: 2, pendingEvicted: 1 })
  await ps[1]!.send(encodeAck(1))
  t.match((await ps[1]!.next())?.packet, { op: 'data', block: 2 }, 'the others go on')
  await a.send(encodeAck(2))
  t.match((await a.next())?.packet, { op: 'data', block: 3 }, 'the acknowledged one goes on')
})

t.test('options: blksize clamped, invalid ignored, timeout echoed, windowsize honoured', async (t) => {
  const { peer, records } = await server(t, { ...calm, maxBlksize: 1468, maxWindowsize: 8 })
  const p = await peer()
  await p.send(encodeRequest('rrq', 'start4.elf', 'octet', { blksize: '9000', timeout: '3', windowsize: '100', foo: 'bar' }))
  const o = await p.next()
  if (o?.packet.op !== 'oack') { t.fail('expected OACK'); return }
  t.same(Object.fromEntries(o.packet.options), { blksize: '1468', timeout: '3', windowsize: '8' })
  const q = await peer()
  await q.send(encodeRequest('rrq', 'start4.elf', 'octet', { blksize: '4', windowsize: '4' }))
  const o2 = await q.next()
  if (o2?.packet.op !== 'oack') { t.fail('expected OACK'); return }
  t.same(Object.fromEntries(o2.packet.options), { windowsize: '4' }, 'blksize below 8 is left out')
  // window of 4 blocks of 512: blocks 1..4 arrive without ACKs; ACK 2 asks for 3.. again (RFC 7440)
  await q.send(encodeAck(0))
  const blocks: number[] = []
  for (let i = 0; i < 4; i++) { const r = await q.next(); if (r?.packet.op === 'data') blocks.push(r.packet.block) }
  t.same(blocks, [1, 2, 3, 4])
  await q.send(encodeAck(2))
  const again: number[] = []
  for (let i = 0; i < 4; i++) { const r = await q.next(); if (r?.packet.op === 'data') again.push(r.packet.block) }
  t.same(again, [3, 4, 5, 6], 'resent from the block after the ACK')
  await q.send(encodeAck(6))
  const rest: number[] = []
  for (let i = 0; i < 4; i++) { const r = await q.next(); if (r?.packet.op === 'data') rest.push(r.packet.block) }
  t.same(rest, [7, 8, 9, 10])
  await q.send(encodeAck(10))
  await until(() => records.some((r) => r.outcome === 'ok'))
  t.match(records.find((r) => r.outcome === 'ok'), { windowsize: 4, blksize: 512, bytes: 5000 })
})

t.test('a repeated request gets the OACK again, not a second transfer', async (t) => {
  const { srv, peer, port } = await server(t, calm)
  const p = await peer()
  const rrq = encodeRequest('rrq', 'start4.elf', 'octet', { blksize: '1468' })
  await p.send(rrq)
  t.equal((await p.next())?.packet.op, 'oack')
  await p.send(rrq, port)
  t.equal((await p.next())?.packet.op, 'oack')
  t.match(srv.stats(), { duplicateRequests: 1, activeSessions: 1 })
})

t.test('netascii: LF → CR LF, CR → CR NUL, tsize is the converted size', async (t) => {
  const { peer } = await server(t, calm)
  const p = await peer()
  await p.send(encodeRequest('rrq', 'text.txt', 'netascii', { tsize: '0' }))
  const o = await p.next()
  t.match(o?.packet, { op: 'oack' })
  if (o?.packet.op === 'oack') t.equal(o.packet.options.get('tsize'), '9')
  await p.send(encodeAck(0))
  const d = await p.next()
  if (d?.packet.op !== 'data') { t.fail('expected DATA'); return }
  t.same([...d.packet.data], [0x61, 0x0d, 0x0a, 0x62, 0x0d, 0x00, 0x63, 0x0d, 0x0a])
})

t.test('memory cache serves hot files and notices a changed file', async (t) => {
  const { srv, peer } = await server(t, calm)
  const name = 'hot.bin'
  await writeFile(join(dir, name), 'first version')
  const fetch = async (): Promise<string> => {
    const p = await peer()
    await p.send(encodeRequest('rrq', name, 'octet'))
    const d = await p.next()
    await p.send(encodeAck(1))
    return d?.packet.op === 'data' ? d.packet.data.toString() : ''
  }
  t.equal(await fetch(), 'first version')
  t.equal(await fetch(), 'first version')
  t.equal(srv.stats().cacheHits, 1)
  await writeFile(join(dir, name), 'second version!')
  await utimes(join(dir, name), new Date(), new Date(Date.now() + 5000))
  t.equal(await fetch(), 'second version!')
  t.equal(srv.stats().cacheMisses, 2)
})

t.test('stop(): transfers in flight get an error and end as failed; the port is released', async (t) => {
  const srv = new TftpServer({ address: '127.0.0.1', port: 0, resolver: new LayeredResolver({ roots: [dir] }), logger: silentLogger(), limits: calm })
  await srv.start()
  const port = srv.address.port
  const records: TransferRecord[] = []
  srv.on('tftp.transfer.done', (r) => records.push(r))
  const p = await rawPeer(port)
  t.teardown(() => p.close())
  await p.send(encodeRequest('rrq', 'start4.elf', 'octet'))
  t.match((await p.next())?.packet, { op: 'data', block: 1 })
  await srv.stop()
  t.match((await p.next())?.packet, { op: 'error', code: 0, message: 'Server shutting down' })
  t.match(records, [{ outcome: 'failed', error: { message: 'Server shutting down' } }])
  const again = new TftpServer({ address: '127.0.0.1', port, resolver: new LayeredResolver({ roots: [dir] }), logger: silentLogger() })
  await again.start()
  t.equal(again.address.port, port, 'the same port can be bound again')
  await again.stop()
})
