// Full mode with a real PXE client: QEMU's iPXE ROM gets its address from bootlab's pool and the boot
// script URL in the same ACK, then fetches that URL.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { FIXTURES, startGuest, startServer, until } from './netlab.js'

const GUEST_MAC = '52:54:00:f0:11:01'

t.test('full mode: iPXE gets an address and the boot script URL from bootlab', { skip: !isRoot() && 'needs root' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1 } })
  let qemu: ChildProcess | null = null
  t.teardown(async () => {
    if (qemu && qemu.exitCode === null) { qemu.kill('SIGKILL'); await new Promise((r) => setTimeout(r, 200)) }
    await lab.cleanup()
  })
  const pool = { subnet: '10.77.0.0/24', start: '10.77.0.100', end: '10.77.0.150', router: '10.77.0.1', leaseSeconds: 600 }
  const srv = await startServer(lab, 'srv', { interface: 'net0', mode: 'full', pools: [pool], httpPort: 8080 })
  const probe = lab.spawn('srv', [process.execPath, '--import', 'tsx', join(FIXTURES, 'http-probe.ts'), '8080'])
  const requests: Array<{ url: string; remote: string }> = []
  createInterface({ input: probe.stdout! }).on('line', (l) => { const m = JSON.parse(l) as { url?: string; remote: string }; if (m.url) requests.push(m as { url: string; remote: string }) })
  qemu = (await startGuest(lab, 'tf', ['qemu-system-x86_64', '-nodefaults', '-display', 'none', '-accel', 'tcg', '-m', '128', '-boot', 'n',
    '-netdev', 'tap,id=n0,ifname=@TAP@,script=no,downscript=no', '-device', `e1000,netdev=n0,mac=${GUEST_MAC}`])).child

  const got = await until(() => requests.find((r) => r.url.startsWith('/boot.ipxe')), 90000, 'iPXE fetching the boot script')
  t.equal(decodeURIComponent(got.url), `/boot.ipxe?mac=${GUEST_MAC}&buildarch=i386&platform=pcbios`)
  const ack = srv.events('ack', GUEST_MAC)[0]
  t.ok(ack, 'bootlab acknowledged the lease')
  t.equal(ack!.class, 'ipxe')
  t.match(String(ack!.ip), /^10\.77\.0\.1[0-5]\d$/, 'address from bootlab\'s pool')
  t.equal(got.remote.replace(/^::ffff:/, ''), ack!.ip, 'iPXE used that address')
  t.equal(ack!.bootFile, 'http://10.77.0.1:8080/boot.ipxe?mac=${mac}&buildarch=${buildarch}&platform=${platform}')
  await srv.stop()
})
