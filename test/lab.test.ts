import t from 'tap'
import { createLab, isRoot } from '../src/lab/netns.js'

t.test('network namespace lab: two hosts on one bridge reach each other', { skip: !isRoot() && 'needs root' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1, cli: 2 } })
  t.teardown(() => lab.cleanup())
  const r = await lab.exec('cli', ['busybox', 'ping', '-c', '1', '-W', '2', lab.hosts.srv!.ip])
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(lab.hosts.cli!.mac, /^[0-9a-f:]{17}$/)
})
