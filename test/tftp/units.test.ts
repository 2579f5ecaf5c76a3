// Codec, option negotiation, netascii, RTO estimator, name normalisation and the layered resolver.
import t from 'tap'
import { SessionSlots } from '../../src/tftp/slots.js'
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeError, encodeOack, encodeRequest, parsePacket, dataHeader } from '../../src/tftp/packet.js'
import { negotiate } from '../../src/tftp/options.js'
import { toNetascii } from '../../src/tftp/source.js'
import { RtoEstimator } from '../../src/tftp/rto.js'
import { AccessDenied, LayeredResolver, normaliseName, type PiPrefixSeen } from '../../src/tftp/resolver.js'

t.test('packet codec', async (t) => {
  const rrq = parsePacket(encodeRequest('rrq', 'a/b.bin', 'OCTET', { BlkSize: '1468', tsize: '0', blksize: '99' }))
  t.ok(rrq.ok)
  if (rrq.ok && rrq.packet.op === 'rrq') {
    t.equal(rrq.packet.mode, 'octet')
    t.same(Object.fromEntries(rrq.packet.options), { blksize: '1468', tsize: '0' }, 'names lower-cased, first one wins')
  }
  t.same(parsePacket(Buffer.from([0, 1, 0x61])), { ok: false, reason: 'malformed_request' }, 'unterminated name')
  t.same(parsePacket(Buffer.from([0, 1, 0x61, 0, 0x6f, 0, 0x78, 0])), { ok: false, reason: 'malformed_options' }, 'option without value')
  t.same(parsePacket(Buffer.from([0, 9, 0, 0])), { ok: false, reason: 'bad_opcode' })
  t.same(parsePacket(Buffer.from([0])), { ok: false, reason: 'short' })
  t.same(parsePacket(Buffer.from([0, 4, 0])), { ok: false, reason: 'short' })
  t.match(parsePacket(Buffer.from([0, 4, 0xff, 0xff])), { ok: true, packet: { op: 'ack', block: 65535 } })
  t.match(parsePacket(encodeError(1, 'File not found')), { ok: true, packet: { op: 'error', code: 1, message: 'File not found' } })
  t.same([...dataHeader(65536 + 7)], [0, 3, 0, 7], 'block numbers wrap at 16 bits')
  const oack = parsePacket(encodeOack(new Map([['blksize', '1468']])))
  t.match(oack, { ok: true, packet: { op: 'oack' } })
})

t.test('option negotiation', async (t) => {
  const lim = { maxBlksize: 65464, maxWindowsize: 64 }
  const n = negotiate(new Map([['blksize', '70000'], ['tsize', '0'], ['timeout', '2'], ['windowsize', '16']]), 1234, lim)
  t.same([n.blksize, n.windowsize, n.timeoutMs, n.tsize], [65464, 16, 2000, true])
  t.same(Object.fromEntries(n.ack), { blksize: '65464', tsize: '1234', timeout: '2', windowsize: '16' })
  const bad = negotiate(new Map([['blksize', '7'], ['timeout', '0'], ['windowsize', 'x'], ['tsize', '-1'], ['multicast', '']]), 10, lim)
  t.equal(bad.ack.size, 0, 'invalid values are left out, no OACK')
  t.equal(bad.blksize, 512)
  t.equal(negotiate(new Map([['tsize', '0']]), 0, lim).ack.size, 0, 'no tsize for an empty file (curl rejects tsize 0)')
})

t.test('netascii', async (t) => {
  t.same([...toNetascii(Buffer.from('a\nb\r\nc\rd'))], [0x61, 13, 10, 0x62, 13, 10, 0x63, 13, 0, 0x64])
  t.same([...toNetascii(Buffer.from('\n'))], [13, 10])
  const plain = Buffer.from('no line ends')
  t.equal(toNetascii(plain), plain, 'unchanged input is not copied')
})

t.test('RTO estimator: initial, smoothing, clamping, backoff', async (t) => {
  const r = new RtoEstimator({ initialMs: 150, minMs: 25, maxMs: 3000 })
  t.equal(r.rto, 150)
  r.sample(1)
  t.equal(r.rto, 25, 'a LAN round trip is clamped to the minimum')
  r.timedOut(); t.equal(r.rto, 25, 'a first loss is resent at the same RTO (loss, not congestion)')
  r.timedOut(); t.equal(r.rto, 25, 'and a second')
  r.timedOut(); t.equal(r.rto, 50, 'from the third timeout in a row the RTO doubles')
  r.timedOut(); t.equal(r.rto, 100)
  for (let i = 0; i < 20; i++) r.timedOut()
  t.equal(r.rto, 3000, 'bounded')
  r.progress(); t.equal(r.rto, 25)
  r.timedOut(); t.equal(r.rto, 25, 'progress restarts the grace')
  for (let i = 0; i < 50; i++) r.sample(400)
  t.ok(r.rto >= 400 && r.rto < 500, `follows a slow link (${r.rto})`)
})

