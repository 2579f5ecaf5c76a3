import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { isRoot } from '../src/lab/netns.js'
import { missingPrerequisites } from '../src/lab/qemu.js'

const netnsList = (): string => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout

t.test('the README main command (scripts/demo.sh): a QEMU guest netboots from bootlab and is deployed', {
  skip: !isRoot() ? 'needs root' : missingPrerequisites('bios').length > 0 && `missing ${missingPrerequisites('bios').join(', ')}`,
}, async (t) => {
  const r = spawnSync('bash', ['scripts/demo.sh', '--guests', 'bios', '--timeout', '90'], {
    encoding: 'utf8', timeout: 180_000, env: { ...process.env, BOOTLAB_SKIP_INSTALL: '1' },
  })
  t.equal(r.status, 0, r.stdout + r.stderr)
  // live milestones from the guest's console and states from bootlab's API
  t.match(r.stdout, /bios\s+firmware DHCP\s+net0: 10\.77\.7\.\d+/)
  t.match(r.stdout, /bios\s+phone-home sent .*\/cloud-init\/…\/phone-home/)
  t.notMatch(r.stdout, /\/cloud-init\/[0-9a-f]{6}/, 'the cloud-init token is not printed')
  // bootlab's own record of the boot (GET /api/events), each step of the chain
  t.match(r.stdout, /bootlab\s+bios: assigned → netbooting/)
  t.match(r.stdout, /bootlab\s+bios: DHCP ack \(ipxe\) 10\.77\.7\.\d+/)
  t.match(r.stdout, /bootlab\s+bios: HTTP script \/boot\.ipxe/)
  t.match(r.stdout, /bootlab\s+bios: HTTP kernel \/images\/bios\/vmlinuz/)
  t.match(r.stdout, /bootlab\s+bios: phone-home received/)
  t.match(r.stdout, /bootlab\s+bios: deployed \(profile lab-bios\)/)
  // the summary row: guest, chain, accel, seconds to phone-home, state
  t.match(r.stdout, /^bios\s+SeaBIOS → iPXE ROM .*\s(tcg|kvm)\s+\d+\.\d\s+deployed$/m)
  t.match(r.stdout, /all 1 guest deployed/)
  const ns = /namespace (blab-[0-9a-f]+) /.exec(r.stdout)?.[1]
  t.ok(ns, 'the lab namespace is named in the output')
  if (ns) t.notMatch(netnsList(), new RegExp(`^${ns}`, 'm'), 'lab namespaces removed')
})

t.test('bootlab demo exits non-zero when a guest is not deployed in time, and still cleans up', {
  skip: !isRoot() ? 'needs root' : missingPrerequisites('bios').length > 0 && `missing ${missingPrerequisites('bios').join(', ')}`,
}, async (t) => {
  // 2 s is far too short for the guest to reach its kernel: QEMU is stopped at the deadline
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--guests', 'bios', '--timeout', '2'], { encoding: 'utf8', timeout: 120_000 })
  t.equal(r.status, 1, r.stdout + r.stderr)
  t.match(r.stdout, /not deployed: bios/)
  t.notMatch(r.stdout, /^bios\s.*\sdeployed$/m)
  t.match(r.stdout, /bios: last console lines:/)
  const ns = /namespace (blab-[0-9a-f]+) /.exec(r.stdout)?.[1]
  t.ok(ns, 'the lab namespace is named in the output')
  if (ns) t.notMatch(netnsList(), new RegExp(`^${ns}`, 'm'), 'lab namespaces removed')
})

t.test('bootlab demo refuses an unknown guest kind (usage error)', async (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--guests', 'bios,pdp11'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 2, r.stderr)
  t.match(r.stderr, /unknown guest pdp11/)
})

t.test('scripts/demo.sh --smoke: bootlab serve with the example config in its own namespace', { skip: !isRoot() && 'needs root' }, async (t) => {
  const ns = `bl-demo-${randomBytes(3).toString('hex')}`
  const r = spawnSync('bash', ['scripts/demo.sh', '--smoke'], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, BOOTLAB_DEMO_NS: ns, BOOTLAB_SKIP_INSTALL: '1' } })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /"status":"ok"/)
  t.match(r.stdout, /"config":\{"status":"ok"/)
  t.notMatch(netnsList(), new RegExp(ns), 'namespaces removed')
})
