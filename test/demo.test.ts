import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { isRoot } from './helpers/netns.js'

t.test('the README main command (scripts/demo.sh) serves the example config in its own namespace', { skip: !isRoot() && 'needs root' }, async (t) => {
  const ns = `bl-demo-${randomBytes(3).toString('hex')}`
  const r = spawnSync('bash', ['scripts/demo.sh', '--smoke'], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, BOOTLAB_DEMO_NS: ns, BOOTLAB_SKIP_INSTALL: '1' } })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /"status":"ok"/)
  t.match(r.stdout, /"config":\{"status":"ok"/)
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  t.notMatch(left, new RegExp(ns), 'namespaces removed')
})
