// Mutated packets over real sockets at a running proxy-mode server in a namespace (ports 67 and
// 4011, unicast and broadcast): the process stays up, accounts for everything it received, and
// still boots a PXE client afterwards.
import t from 'tap'
import { join } from 'node:path'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { FIXTURES, startServer, until } from './netlab.js'

const COUNT = 20_000

t.test(`${COUNT} mutated packets at a running server`, { skip: !isRoot() && 'needs root' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1, cli: 2 } })
  t.teardown(() => lab.cleanup())
  // limited broadcasts need a route out of the client namespace
  t.equal((await lab.exec('cli', ['ip', 'route', 'add', 'default', 'dev', 'net0'])).code, 0)
  const srv = await startServer(lab, 'srv', { interface: 'net0', mode: 'proxy', events: false })
  const r = await lab.exec('cli', [process.execPath, '--import', 'tsx', join(FIXTURES, 'blaster.ts'), JSON.stringify({ target: lab.hosts.srv!.ip, count: COUNT, seed: 42 })], { timeoutMs: 60000 })
  t.equal(r.code, 0, r.stderr)
  t.same(JSON.parse(r.stdout), { sent: COUNT, errors: 0 })
  type Stats = { received: number; answered: number; accepted: number; dropped: Record<string, number> }
  let last = -1
  const s = await until(async () => {
    const x = (await srv.stats()).stats as Stats
    const settled = x.received === last
    last = x.received
    return settled ? x : undefined
  }, 20000, 'server settled')
  t.equal(srv.child.exitCode, null, 'server still running')
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0)
  t.equal(s.received, s.answered + s.accepted + dropped, `${s.received} received = ${s.answered} answered + ${s.accepted} accepted + ${dropped} dropped`)
  t.ok(s.received > COUNT * 0.5, `most packets reached the server (${s.received}/${COUNT}; the kernel may drop some under load)`)
  t.notOk(s.dropped['internal-error'], 'no internal errors')
  // and it still answers a PXE client (udhcpc sending a PXE vendor class and arch 7)
  const probe = await lab.exec('cli', ['busybox', 'udhcpc', '-n', '-q', '-f', '-i', 'net0', '-s', '/bin/true', '-t', '3', '-T', '1',
    '-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007'], { timeoutMs: 20000 })
  void probe // the proxy never gives an address, so udhcpc itself fails; the server's counters tell
  const after = (await srv.stats()).stats as Stats & { sent: { offer: number } }
  t.ok(after.answered > s.answered, 'a proxy offer went to the PXE client after the storm')
  await srv.stop()
})
