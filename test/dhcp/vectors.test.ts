// Real packet vectors → classification and the exact reply fields bootlab sends.
import t from 'tap'
import { classify } from '../../src/dhcp/classify.js'
import { DhcpEngine } from '../../src/dhcp/engine.js'
import { BROADCAST_FLAG, MessageType, Opt, decodePacket, macOf, optIp, optString, optU16, optU8 } from '../../src/dhcp/packet.js'
import { PxeSub, decodeMenu, decodePxeOptions, piBootMenuOption43 } from '../../src/dhcp/pxe.js'
import { silentLogger } from '../../src/log.js'
import { TestPolicy, clientPacket, vector } from './helpers.js'

const SERVER = '192.168.2.52'
const policy = new TestPolicy(SERVER)
const proxy = (): DhcpEngine => new DhcpEngine({ mode: 'proxy', serverAddress: SERVER, interfaceSubnet: '192.168.2.0/24', policy, logger: silentLogger() })
const bcast = { address: '0.0.0.0', port: 68 }

t.test('Pi 4 EEPROM DISCOVER: decoded, classified as a Pi, serial read from option 97', async (t) => {
  const p = decodePacket(vector('pi4-eeprom-discover'))
  t.equal(macOf(p), 'dc:a6:32:ec:fc:3c')
  t.equal(p.flags, 0)
  t.equal(optU8(p, Opt.MESSAGE_TYPE), MessageType.DISCOVER)
  t.equal(optString(p, Opt.VENDOR_CLASS), 'PXEClient:Arch:00000:UNDI:002001')
  t.equal(optU16(p, Opt.CLIENT_ARCH), 0, 'the Pi claims x86 BIOS')
  t.same([...p.options.keys()], [53, 55, 60, 93, 94, 97])
  const c = classify(p)
  t.equal(c.class, 'rpi')
  t.equal(c.rpi?.model, 'rpi4')
  t.equal(c.rpi?.serial, 'e0ff06da', 'TFTP prefix = LE uint32 at GUID bytes 12..15')
  t.equal(c.rpi?.boardRevision, 'c03130')
  t.equal(c.rpi?.macLow, '32:ec:fc:3c')
})

t.test('Pi 4 DISCOVER → proxy OFFER: Raspberry Pi Boot menu, 97 echoed, bootlab as TFTP server, broadcast', async (t) => {
  const req = vector('pi4-eeprom-discover')
  const engine = proxy()
  const tx = await engine.handle(req, bcast, 'dhcp')
  t.ok(tx, 'answered')
  const r = decodePacket(tx!.buf)
  t.same(tx!.dest, { address: '255.255.255.255', port: 68 })
  t.equal(r.op, 2)
  t.equal(r.xid, decodePacket(req).xid)
  t.equal(macOf(r), 'dc:a6:32:ec:fc:3c')
  t.equal(optU8(r, Opt.MESSAGE_TYPE), MessageType.OFFER)
  t.equal(r.yiaddr, '0.0.0.0', 'proxy: no address')
  t.equal(r.siaddr, SERVER, 'siaddr = bootlab')
  t.equal(optIp(r, Opt.SERVER_ID), SERVER)
  t.equal(optString(r, Opt.TFTP_SERVER), SERVER, 'option 66 = bootlab')
  t.equal(optString(r, Opt.VENDOR_CLASS), 'PXEClient')
  t.same(r.options.get(Opt.CLIENT_UUID), decodePacket(req).options.get(Opt.CLIENT_UUID), 'option 97 echoed')
  const pxe = decodePxeOptions(r.options.get(Opt.VENDOR_SPECIFIC)!)
  t.ok(pxe)
  const menu = decodeMenu(pxe!.get(PxeSub.BOOT_MENU)!)
  t.same(menu, [{ type: 0, text: 'Raspberry Pi Boot' }], '"Raspberry Pi Boot" is the first and only menu item')
  t.notOk(r.options.has(Opt.BOOTFILE), 'no boot file: the Pi fetches fixed names')
  t.ok(tx!.buf.length >= 300, 'padded to the BOOTP minimum')
  t.ok(tx!.buf.length <= 548, 'fits a 576-byte datagram (the Pi sent no option 57)')
  t.equal(engine.stats().answered, 1)
})

