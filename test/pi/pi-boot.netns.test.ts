// A Raspberry Pi boot played against a real `bootlab serve` in a network namespace: the captured
// Pi 4 DISCOVER replayed over a socket from a client namespace (proxy mode), then the bootloader's
// TFTP sequence from a raw UDP client that asks exactly like the Pi (fixtures/pi-tftp.ts: RRQ with
// tsize and blksize 1468, the start4.elf probe aborted with ERROR "Early terminate"):
//   - pi-400, the Pi of the capture, configured by MAC only with `uefi:` settings: its serial is
//     learnt from option 97, its `<serial>/…` files come from firmware/rpi4-uefi/current, and its
//     RPI_EFI.fd carries its settings (bytes outside the variable store identical to the stock
//     file; read back with src/uefi); the timeline records which settings went out;
//   - pi-b, configured with serial and ip:, whose bootloader uses a MAC prefix bootlab does not
//     serve: the probe fails, the Pi drops the prefix and gets its files by address — its own
//     tftproot/<serial>/config.txt (an override wins) and the stock RPI_EFI.fd byte for byte;
//   - a Pi 5 (the Pi 4 vector with option 97's fourcc changed to RPi5 and another MAC/serial):
//     config.txt, cmdline.txt with its cloud-init URL (which answers), kernel and initramfs.
import t, { type Test } from 'tap'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createLab, isRoot, type Lab } from '../../src/lab/netns.js'
import { vector } from '../dhcp/helpers.js'
import { classify } from '../../src/dhcp/classify.js'
import { decodePacket, MessageType, Opt, optU8 } from '../../src/dhcp/packet.js'
import { decodeMenu, decodePxeOptions, PxeSub } from '../../src/dhcp/pxe.js'
import { PFTF_CONFIG_GUID, findVariable, readVariableStore } from '../../src/uefi/index.js'
import { RPI } from '../uefi/helpers.js'
import { pi5Discover, piTree } from './helpers.js'

const PROBE = resolve('test/machines/fixtures/dhcp-probe.ts')
const PI_TFTP = resolve('test/pi/fixtures/pi-tftp.ts')
const PI_MAC = 'dc:a6:32:ec:fc:3c' // the Pi of the captured DISCOVER
const PI_SERIAL = 'e0ff06da'
const PI5_MAC = '2c:cf:67:00:05:05'
const PI5_SERIAL = '5a5a0505'
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

interface Got { file: string; probe: boolean; tsize?: number; error?: number | string; message?: string; size?: number; sha256?: string; text?: string }

async function dhcp(lab: Lab, host: string, packet: Buffer, timeoutMs = 5000): Promise<ReturnType<typeof decodePacket> | null> {
  const r = await lab.exec(host, [process.execPath, '--import', 'tsx', PROBE, JSON.stringify({ hex: packet.toString('hex'), timeoutMs })], { timeoutMs: 30_000 })
  const reply = (JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { reply?: string | null }).reply
  return reply ? decodePacket(Buffer.from(reply, 'hex')) : null
}

async function tftp(lab: Lab, host: string, server: string, steps: Array<{ file: string; probe?: boolean }>): Promise<Got[]> {
  const r = await lab.exec(host, [process.execPath, '--import', 'tsx', PI_TFTP, JSON.stringify({ server, steps })], { timeoutMs: 120_000 })
  if (r.code !== 0) throw new Error(`pi-tftp failed: ${r.stderr}`)
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Got)
}

/** The Pi 4 bootloader's and start4.elf's requests, in order (research/pi-netboot.md §1.6), under a prefix or none. */
function pi4Sequence(prefix: string): Array<{ file: string; probe?: boolean }> {
  return [
    { file: `${prefix}start4.elf`, probe: true },
    { file: `${prefix}config.txt` },
    { file: `${prefix}pieeprom.sig` },
    { file: `${prefix}start4.elf` },
    { file: `${prefix}fixup4.dat` },
    { file: `${prefix}config.txt` },
    { file: `${prefix}bcm2711-rpi-4-b.dtb` },
    { file: `${prefix}overlays/miniuart-bt.dtbo` },
    { file: `${prefix}RPI_EFI.fd` },
  ]
}

