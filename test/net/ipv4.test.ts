// IPv4 helpers shared by DHCP, config checks and the HTTP peer address.
import t from 'tap'
import {
  broadcastOf, formatCidr, inSubnet, intToIp, ipToInt, isIPv4, maskToPrefix, parseCidr, parseIPv4, prefixToMask, stripV4Mapped,
} from '../../src/net/ipv4.js'

t.test('ipToInt / intToIp round trip, unsigned', async (t) => {
  t.equal(ipToInt('0.0.0.0'), 0)
  t.equal(ipToInt('255.255.255.255'), 0xffffffff, 'unsigned, never negative')
  t.equal(ipToInt('192.168.1.10'), 0xc0a8010a)
  t.equal(ipToInt('10.0.0.1'), 0x0a000001)
  for (const ip of ['0.0.0.0', '1.2.3.4', '128.0.0.1', '255.255.255.255', '192.168.1.10']) t.equal(intToIp(ipToInt(ip)), ip)
  t.equal(intToIp(0xc0a8010a), '192.168.1.10')
  t.equal(intToIp(-1), '255.255.255.255', 'a signed 32-bit value prints as its unsigned address')
  t.equal(ipToInt('010.001.000.001'), ipToInt('10.1.0.1'), 'up to three digits per octet (as DHCP always accepted)')
})

t.test('ipToInt refuses what is not a dotted IPv4 address; parseIPv4 says null', async (t) => {
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.-1', '1.2.3.4 ', ' 1.2.3.4', '1..2.3', '0x1.2.3.4', '1.2.3.1e1', '0001.2.3.4', '::ffff:1.2.3.4', 'a.b.c.d', '1.2.3.4/24']) {
    t.throws(() => ipToInt(bad), /not an IPv4 address/, JSON.stringify(bad))
    t.equal(parseIPv4(bad), null, JSON.stringify(bad))
  }
  t.equal(parseIPv4('10.0.0.5'), 0x0a000005)
})

t.test('isIPv4: canonical dotted form only (as config is written)', async (t) => {
  for (const ok of ['0.0.0.0', '10.0.0.1', '255.255.255.255', '192.168.1.10']) t.ok(isIPv4(ok), ok)
  for (const bad of ['010.0.0.1', '256.1.1.1', '1.2.3', '1.2.3.4.5', '', '1.2.3.4 ', '+1.2.3.4', '1.2.3.04', 'localhost']) t.notOk(isIPv4(bad), JSON.stringify(bad))
})

t.test('stripV4Mapped', async (t) => {
  t.equal(stripV4Mapped('::ffff:10.0.0.5'), '10.0.0.5')
  t.equal(stripV4Mapped('10.0.0.5'), '10.0.0.5')
  t.equal(stripV4Mapped('::1'), '::1', 'real IPv6 addresses are kept')
  t.equal(stripV4Mapped('fe80::ffff:1'), 'fe80::ffff:1', 'only the prefix counts')
  t.equal(stripV4Mapped(''), '')
})

t.test('masks, prefixes and subnets', async (t) => {
  t.equal(prefixToMask(0), 0)
  t.equal(prefixToMask(24), 0xffffff00)
  t.equal(prefixToMask(32), 0xffffffff)
  t.throws(() => prefixToMask(33), /bad prefix/)
  t.throws(() => prefixToMask(-1), /bad prefix/)
  t.throws(() => prefixToMask(1.5), /bad prefix/)
  t.equal(maskToPrefix('255.255.255.0'), 24)
  t.equal(maskToPrefix('0.0.0.0'), 0)
  t.equal(maskToPrefix('255.255.255.255'), 32)
  t.throws(() => maskToPrefix('255.0.255.0'), /contiguous/)
  const net = parseCidr('10.1.2.3/16')
  t.same(net, { network: ipToInt('10.1.0.0'), prefix: 16, mask: 0xffff0000 }, 'host bits cleared')
  t.equal(formatCidr(net), '10.1.0.0/16')
  t.equal(intToIp(broadcastOf(net)), '10.1.255.255')
  t.ok(inSubnet('10.1.200.7', net))
  t.ok(inSubnet(ipToInt('10.1.0.0'), net))
  t.notOk(inSubnet('10.2.0.1', net))
  t.equal(intToIp(broadcastOf(parseCidr('0.0.0.0/0'))), '255.255.255.255')
  for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/abc', '10.0.0/8', '/8']) t.throws(() => parseCidr(bad), /not a CIDR subnet|not an IPv4 address|bad prefix/, bad)
})