t.test('our Pi option 43 is byte-identical to the captured dnsmasq one', async (t) => {
  const offer = decodePacket(vector('pi4-dnsmasq-proxy-offer'))
  t.equal(offer.flags, BROADCAST_FLAG)
  const theirs = offer.options.get(Opt.VENDOR_SPECIFIC)!
  t.equal(theirs.toString('hex'), piBootMenuOption43().toString('hex'))
  const tx = await proxy().handle(vector('pi4-eeprom-discover'), bcast, 'dhcp')
  t.equal(decodePacket(tx!.buf).options.get(Opt.VENDOR_SPECIFIC)!.toString('hex'), theirs.toString('hex'))
})

t.test('Pi 4 REQUEST (no 55/93/94): still a Pi with its serial; proxy stays silent (it asks the router)', async (t) => {
  const req = vector('pi4-eeprom-request')
  const p = decodePacket(req)
  t.notOk(p.options.has(Opt.CLIENT_ARCH))
  t.notOk(p.options.has(Opt.PARAMETER_LIST))
  const c = classify(p)
  t.equal(c.class, 'rpi')
  t.equal(c.rpi?.serial, 'e0ff06da')
  const engine = proxy()
  t.equal(await engine.handle(req, bcast, 'dhcp'), null)
  t.same(engine.stats().dropped, { 'other-server': 1 })
})

t.test('Pi MAC fallback: an old option-97 layout with a Pi OUI is still a Pi, a PC with arch 0 is BIOS', async (t) => {
  const old = decodePacket(clientPacket({
    type: 1, mac: 'b8:27:eb:01:02:03',
    options: [[60, 'PXEClient:Arch:00000:UNDI:002001'], [93, [0, 0]], [97, Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x44)])]],
  }))
  t.equal(classify(old).class, 'rpi')
  t.equal(classify(old).rpi, null, 'no serial from the old layout')
  const pc = decodePacket(clientPacket({ type: 1, mac: '52:54:00:01:02:03', options: [[60, 'PXEClient:Arch:00000:UNDI:002001'], [93, [0, 0]]] }))
  t.equal(classify(pc).class, 'bios')
  const tx = await proxy().handle(clientPacket({ type: 1, mac: '52:54:00:01:02:03', options: [[60, 'PXEClient:Arch:00000:UNDI:002001'], [93, [0, 0]]] }), bcast, 'dhcp')
  const r = decodePacket(tx!.buf)
  t.equal(optString(r, Opt.BOOTFILE), 'ipxe/undionly.kpxe')
  t.notOk(decodePxeOptions(r.options.get(Opt.VENDOR_SPECIFIC)!)!.has(PxeSub.BOOT_MENU), 'no Pi menu for a PC')
})

t.test('RPi4 UEFI (EDK2) arm64 DISCOVER → the arm64 iPXE file, although the MAC is a Pi OUI', async (t) => {
  const req = vector('rpi4-edk2-uefi-pxe-discover')
  const p = decodePacket(req)
  const c = classify(p)
  t.equal(c.class, 'uefi-arm64')
  t.equal(c.arch, 11)
  t.equal(optU16(p, Opt.MAX_MESSAGE_SIZE), 1464)
  const tx = await proxy().handle(req, bcast, 'dhcp')
  const r = decodePacket(tx!.buf)
  t.equal(optU8(r, Opt.MESSAGE_TYPE), MessageType.OFFER)
  t.equal(r.yiaddr, '0.0.0.0')
  t.equal(r.siaddr, SERVER)
  t.equal(optIp(r, Opt.SERVER_ID), SERVER)
  t.equal(optString(r, Opt.TFTP_SERVER), SERVER)
  t.equal(optString(r, Opt.BOOTFILE), 'ipxe/snp-arm64.efi')
  t.equal(r.file.toString(), 'ipxe/snp-arm64.efi', 'file field too')
  t.equal(optString(r, Opt.VENDOR_CLASS), 'PXEClient')
  t.same([...decodePxeOptions(r.options.get(Opt.VENDOR_SPECIFIC)!)!.entries()], [[PxeSub.DISCOVERY_CONTROL, Buffer.from([8])]], '43: use the boot file in this offer')
  t.equal(r.flags & BROADCAST_FLAG, BROADCAST_FLAG)
  t.same(tx!.dest, { address: '255.255.255.255', port: 68 })
  t.same(r.options.get(Opt.CLIENT_UUID), p.options.get(Opt.CLIENT_UUID))
})