function isMenuOffer(t: Test, p: ReturnType<typeof decodePacket> | null, what: string): void {
  t.ok(p, `${what}: answered`)
  if (!p) return
  t.equal(optU8(p, Opt.MESSAGE_TYPE), MessageType.OFFER, `${what}: an OFFER`)
  t.equal(p.yiaddr, '0.0.0.0', `${what}: proxy (no address)`)
  t.same(decodeMenu(decodePxeOptions(p.options.get(Opt.VENDOR_SPECIFIC)!)!.get(PxeSub.BOOT_MENU)!), [{ type: 0, text: 'Raspberry Pi Boot' }], `${what}: the Pi boot menu`)
}

t.test('Pi 4 and Pi 5 boots against bootlab serve: DHCP (proxy) then the bootloader\'s TFTP sequence', { skip: !isRoot() && 'needs root (namespaces)' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-piboot-'))
  const lab = await createLab({ hosts: { srv: 1, cli: 2, cli2: 3 } })
  t.teardown(async () => {
    await lab.cleanup()
    await rm(dir, { recursive: true, force: true })
  })
  for (const h of ['cli', 'cli2']) t.equal((await lab.exec(h, ['ip', 'route', 'add', 'default', 'dev', 'net0'])).code, 0)
  const srvIp = lab.hosts.srv!.ip
  const tree = piTree(dir)
  await mkdir(join(tree.firmware, 'ipxe'), { recursive: true })
  await writeFile(join(tree.firmware, 'ipxe', 'snp-arm64.efi'), 'arm64 ipxe')
  await mkdir(join(tree.tftproot, 'b0b0000b'))
  await writeFile(join(tree.tftproot, 'b0b0000b', 'config.txt'), 'arm_64bit=1\narmstub=RPI_EFI.fd\n# pi-b: my own\n')
  const file = join(dir, 'bootlab.yaml')
  await writeFile(file, `
server:
  interface: net0
  http: { port: 8080, public_read: true }   # the test reads machine details with plain curl
  tftp: { port: 69 }
  dhcp: { mode: proxy }
  unknown: ignore
  state_dir: ${join(dir, 'state')}
  paths: { firmware: ${tree.firmware}, tftproot: ${tree.tftproot}, images: ${tree.images} }
profiles:
  local: { boot: local }
  ubuntu:
    kernel: ubuntu/vmlinuz
    initrd: ubuntu/initrd
    cmdline: "console=ttyAMA10,115200 ds=nocloud-net;s={{ cloud_init_url }}"
machines:
  pi-400:
    mac: ${PI_MAC}
    arch: rpi4
    profile: local
    uefi: { ram_limit_3gb: false, system_table: devicetree }
  pi-b:
    mac: dc:a6:32:00:00:0b
    serial: b0b0000b
    ip: ${lab.hosts.cli2!.ip}
    arch: rpi4
    profile: local
  pi5:
    mac: ${PI5_MAC}
    arch: rpi5
    profile: ubuntu
`)
  const srv = lab.spawn('srv', [process.execPath, '--import', 'tsx', resolve('src/cli/main.ts'), 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  srv.stdout!.on('data', (d) => { out += d })
  srv.stderr!.on('data', (d) => { out += d })
  const base = `http://${srvIp}:8080`
  const curl = async (url: string): Promise<{ code: number; stdout: string }> => lab.exec('cli', ['curl', '-sS', '--max-time', '10', url], { timeoutMs: 20_000 })
  const deadline = Date.now() + 30_000
  while ((await curl(`${base}/healthz`)).code !== 0) {
    if (srv.exitCode !== null || Date.now() > deadline) throw new Error(`bootlab did not come up:\n${out}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  const machine = async (name: string): Promise<{ machine: { serial: string | null; ip: string | null }; events: Array<{ type: string; data: Record<string, unknown> }> }> =>
    JSON.parse((await curl(`${base}/api/machines/${name}`)).stdout) as never
  const settled = async (cond: () => Promise<boolean>): Promise<boolean> => {
    const end = Date.now() + 10_000
    while (Date.now() < end) { if (await cond()) return true; await new Promise((r) => setTimeout(r, 100)) }
    return false
  }

  // ---- pi-400: the captured DISCOVER (proxy mode), MAC-only machine, its serial learnt -------------
  isMenuOffer(t, await dhcp(lab, 'cli', vector('pi4-eeprom-discover')), 'Pi 4 DISCOVER')
  t.ok(await settled(async () => (await machine('pi-400')).machine.serial === PI_SERIAL), 'serial e0ff06da learnt from option 97')
  // its REQUEST goes to the router (proxy mode: bootlab stays quiet) but tells the address it asks for
  t.equal(await dhcp(lab, 'cli', vector('pi4-eeprom-request'), 1500), null, 'the captured REQUEST to the router: no answer from bootlab')
  t.ok(await settled(async () => (await machine('pi-400')).machine.ip === '192.168.2.40'), 'the address it requested is recorded')

  const stock = tree.sets['v1.41']
  const seq = await tftp(lab, 'cli', srvIp, pi4Sequence(`${PI_SERIAL}/`))
  const [probe, conf, sig, start4, fixup, , dtb, overlay, efi] = seq
  t.match(probe, { probe: true, tsize: stock.start4.length }, 'probe: OACK with tsize, then "Early terminate"')
  t.match(Buffer.from(conf!.text!, 'base64').toString(), /^# generated by bootlab for machine pi-400 \(serial e0ff06da\)\n[\s\S]*^device_tree_address=0x3e0000$/m)
  t.match(sig, { error: 1 }, 'pieeprom.sig: file not found (no EEPROM update)')
  t.equal(start4!.sha256, sha(stock.start4), 'start4.elf from firmware/rpi4-uefi/current')
  t.equal(fixup!.sha256, sha(stock.fixup4))
  t.equal(dtb!.sha256, sha(stock.dtb))
  t.equal(overlay!.size, 'overlay'.length)
  // RPI_EFI.fd with the machine's settings: fetch it again to read the bytes
  t.equal(efi!.size, stock.efi.length)
  t.not(efi!.sha256, sha(stock.efi), 'not the stock image')
  const img = await fetchBytes(lab, srvIp, `${PI_SERIAL}/RPI_EFI.fd`)
  t.equal(sha(img), efi!.sha256)
  t.ok(img.subarray(0, RPI.storeOffset).equals(stock.efi.subarray(0, RPI.storeOffset)), 'identical before the variable store')
  t.ok(img.subarray(RPI.storeOffset + RPI.storeSize).equals(stock.efi.subarray(RPI.storeOffset + RPI.storeSize)), 'identical after it')
  const vars = readVariableStore(img)
  t.equal(findVariable(vars, PFTF_CONFIG_GUID, 'RamLimitTo3GB')!.data.readUInt32LE(0), 0, 'RamLimitTo3GB=0')
  t.equal(findVariable(vars, PFTF_CONFIG_GUID, 'SystemTableMode')!.data.readUInt32LE(0), 2, 'SystemTableMode=2')
  t.ok(await settled(async () => (await machine('pi-400')).events.some((e) => e.type === 'tftp.generated' && /^RPI_EFI\.fd with UEFI settings: RamLimitTo3GB=0/.test(String(e.data.note)))),
    'the timeline says which settings were served')
  t.ok(await settled(async () => (await machine('pi-400')).machine.ip === lab.hosts.cli!.ip), 'its address as seen in its TFTP requests')

  // the same Pi after dropping its prefix: the same files by its (learnt) address
  const root = await tftp(lab, 'cli', srvIp, pi4Sequence(''))
  t.match(root[0], { probe: true, tsize: stock.start4.length })
  t.match(Buffer.from(root[1]!.text!, 'base64').toString(), /^# generated by bootlab for machine pi-400 \(serial e0ff06da\)\n/)
  t.equal(root[3]!.sha256, sha(stock.start4))
  t.equal(root[8]!.sha256, efi!.sha256, 'its own RPI_EFI.fd at the top level too')

  // ---- pi-b: a MAC prefix bootlab does not serve → prefix dropped → files by its configured ip ---------
  const macPrefix = await tftp(lab, 'cli2', srvIp, [{ file: 'dc-a6-32-00-00-0b/start4.elf', probe: true }])
  t.match(macPrefix[0], { error: 1 }, 'no start4.elf under the MAC prefix')
  const b = await tftp(lab, 'cli2', srvIp, pi4Sequence(''))
  t.match(b[0], { probe: true, tsize: stock.start4.length })
  t.equal(Buffer.from(b[1]!.text!, 'base64').toString(), 'arm_64bit=1\narmstub=RPI_EFI.fd\n# pi-b: my own\n', 'tftproot/<serial>/config.txt wins')
  t.equal(b[3]!.sha256, sha(stock.start4))
  t.equal(b[8]!.sha256, sha(stock.efi), 'no uefi: → the stock RPI_EFI.fd byte for byte')
  const stranger = await tftp(lab, 'cli2', srvIp, [{ file: 'deadbeef/start4.elf', probe: true }])
  t.match(stranger[0], { error: 1 }, 'an unknown serial gets nothing (unknown: ignore)')

  // ---- a Pi 5: the Pi 4 vector with fourcc RPi5 ---------------------------------------------------
  const d5 = pi5Discover(vector('pi4-eeprom-discover'), { mac: PI5_MAC, serial: PI5_SERIAL })
  t.match(classify(decodePacket(d5)), { class: 'rpi', rpi: { model: 'rpi5', serial: PI5_SERIAL }, mac: PI5_MAC }, 'the crafted vector reads as a Pi 5')
  isMenuOffer(t, await dhcp(lab, 'cli', d5), 'Pi 5 DISCOVER')
  t.ok(await settled(async () => (await machine('pi5')).machine.serial === PI5_SERIAL), 'its serial learnt too')
  const p5 = await tftp(lab, 'cli', srvIp, [
    { file: `${PI5_SERIAL}/config.txt` },
    { file: `${PI5_SERIAL}/pieeprom.sig` },
    { file: `${PI5_SERIAL}/bcm2712-rpi-5-b.dtb` },
    { file: `${PI5_SERIAL}/overlays/overlay_map.dtb` },
    { file: `${PI5_SERIAL}/cmdline.txt` },
    { file: `${PI5_SERIAL}/kernel_2712.img` },
    { file: `${PI5_SERIAL}/initramfs_2712` },
    { file: `${PI5_SERIAL}/start4.elf`, probe: true },
    { file: `${PI5_SERIAL}/RPI_EFI.fd`, probe: true },
  ])
  t.match(Buffer.from(p5[0]!.text!, 'base64').toString(), /^# generated by bootlab for machine pi5 \(serial 5a5a0505\)\narm_64bit=1\nkernel=kernel_2712\.img\ninitramfs initramfs_2712 followkernel\n/)
  t.match(p5[1], { error: 1 })
  t.equal(p5[2]!.sha256, sha(tree.rpi5.dtb), 'device tree from firmware/rpi5/')
  t.equal(p5[3]!.sha256, sha(tree.rpi5.overlayMap))
  const cmdline = Buffer.from(p5[4]!.text!, 'base64').toString()
  const url = new RegExp(`^console=ttyAMA10,115200 ds=nocloud-net;s=(http://${srvIp.replace(/\./g, '\\.')}:8080/cloud-init/[0-9a-f]{32}/)\n$`).exec(cmdline)
  t.ok(url, `cmdline.txt carries the machine's cloud-init URL: ${cmdline.trim()}`)
  if (url) t.match((await curl(`${url[1]}meta-data`)).stdout, /^instance-id: pi5-\d+\n/, 'and that URL answers with the machine\'s meta-data')
  t.equal(p5[5]!.sha256, sha(tree.kernel), 'kernel bytes from the profile')
  t.equal(p5[6]!.sha256, sha(tree.initrd), 'initramfs bytes from the profile')
  t.match(p5[7], { error: 1 }, 'a Pi 5 never gets start4.elf')
  t.match(p5[8], { error: 1 }, 'nor RPI_EFI.fd')

  t.equal(srv.exitCode, null, 'bootlab still running')
  t.notMatch(out, /uncaught|unhandled/i)
})

/** The whole file over TFTP with curl from the client namespace (a second, third-party client). */
async function fetchBytes(lab: Lab, server: string, name: string): Promise<Buffer> {
  const r = await lab.exec('cli', ['sh', '-c', `curl -sS --max-time 20 --tftp-blksize 1468 tftp://${server}/${name} | base64 -w0`], { timeoutMs: 30_000 })
  if (r.code !== 0) throw new Error(`curl: ${r.stderr}`)
  return Buffer.from(r.stdout, 'base64')
}

