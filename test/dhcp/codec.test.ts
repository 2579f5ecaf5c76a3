// Codec: header fields, option overload (52), long options (RFC 3396), size limits, strict bounds.
import t from 'tap'
import { BOOTREPLY, DecodeError, EncodeError, MAGIC_COOKIE, MAX_REQUEST_SIZE, Opt, decodePacket, encodePacket, macOf, optString, type DhcpPacket } from '../../src/dhcp/packet.js'
import { decodeUserClass, decodePiOption97, decodePxeOptions, decodeMenu, piBootMenuOption43 } from '../../src/dhcp/pxe.js'
import { vector } from './helpers.js'

function reply(options: Array<[number, Buffer]>, extra: Partial<DhcpPacket> = {}): DhcpPacket {
  return {
    op: BOOTREPLY, htype: 1, hlen: 6, hops: 0, xid: 0xdeadbeef, secs: 3, flags: 0x8000, ciaddr: '0.0.0.0', yiaddr: '10.0.0.5',
    siaddr: '10.0.0.1', giaddr: '0.0.0.0', chaddr: Buffer.from('0011223344550000000000000000000', 'hex'), sname: Buffer.alloc(0),
    file: Buffer.alloc(0), options: new Map(options), ...extra,
  }
}

t.test('every vector decodes and re-encodes to the same options', async (t) => {
  for (const name of ['pi4-eeprom-discover', 'pi4-dnsmasq-proxy-offer', 'pi4-eeprom-request', 'rpi4-edk2-uefi-pxe-discover']) {
    const p = decodePacket(vector(name))
    const again = decodePacket(encodePacket(p, { maxSize: 1400 }))
    t.same([...again.options.entries()], [...p.options.entries()], name)
    t.equal(again.xid, p.xid)
    t.equal(macOf(again), macOf(p))
  }
})

t.test('header fields round-trip; replies are padded to 300 bytes', async (t) => {
  const buf = encodePacket(reply([[53, Buffer.from([2])]], { file: Buffer.from('ipxe/ipxe.efi'), sname: Buffer.from('boot') }))
  t.equal(buf.length, 300)
  t.equal(buf.readUInt32BE(236), MAGIC_COOKIE)
  const p = decodePacket(buf)
  t.equal(p.op, BOOTREPLY)
  t.equal(p.xid, 0xdeadbeef)
  t.equal(p.secs, 3)
  t.equal(p.flags, 0x8000)
  t.equal(p.yiaddr, '10.0.0.5')
  t.equal(p.siaddr, '10.0.0.1')
  t.equal(p.file.toString(), 'ipxe/ipxe.efi')
  t.equal(p.sname.toString(), 'boot')
  t.equal(macOf(p), '00:11:22:33:44:55')
})

t.test('options longer than 255 bytes are split and joined again (RFC 3396)', async (t) => {
  const long = Buffer.alloc(300, 0x41)
  const p = decodePacket(encodePacket(reply([[53, Buffer.from([2])], [Opt.BOOTFILE, long]]), { maxSize: 1400 }))
  t.same(p.options.get(Opt.BOOTFILE), long)
})

t.test('overload: options spill into file then sname within 576 bytes, and decode back', async (t) => {
  const big = Buffer.alloc(250, 0x42)
  // 53+224 fill most of the options field; 225 must go to file, 226 to sname, 227 still fits the field
  const opts: Array<[number, Buffer]> = [[53, Buffer.from([2])], [224, big], [225, Buffer.alloc(100, 0x43)], [226, Buffer.alloc(60, 0x44)], [227, Buffer.alloc(20, 0x45)]]
  const buf = encodePacket(reply(opts))
  t.ok(buf.length <= 548, `fits 576-byte datagram (${buf.length})`)
  const p = decodePacket(buf)
  t.equal(p.options.get(Opt.OVERLOAD)?.[0], 3, 'file and sname both used')
  for (const [code, v] of opts) t.same(p.options.get(code), v, `option ${code}`)
  t.equal(p.file.length, 0)
  t.equal(p.sname.length, 0)
  t.throws(() => encodePacket(reply([[53, Buffer.from([2])], [224, big], [225, big], [226, big]])), EncodeError, 'too big even with overload')
})