t.test('RPi4 UEFI arm64 with GRUB chosen by the policy', async (t) => {
  const grub = new TestPolicy(SERVER)
  grub.bootFor = (c) => c.class === 'uefi-arm64' ? { bootFile: 'grub/grubnetaa64.efi' } : null
  const e = new DhcpEngine({ mode: 'proxy', serverAddress: SERVER, interfaceSubnet: '192.168.2.0/24', policy: grub, logger: silentLogger() })
  const r = decodePacket((await e.handle(vector('rpi4-edk2-uefi-pxe-discover'), bcast, 'dhcp'))!.buf)
  t.equal(optString(r, Opt.BOOTFILE), 'grub/grubnetaa64.efi')
})

t.test('iPXE → the HTTP boot script URL, never an iPXE binary again (no chainload loop)', async (t) => {
  for (const opts of [
    [[77, 'iPXE'], [93, [0, 7]], [60, 'PXEClient:Arch:00007:UNDI:003016']],
    [[77, Buffer.from([4, ...Buffer.from('iPXE')])], [93, [0, 0]]], // RFC 3004 form
    [[175, [0xb1, 0x05, 0x01, 0x10, 0xec, 0x81, 0x39]], [93, [0, 11]], [60, 'PXEClient:Arch:00011:UNDI:003010']],
  ] as Array<Array<[number, string | Buffer | number[]]>>) {
    const req = clientPacket({ type: 1, mac: '52:54:00:aa:bb:cc', options: opts })
    t.equal(classify(decodePacket(req)).class, 'ipxe')
    const r = decodePacket((await proxy().handle(req, bcast, 'dhcp'))!.buf)
    const file = optString(r, Opt.BOOTFILE)!
    t.equal(file, `http://${SERVER}:8080/boot.ipxe?mac=\${mac}&buildarch=\${buildarch}&platform=\${platform}`)
    t.notMatch(file, /\.(efi|kpxe)$/)
    t.equal(r.siaddr, SERVER, 'siaddr set: iPXE ignores proxy offers without it')
    t.equal(optString(r, Opt.VENDOR_CLASS), 'PXEClient', 'iPXE recognises proxy offers by 60=PXEClient')
  }
})

t.test('UEFI HTTP boot → option 60 HTTPClient and the URL of the iPXE EFI binary', async (t) => {
  const req = clientPacket({ type: 1, mac: '52:54:00:aa:bb:cd', options: [[60, 'HTTPClient:Arch:00016:UNDI:003000'], [93, [0, 16]]] })
  const r = decodePacket((await proxy().handle(req, bcast, 'dhcp'))!.buf)
  t.equal(optString(r, Opt.VENDOR_CLASS), 'HTTPClient')
  t.equal(optString(r, Opt.BOOTFILE), `http://${SERVER}:8080/files/firmware/ipxe/ipxe.efi`)
  t.notOk(r.options.has(Opt.VENDOR_SPECIFIC))
  const arm = clientPacket({ type: 1, mac: '52:54:00:aa:bb:ce', options: [[60, 'HTTPClient:Arch:00019:UNDI:003000'], [93, [0, 19]]] })
  t.equal(optString(decodePacket((await proxy().handle(arm, bcast, 'dhcp'))!.buf), Opt.BOOTFILE), `http://${SERVER}:8080/files/firmware/ipxe/snp-arm64.efi`)
})

