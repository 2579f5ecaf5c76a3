// Proxy mode next to a real DHCP server: dnsmasq is the "router" handing out addresses on the same
// bridge; a real PXE client (QEMU's iPXE ROM) takes its address from dnsmasq and its boot file from
// bootlab (it then fetches the boot script from the URL bootlab gave); a plain dhclient gets nothing
// from bootlab.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { CLIENT_SCRIPT, FIXTURES, parseClientLog, startGuest, startServer, until } from './netlab.js'

const GUEST_MAC = '52:54:00:b0:07:01'

t.test('proxy mode beside dnsmasq: iPXE boots from bootlab, dhclient gets nothing from it', { skip: !isRoot() && 'needs root' }, async (t) => {
  const lab = await createLab({ hosts: { router: 1, srv: 2, plain: 0 } })
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-proxy-'))
  let qemu: ChildProcess | null = null
  t.teardown(async () => {
    if (qemu && qemu.exitCode === null) { qemu.kill('SIGKILL'); await new Promise((r) => setTimeout(r, 200)) }
    await lab.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  lab.spawn('router', ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=net0', '--bind-interfaces',
    '--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,10m', '--dhcp-option=option:router,10.77.0.1', '--no-ping',
    `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--user=root', '--group=root'])
  const srv = await startServer(lab, 'srv', { interface: 'net0', mode: 'proxy', httpPort: 8080 })
  const probe = lab.spawn('srv', [process.execPath, '--import', 'tsx', join(FIXTURES, 'http-probe.ts'), '8080'])
  const requests: Array<{ url: string; remote: string }> = []
  createInterface({ input: probe.stdout! }).on('line', (l) => { const m = JSON.parse(l) as { url?: string; remote?: string }; if (m.url) requests.push(m as { url: string; remote: string }) })

  // plain DHCP client: address from dnsmasq, nothing from bootlab
  const plog = join(dir, 'plain.log')
  lab.spawn('plain', ['dhclient', '-4', '-d', '-v', '-cf', '/dev/null', '-lf', join(dir, 'plain.leases'), '-pf', join(dir, 'plain.pid'), '-sf', CLIENT_SCRIPT, '-e', `LOG=${plog}`, 'net0'])

  // a real PXE client: QEMU (TCG) with its iPXE network ROM, on a tap in the bridge namespace
  qemu = (await startGuest(lab, 'tq', ['qemu-system-x86_64', '-nodefaults', '-display', 'none', '-accel', 'tcg', '-m', '128',
    '-boot', 'n', '-netdev', 'tap,id=n0,ifname=@TAP@,script=no,downscript=no', '-device', `e1000,netdev=n0,mac=${GUEST_MAC}`])).child

  const plainMac = lab.hosts.plain!.mac
  const pb = await until(async () => { try { return parseClientLog(await readFile(plog, 'utf8')).find((e) => e.event === 'bound') } catch { return undefined } }, 30000, 'plain dhclient bound')
  t.equal(pb.server, '10.77.0.1', 'plain client: lease from dnsmasq')
  t.match(pb.ip, /^10\.77\.0\.1[0-5]\d$/)
  t.equal(pb.file, '', 'plain client: no boot file')

  const got = await until(() => requests.find((r) => r.url.startsWith('/boot.ipxe')), 90000, 'iPXE fetching the boot script from the URL bootlab gave')
  t.equal(decodeURIComponent(got.url), `/boot.ipxe?mac=${GUEST_MAC}&buildarch=i386&platform=pcbios`, 'iPXE expanded the URL bootlab gave')
  const leases = await readFile(join(dir, 'dnsmasq.leases'), 'utf8')
  const guestLease = leases.split('\n').find((l) => l.includes(GUEST_MAC))
  t.ok(guestLease, 'dnsmasq leased an address to the PXE client')
  t.equal(got.remote.replace(/^::ffff:/, ''), guestLease!.split(' ')[2], 'the PXE client used the address from dnsmasq')

  const offers = srv.events('offer', GUEST_MAC)
  t.ok(offers.length >= 1, 'bootlab sent a proxy offer to the PXE client')
  t.equal(offers[0]!.class, 'ipxe')
  t.equal(offers[0]!.ip, null, 'proxy offers carry no address')
  t.comment(`events for the PXE client: ${srv.messages.filter((m) => m.mac === GUEST_MAC).map((m) => `${String(m.event)}@${String(m.port)}`).join(' ')}`)
  t.same(srv.events('offer', plainMac), [], 'no offer to the plain client')
  t.same(srv.events('ack', plainMac), [], 'no ack to the plain client')
  t.ok(srv.events('drop', plainMac).every((d) => d.reason === 'not-netboot-client') && srv.events('drop', plainMac).length > 0, 'plain client dropped as not-netboot-client')
  await srv.stop()
})
