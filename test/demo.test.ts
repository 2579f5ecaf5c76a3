import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { isRoot } from '../src/lab/netns.js'
import { missingPrerequisites } from '../src/lab/qemu.js'

const netnsList = (): string => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

t.test('the README main command (scripts/demo.sh): the reinstall loop ends with the table and a JSON line', {
  skip: !isRoot() ? 'needs root' : missingPrerequisites('bios').length > 0 && `missing ${missingPrerequisites('bios').join(', ')}`,
}, async (t) => {
  const r = spawnSync('bash', ['scripts/demo.sh', '--guests', 'bios', '--timeout', '150', '--json'], {
    encoding: 'utf8', timeout: 600_000, env: { ...process.env, BOOTLAB_SKIP_INSTALL: '1' },
  })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /status page: http:\/\/127\.0\.0\.1:\d+\//, 'the status page URL')
  t.match(r.stdout, /PoE switch: IOS simulator/)
  // the three steps, with bootlab's own record of each
  t.match(r.stdout, /bios\s+── step 1: power on through the switch/)
  t.match(r.stdout, /bootlab\s+bios: power on started \(API request\)/)
  t.match(r.stdout, /bootlab\s+bios: DHCP ack \(ipxe\) 10\.77\.7\.\d+/)
  t.match(r.stdout, /bootlab\s+bios: HTTP kernel \/images\/bios\/vmlinuz/)
  t.match(r.stdout, /bios\s+installed\s+bootlab-lab: installed [0-9a-f]{8}/)
  t.match(r.stdout, /bootlab\s+bios: deployed \(profile lab-bios\)/)
  t.match(r.stdout, /bootlab\s+bios: power cycle started \(API request\)/)
  t.match(r.stdout, /bootlab\s+bios: boot script: local disk \(profile local\)/)
  t.match(r.stdout, /bios\s+booted from disk\s+bootlab-lab: booted from disk, install [0-9a-f]{8}/)
  t.match(r.stdout, /bootlab\s+bios: phone-home received \(source=disk, install [0-9a-f]{8}\)/)
  t.match(r.stdout, /bootlab\s+bios: power cycle started \(profile changed: lab-bios → lab-bios-v2\)/)
  t.match(r.stdout, /bootlab\s+bios: deployed \(profile lab-bios-v2\)/)
  t.notMatch(r.stdout, /\/cloud-init\/[0-9a-f]{6}/, 'the cloud-init token is not printed')
  // the table, then the JSON line
  t.match(r.stdout, /^bios\s+2\s+2\s+1\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+deployed\s+SeaBIOS \+ iPXE ROM → HTTP boot\.ipxe → kernel \(HTTP\)$/m)
  const last = r.stdout.trimEnd().split('\n').pop() ?? ''
  const j = JSON.parse(last) as { guests: Record<string, unknown>[] }
  t.match(j.guests, [{ guest: 'bios', installs: 2, power_cycles: 2, local_boots: 1, state: 'deployed' }])
  const ns = /namespace (blab-[0-9a-f]+) /.exec(r.stdout)?.[1]
  t.ok(ns, 'the lab namespace is named in the output')
  if (ns) t.notMatch(netnsList(), new RegExp(`^${ns}`, 'm'), 'lab namespaces removed')
})

t.test('Ctrl-C during the demo stops QEMU, the switch and bootlab and removes the namespaces', {
  skip: !isRoot() ? 'needs root' : missingPrerequisites('bios').length > 0 && `missing ${missingPrerequisites('bios').join(', ')}`,
}, async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--guests', 'bios'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  // interrupt once the guest's QEMU runs (its kernel is up)
  const deadline = Date.now() + 240_000
  while (!/bios\s+kernel running/.test(stdout) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200))
  const ns = /namespace (blab-[0-9a-f]+) /.exec(stdout)?.[1]
  t.ok(ns, 'the lab was made', { stdout })
  const qemu = ns ? spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean) : []
  t.ok(qemu.length > 0, 'processes run in the lab namespace (QEMU)')
  child.kill('SIGINT')
  t.equal(await exited, 130, 'exit 130 after Ctrl-C')
  t.match(stdout, /SIGINT: stopping guests, the switch and bootlab, removing the namespaces/)
  if (ns) t.notMatch(netnsList(), new RegExp(`^${ns}`, 'm'), 'lab namespaces removed')
  for (const pid of qemu) t.notOk(alive(Number(pid)), `process ${pid} of the lab is gone`)
})

t.test('bootlab demo exits non-zero when a guest does not finish a step in time, and still cleans up', {
  skip: !isRoot() ? 'needs root' : missingPrerequisites('bios').length > 0 && `missing ${missingPrerequisites('bios').join(', ')}`,
}, async (t) => {
  // 2 s is far too short for the guest to be installed: the step fails, QEMU is stopped
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--guests', 'bios', '--timeout', '2'], { encoding: 'utf8', timeout: 180_000 })
  t.equal(r.status, 1, r.stdout + r.stderr)
  t.match(r.stdout, /bios\s+── step 1 FAILED: no deployed within 2 s/)
  t.match(r.stdout, /not round the loop: bios/)
  t.match(r.stdout, /bios: last console lines:/)
  const ns = /namespace (blab-[0-9a-f]+) /.exec(r.stdout)?.[1]
  t.ok(ns, 'the lab namespace is named in the output')
  if (ns) t.notMatch(netnsList(), new RegExp(`^${ns}`, 'm'), 'lab namespaces removed')
})

t.test('bootlab demo refuses kinds that cannot share a run (usage error)', async (t) => {
  let r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--guests', 'uefi-arm64,uefi-arm64-ipxe'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 2, r.stderr)
  t.match(r.stderr, /cannot share a run/)
  r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--guests', 'uefi-arm64', '--dhcp', 'proxy'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 2, r.stderr)
  t.match(r.stderr, /GRUB ignores proxyDHCP offers/)
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