t.test('decoding an overloaded packet written by someone else (file=options, sname=string)', async (t) => {
  const buf = Buffer.alloc(300)
  buf[0] = 1; buf[1] = 1; buf[2] = 6
  buf.writeUInt32BE(MAGIC_COOKIE, 236)
  Buffer.from([Opt.OVERLOAD, 1, 1, 53, 1, 1, 255]).copy(buf, 240)
  Buffer.from([Opt.VENDOR_CLASS, 9, ...Buffer.from('PXEClient'), 255]).copy(buf, 108)
  Buffer.from('server-name').copy(buf, 44)
  const p = decodePacket(buf)
  t.equal(optString(p, Opt.VENDOR_CLASS), 'PXEClient')
  t.equal(p.sname.toString(), 'server-name')
  t.equal(p.file.length, 0)
})

t.test('many repeated pieces of one option are joined in order (RFC 3396), in the largest accepted datagram', async (t) => {
  t.equal(MAX_REQUEST_SIZE, 1472)
  const buf = Buffer.alloc(MAX_REQUEST_SIZE)
  buf[0] = 1; buf[1] = 1; buf[2] = 6
  buf.writeUInt32BE(MAGIC_COOKIE, 236)
  let i = 240
  buf[i++] = Opt.OVERLOAD; buf[i++] = 1; buf[i++] = 1
  buf[i++] = 53; buf[i++] = 1; buf[i++] = 1
  const want: number[] = []
  let n = 0
  while (i + 3 < buf.length) { buf[i++] = Opt.VENDOR_SPECIFIC; buf[i++] = 1; buf[i++] = n & 0xff; want.push(n++ & 0xff) }
  // the file field (overload 1) continues the option after the options field
  Buffer.from([Opt.VENDOR_SPECIFIC, 2, 0xfe, 0xff, 255]).copy(buf, 108)
  want.push(0xfe, 0xff)
  const p = decodePacket(buf)
  t.same([...p.options.get(Opt.VENDOR_SPECIFIC)!], want, `${n} pieces + the file field's, joined`)
  t.equal(p.options.get(53)?.[0], 1)
})

t.test('malformed packets are rejected with a reason', async (t) => {
  const good = vector('pi4-eeprom-discover')
  const cases: Array<[string, Buffer]> = [
    ['too-short', good.subarray(0, 239)],
    ['bad-op', Buffer.concat([Buffer.from([7]), good.subarray(1)])],
    ['bad-hlen', (() => { const b = Buffer.from(good); b[2] = 17; return b })()],
    ['bad-cookie', (() => { const b = Buffer.from(good); b[236] = 0; return b })()],
    ['truncated-option', good.subarray(0, good.length - 5)],
    // one byte over an Ethernet frame's UDP payload (1472): refused before its options are read
    ['too-long', Buffer.concat([good, Buffer.alloc(1473 - good.length)])],
    ['truncated-option', Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([61])])],
    ['bad-overload', (() => { const b = Buffer.from(good.subarray(0, 240)); return Buffer.concat([b, Buffer.from([52, 1, 9, 255])]) })()],
    ['truncated-option', (() => { const b = Buffer.from(good.subarray(0, 240)); const o = Buffer.concat([b, Buffer.from([52, 1, 2, 255])]); const s = Buffer.alloc(300); o.copy(s); s[44] = 60; s[45] = 200; return s })()],
  ]
  for (const [reason, buf] of cases) {
    let got: unknown = null
    try { decodePacket(buf) } catch (e) { got = e }
    t.ok(got instanceof DecodeError, `${reason}: a DecodeError`)
    t.equal((got as DecodeError).reason, reason)
  }
})

t.test('PXE sub-options, user class and Pi option 97', async (t) => {
  const pxe = decodePxeOptions(piBootMenuOption43())!
  t.same(decodeMenu(pxe.get(9)!), [{ type: 0, text: 'Raspberry Pi Boot' }])
  t.same(pxe.get(10), Buffer.from([0, 0x50, 0x58, 0x45]))
  t.same(pxe.get(6), Buffer.from([3]))
  t.equal(decodePxeOptions(Buffer.from([9, 10, 0])), null, 'truncated sub-option')
  t.same(decodeUserClass(Buffer.from('iPXE')), ['iPXE'], 'iPXE plain form')
  t.same(decodeUserClass(Buffer.from([4, ...Buffer.from('iPXE'), 3, ...Buffer.from('foo')])), ['iPXE', 'foo'], 'RFC 3004 form')
  const pi5 = Buffer.from('00' + '52506935' + '17400d00' + 'aabbccdd' + '78563412', 'hex')
  t.same(decodePiOption97(pi5), { model: 'rpi5', boardRevision: 'd4017', macLow: 'aa:bb:cc:dd', serial: '12345678' })
  t.equal(decodePiOption97(Buffer.alloc(17)), null)
})
