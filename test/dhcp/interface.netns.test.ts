// Interface discipline: a server namespace with two interfaces and its default route on the second.
// bootlab listens on net0 only: a client on net0 gets its lease (broadcast replies leave through net0
// despite the default route), a client on net1's segment gets nothing, and a capture on net1 shows
// that bootlab never sends anything there.
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createLab, isRoot, type Lab } from '../../src/lab/netns.js'
import { CLIENT_SCRIPT, parseClientLog, startServer, until } from './netlab.js'

const POOL = { subnet: '10.77.0.0/24', start: '10.77.0.100', end: '10.77.0.150', router: '10.77.0.1', leaseSeconds: 600 }

function capture(lab: Lab, host: string, ifname: string): string[] {
  const lines: string[] = []
  const c = lab.spawn(host, ['tcpdump', '-l', '-n', '-i', ifname, 'udp and (port 67 or port 68 or port 4011)'])
  createInterface({ input: c.stdout! }).on('line', (l) => lines.push(l))
  return lines
}

for (const variant of ['native', 'fallback'] as const) {
  t.test(`interface discipline (${variant} sockets): nothing is ever sent on the other interface`, { skip: !isRoot() && 'needs root' }, async (t) => {
    const lab = await createLab({ hosts: { srv: 1, main: 0, side: 0 } })
    const dir = await mkdtemp(join(tmpdir(), 'bootlab-if-'))
    t.teardown(async () => { await lab.cleanup(); await rm(dir, { recursive: true, force: true }) })
    // srv gets net1 on a second bridge, with the default route through it; "side" moves to that bridge
    await lab.addInterface('srv', 'side', '10.88.0.1')
    const r1 = await lab.exec('srv', ['ip', 'route', 'add', 'default', 'via', '10.88.0.254', 'dev', 'net1'])
    t.equal(r1.code, 0, r1.stderr)
    await lab.exec('side', ['ip', 'link', 'set', 'net0', 'down'])
    const side = await lab.addInterface('side', 'side', '')
    const capMain = capture(lab, 'srv', 'net0')
    const capSide = capture(lab, 'srv', 'net1')
    const srv = await startServer(lab, 'srv', { interface: 'net0', mode: 'full', pools: [POOL] }, variant === 'fallback' ? { BOOTLAB_NO_NATIVE: '1' } : {})
    t.equal(srv.ready.binding, variant === 'native' ? 'device' : 'address')
    await new Promise((r) => setTimeout(r, 1000)) // let tcpdump start

    const mlog = join(dir, 'main.log')
    lab.spawn('main', ['busybox', 'udhcpc', '-f', '-i', 'net0', '-s', CLIENT_SCRIPT, '-t', '5', '-T', '1', '-A', '1'], { env: { ...process.env, LOG: mlog } })
    const sideRun = lab.exec('side', ['busybox', 'udhcpc', '-n', '-q', '-i', side.ifname, '-s', CLIENT_SCRIPT, '-t', '4', '-T', '1'], { timeoutMs: 20000 })
    const bound = await until(async () => { try { return parseClientLog(await readFile(mlog, 'utf8')).find((e) => e.event === 'bound') } catch { return undefined } }, 20000, 'client on net0 bound')
    t.match(bound.ip, /^10\.77\.0\.1[0-5]\d$/, 'client on the configured interface got a lease')
    const sr = await sideRun
    t.not(sr.code, 0, 'client on the other segment got no lease')
    await new Promise((r) => setTimeout(r, 500))

    t.ok(capMain.some((l) => l.includes('10.77.0.1.67 >')), 'replies seen leaving net0')
    t.ok(capSide.some((l) => l.includes('> 255.255.255.255.67')), 'the other segment\'s DISCOVERs did reach net1')
    const fromUsOnSide = capSide.filter((l) => /\.(67|4011) > /.test(l))
    t.same(fromUsOnSide, [], 'nothing sent by bootlab on net1')
    if (variant === 'native') {
      t.same(srv.events('discover', side.mac), [], 'the other segment\'s packets never reached bootlab')
    }
    await srv.stop()
  })
}