t.test('name normalisation and jail', async (t) => {
  t.equal(normaliseName('/boot//x/./y'), 'boot/x/y', 'leading slash means the root (as tftpd-hpa -s)')
  for (const bad of ['../../etc/passwd', 'a/../../b', 'a\\..\\b', 'a\0b', 'x\ny', '/', '.']) {
    t.throws(() => normaliseName(bad), AccessDenied, JSON.stringify(bad))
  }
})

t.test('layered resolver: generated → Pi prefix → roots, with symlink jail', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'bootlab-tftp-res-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  const tftproot = join(base, 'tftproot')
  const firmware = join(base, 'firmware')
  await mkdir(join(firmware, 'rpi4', 'overlays'), { recursive: true })
  await mkdir(join(tftproot, 'cafe0001'), { recursive: true })
  await writeFile(join(firmware, 'rpi4', 'start4.elf'), 'fw-start4')
  await writeFile(join(firmware, 'rpi4', 'overlays', 'x.dtbo'), 'dtbo')
  await writeFile(join(firmware, 'undionly.kpxe'), 'ipxe')
  await writeFile(join(tftproot, 'undionly.kpxe'), 'override')
  await writeFile(join(tftproot, 'cafe0001', 'start4.elf'), 'classic-layout')
  await writeFile(join(base, 'secret'), 'secret')
  await symlink(join(base, 'secret'), join(tftproot, 'link-out'))
  await symlink('rpi4/start4.elf', join(firmware, 'alias.elf'))
  const resolver = new LayeredResolver({
    roots: [tftproot, firmware],
    generated: (ctx) => (ctx.serial === '1a2b3c4d' && ctx.path === 'config.txt' ? `# for ${ctx.client.address}\n` : null),
    piPrefix: (serial) => (serial === '1a2b3c4d' ? { firmwareDir: join(firmware, 'rpi4'), machine: 'pi-03' } : null),
  })
  const seen: PiPrefixSeen[] = []
  resolver.on('tftp.pi_prefix', (e) => seen.push(e))
  const c = { address: '10.0.0.5', port: 2000 }
  t.match(await resolver.resolve('1a2b3c4d/config.txt', c), { kind: 'bytes', layer: 'generated' })
  t.match(await resolver.resolve('1A2B3C4D/start4.elf', c), { kind: 'file', layer: 'pi-prefix', size: 9 })
  t.match(await resolver.resolve('1a2b3c4d/overlays/x.dtbo', c), { kind: 'file', layer: 'pi-prefix' })
  t.equal(await resolver.resolve('1a2b3c4d/fixup4.dat', c), null, 'absent from the set and the roots')
  t.match(await resolver.resolve('cafe0001/start4.elf', c), { kind: 'file', layer: tftproot }, 'unknown serial: classic <serial>/ folder in tftproot')
  t.equal(await resolver.resolve('deadbeef/start4.elf', c), null)
  t.match(await resolver.resolve('undionly.kpxe', c), { layer: tftproot }, 'tftproot before firmware')
  t.match(await resolver.resolve('alias.elf', c), { layer: firmware }, 'a symlink inside the root is fine')
  await t.rejects(resolver.resolve('link-out', c), AccessDenied, 'a symlink out of the root is refused')
  await t.rejects(resolver.resolve('1a2b3c4d/../../secret', c), AccessDenied)
  t.equal(await resolver.resolve('nothing/here', c), null)
  t.same(seen.map((e) => [e.serial, e.mapped, e.machine]), [['1a2b3c4d', true, 'pi-03'], ['cafe0001', false, null], ['deadbeef', false, null]], 'one event per serial and client address')
  await resolver.resolve('1a2b3c4d/start4.elf', { address: '10.0.0.6', port: 1 })
  t.equal(seen.length, 4, 'the same serial from another address is announced again')
})

t.test('slots: the oldest unacknowledged slot makes room; one already ACKed (native) is acknowledged instead', async (t) => {
  const slots = new SessionSlots({ maxSessions: 10, maxSessionsPerClient: 10, maxPendingSessions: 2, maxPendingPerClient: 2 })
  const evicted: string[] = []
  const hold = (key: string, acked = false) => {
    const s = slots.hold(key, '10.0.0.2')
    s.onEvict = () => { evicted.push(key) }
    s.isAcked = () => acked
    return s
  }
  hold('a', true) // the native thread saw its ACK; the event loop has not heard yet
  hold('b')
  t.ok(slots.makeRoom('10.0.0.2'))
  t.same(evicted, [], 'a is under way: acknowledged, not dropped')
  t.equal(slots.pendingSize, 1)
  hold('c')
  t.ok(slots.makeRoom('10.0.0.2'))
  t.same(evicted, ['b'], 'the oldest really unacknowledged one goes')
  t.equal(slots.size, 2, 'a and c hold slots')
})
