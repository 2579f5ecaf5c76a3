// Proxy mode with a real UEFI PXE client: QEMU's AAVMF (the EDK2 arm64 firmware family the pftf RPi4
// UEFI is built from) sends arch 11; dnsmasq hands out the address, bootlab the arm64 boot file, and
// the firmware then asks bootlab's TFTP address for exactly that file.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { FIXTURES, startGuest, startServer, until } from './netlab.js'

const GUEST_MAC = '52:54:00:a6:40:0b'
const CODE = '/usr/share/AAVMF/AAVMF_CODE.fd'
const VARS = '/usr/share/AAVMF/AAVMF_VARS.fd'
const skip = !isRoot() ? 'needs root' : !existsSync(CODE) ? 'needs qemu-efi-aarch64 (AAVMF)' : false

t.test('proxy mode: AAVMF arm64 UEFI PXE gets its address from dnsmasq and the arm64 iPXE file from bootlab', { skip }, async (t) => {
  const lab = await createLab({ hosts: { router: 1, srv: 2 } })
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-uefi-'))
  let qemu: ChildProcess | null = null
  t.teardown(async () => {
    if (qemu && qemu.exitCode === null) { qemu.kill('SIGKILL'); await new Promise((r) => setTimeout(r, 200)) }
    await lab.cleanup()
    await rm(dir, { recursive: true, force: true })
  })
  lab.spawn('router', ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=net0', '--bind-interfaces',
    '--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,10m', '--no-ping', `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
    `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--user=root', '--group=root'])
  const srv = await startServer(lab, 'srv', { interface: 'net0', mode: 'proxy' })
  const probe = lab.spawn('srv', [process.execPath, '--import', 'tsx', join(FIXTURES, 'tftp-probe.ts'), '69'])
  const rrqs: Array<{ file: string; remote: string }> = []
  createInterface({ input: probe.stdout! }).on('line', (l) => { const m = JSON.parse(l) as { file?: string; remote: string }; if (m.file) rrqs.push(m as { file: string; remote: string }) })

  await copyFile(VARS, join(dir, 'vars.fd'))
  qemu = (await startGuest(lab, 'tu', ['qemu-system-aarch64', '-M', 'virt', '-cpu', 'cortex-a57', '-m', '512', '-nodefaults', '-display', 'none',
    '-drive', `if=pflash,format=raw,readonly=on,file=${CODE}`, '-drive', `if=pflash,format=raw,file=${join(dir, 'vars.fd')}`,
    '-netdev', 'tap,id=n0,ifname=@TAP@,script=no,downscript=no', '-device', `virtio-net-pci,netdev=n0,mac=${GUEST_MAC},romfile=`])).child

  const rrq = await until(() => rrqs[0], 150000, 'the firmware asking bootlab for its boot file over TFTP')
  t.equal(rrq.file, 'ipxe/snp-arm64.efi', 'arm64 UEFI asked for the arm64 iPXE file')
  const lease = (await readFile(join(dir, 'dnsmasq.leases'), 'utf8')).split('\n').find((l) => l.includes(GUEST_MAC))
  t.ok(lease, 'dnsmasq leased the address')
  t.equal(rrq.remote, lease!.split(' ')[2], 'the firmware used the address from dnsmasq')
  const offers = srv.events('offer', GUEST_MAC)
  t.ok(offers.length >= 1, 'bootlab sent a proxy offer')
  t.equal(offers[0]!.class, 'uefi-arm64')
  t.equal(offers[0]!.arch, 11)
  t.comment(`events for the UEFI client: ${srv.messages.filter((m) => m.mac === GUEST_MAC).map((m) => `${String(m.event)}@${String(m.port)}${m.reason ? `(${String(m.reason)})` : ''}`).join(' ')}`)
  await srv.stop()
})