t.test('x64 UEFI → ipxe.efi; on port 4011 an ACK goes back to the sender', async (t) => {
  const opts: Array<[number, string | number[]]> = [[60, 'PXEClient:Arch:00007:UNDI:003016'], [93, [0, 7]]]
  const r = decodePacket((await proxy().handle(clientPacket({ type: 1, mac: '52:54:00:00:00:07', options: opts }), bcast, 'dhcp'))!.buf)
  t.equal(optString(r, Opt.BOOTFILE), 'ipxe/ipxe.efi')
  const req = clientPacket({ type: 3, mac: '52:54:00:00:00:07', ciaddr: '192.168.2.77', options: [...opts, [43, [71, 4, 0, 0, 0, 0, 255]]] })
  const tx = await proxy().handle(req, { address: '192.168.2.77', port: 4011 }, 'pxe')
  const a = decodePacket(tx!.buf)
  t.equal(optU8(a, Opt.MESSAGE_TYPE), MessageType.ACK)
  t.same(tx!.dest, { address: '192.168.2.77', port: 4011 })
  t.equal(optString(a, Opt.BOOTFILE), 'ipxe/ipxe.efi')
  t.same(decodePxeOptions(a.options.get(Opt.VENDOR_SPECIFIC)!)!.get(PxeSub.BOOT_ITEM), Buffer.from([0, 0, 0, 0]), 'boot item echoed')
})

t.test('proxy never answers a plain DHCP client, nor a client the policy declines', async (t) => {
  const engine = proxy()
  const plain = clientPacket({ type: 1, mac: '52:54:00:00:00:99', options: [[55, [1, 3, 6, 15]], [61, [1, 0x52, 0x54, 0, 0, 0, 0x99]], [12, 'laptop']] })
  t.equal(await engine.handle(plain, bcast, 'dhcp'), null)
  const pol = new TestPolicy(SERVER)
  pol.overrides.set('52:54:00:00:00:98', null)
  const e2 = new DhcpEngine({ mode: 'proxy', serverAddress: SERVER, interfaceSubnet: '192.168.2.0/24', policy: pol, logger: silentLogger() })
  t.equal(await e2.handle(clientPacket({ type: 1, mac: '52:54:00:00:00:98', options: [[60, 'PXEClient:Arch:00000:UNDI:002001'], [93, [0, 0]]] }), bcast, 'dhcp'), null)
  t.same(engine.stats().dropped, { 'not-netboot-client': 1 })
  t.same(e2.stats().dropped, { 'policy-declined': 1 })
})

t.test('relay info (82) is echoed last; a relayed proxy offer goes to the (allowed) relay', async (t) => {
  const ri = Buffer.from([1, 4, 0x65, 0x74, 0x68, 0x31])
  const req = clientPacket({ type: 1, mac: '52:54:00:00:00:07', giaddr: '10.9.0.1', options: [[60, 'PXEClient:Arch:00007:UNDI:003016'], [93, [0, 7]], [82, ri]] })
  const relayed = new DhcpEngine({ mode: 'proxy', serverAddress: SERVER, interfaceSubnet: '192.168.2.0/24', policy, logger: silentLogger(), limits: { relays: ['10.9.0.0/24'] } })
  const tx = await relayed.handle(req, { address: '10.9.0.1', port: 67 }, 'dhcp')
  const r = decodePacket(tx!.buf)
  t.same(tx!.dest, { address: '10.9.0.1', port: 67 })
  t.equal(r.giaddr, '10.9.0.1')
  t.same(r.options.get(Opt.RELAY_AGENT_INFO), ri)
  t.equal([...r.options.keys()].at(-1), Opt.RELAY_AGENT_INFO)
})

t.test('events carry the address a client claims: the Pi REQUEST to the router names 192.168.2.40', async (t) => {
  const engine = proxy()
  const seen: Array<{ kind: string; ip: string | null; rpiSerial: string | null }> = []
  engine.on('discover', (e) => seen.push({ kind: 'discover', ip: e.ip, rpiSerial: e.rpiSerial }))
  engine.on('request', (e) => seen.push({ kind: 'request', ip: e.ip, rpiSerial: e.rpiSerial }))
  await engine.handle(vector('pi4-eeprom-discover'), bcast, 'dhcp')
  await engine.handle(vector('pi4-eeprom-request'), bcast, 'dhcp')
  t.same(seen, [
    { kind: 'discover', ip: null, rpiSerial: 'e0ff06da' },
    { kind: 'request', ip: '192.168.2.40', rpiSerial: 'e0ff06da' },
  ], 'so a TFTP transfer from 192.168.2.40 can be tied to this Pi')
})
