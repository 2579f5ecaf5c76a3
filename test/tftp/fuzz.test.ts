// 10,000 malformed or random datagrams to the listening port and to a live transfer's port: the
// server stays up, counts each one as a drop, and still serves a real client (tftp-hpa) afterwards.
import t from 'tap'
import { createSocket } from 'node:dgram'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { TftpServer } from '../../src/tftp/server.js'
import { LayeredResolver } from '../../src/tftp/resolver.js'
import { encodeRequest } from '../../src/tftp/packet.js'
import { silentLogger } from '../../src/log.js'
import { rawPeer } from './fixtures/raw.js'

const run = promisify(execFile)

/** A datagram the server must drop: random bytes shaped into every malformed kind. */
function malformed(i: number): Buffer {
  const r = randomBytes(1 + (i % 600))
  switch (i % 8) {
    case 0: return r.subarray(0, 1) // too short for an opcode
    case 1: r.writeUInt16BE(7 + (r.readUInt16BE(0) % 65000), 0); return r // unknown opcode
    case 2: { r.writeUInt16BE(1, 0); return Buffer.from(r.map((b) => b || 1)) } // RRQ, no NUL at all
    case 3: { const b = Buffer.concat([Buffer.from([0, 1]), Buffer.from('f\0octet\0blksize\0')]); return b } // option without value
    case 4: { const b = Buffer.from(r.map((x) => x || 1)); b.writeUInt16BE(2, 0); b[b.length - 1] = 0; return b.length > 600 ? b : Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(520, 0x41), Buffer.from([0])]) } // WRQ with a 520-byte name
    case 5: return Buffer.from([0, 3, r[0] ?? 0, r[1] ?? 0, ...r.subarray(2, 40)]) // DATA to the server port
    case 6: return Buffer.from([0, 4, r[0] ?? 0, r[1] ?? 0]) // ACK to the server port
    default: return Buffer.from([0, 6, ...Buffer.from('blksize\0')]) // OACK, odd string count
  }
}

t.test('10,000 malformed or random packets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-tftp-fuzz-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const payload = randomBytes(100_000)
  await writeFile(join(dir, 'file.bin'), payload)
  const srv = new TftpServer({ address: '127.0.0.1', port: 0, resolver: new LayeredResolver({ roots: [dir] }), logger: silentLogger(), limits: { rtoInitialMs: 5000, rtoMinMs: 5000 } })
  await srv.start()
  t.teardown(() => srv.stop())
  const port = srv.address.port
  const dropped = (): number => Object.values(srv.stats().drops).reduce((a, b) => a + b, 0)

  const sock = createSocket('udp4')
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  t.teardown(() => sock.close())
  const send = (b: Buffer, p: number): Promise<void> => new Promise((resolve) => sock.send(b, p, '127.0.0.1', () => resolve()))

  // 9,000 to the listening port, in bursts the kernel buffers hold; each burst is counted before the next
  let sent = 0
  for (let burst = 0; burst < 90; burst++) {
    for (let k = 0; k < 100; k++) await send(malformed(sent++), port)
    const want = sent
    const end = Date.now() + 5000
    while (dropped() < want && Date.now() < end) await new Promise((r) => setImmediate(r))
  }
  t.equal(dropped(), 9000, 'every datagram to the listening port counted as a drop')

  // 1,000 to a live transfer's port, from the client's own address and port (its TID)
  const peer = await rawPeer(port)
  t.teardown(() => peer.close())
  await peer.send(encodeRequest('rrq', 'file.bin', 'octet'))
  const first = await peer.next()
  t.match(first?.packet, { op: 'data', block: 1 })
  for (let i = 0; i < 1000; i++) {
    const b = malformed(i)
    // ACK and ERROR are meaningful on a transfer port; everything else must be dropped
    if (b.length >= 2 && (b.readUInt16BE(0) === 4 || b.readUInt16BE(0) === 5)) b.writeUInt16BE(3, 0)
    await new Promise<void>((resolve) => peer.socket.send(b, first!.port, '127.0.0.1', () => resolve()))
    if (i % 100 === 99) { const want = 9001 + i; const end = Date.now() + 5000; while (dropped() < want && Date.now() < end) await new Promise((r) => setImmediate(r)) }
  }
  t.equal(dropped(), 10000, 'and every datagram to the transfer port')
  t.equal(srv.stats().activeSessions, 1, 'the transfer is still alive')
  t.comment(JSON.stringify(srv.stats().drops))

  // still serving: a real client on loopback gets a byte-exact file
  const out = join(dir, 'out.bin')
  await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', 'file.bin', out], { timeout: 20000 })
  t.same(await readFile(out), payload, 'tftp-hpa still gets the file byte-exact')
})
