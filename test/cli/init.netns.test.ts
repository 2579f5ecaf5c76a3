// bootlab init inside a network namespace this test creates (veth + address + default route) and
// a temporary root: the LAN is detected, the config it writes passes `bootlab check`, nothing
// outside the root is touched, no user is created.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createLab, isRoot, type Lab } from '../../src/lab/netns.js'

const cli = [process.execPath, '--import', 'tsx', resolve('src/cli/main.ts')]

t.test('bootlab init in a namespace', { skip: !isRoot() && 'needs root (network namespaces)' }, async (t) => {
  let lab: Lab
  t.before(async () => {
    lab = await createLab({ hosts: { srv: 10, gw: 1 }, subnet: '10.93.7' })
    const r = await lab.exec('srv', ['ip', 'route', 'add', 'default', 'via', '10.93.7.1'])
    if (r.code !== 0) throw new Error(r.stderr)
  })
  t.teardown(async () => { await lab?.cleanup() })
  const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'bootlab-init-')); t.teardown(() => rmSync(d, { recursive: true, force: true })); return d }

  t.test('--dry-run shows the plan and changes nothing', async (t) => {
    const root = tmp()
    const r = await lab.exec('srv', [...cli, 'init', '--root', root, '--dry-run'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /detected: interface net0, address 10\.93\.7\.10\/24, router 10\.93\.7\.1/)
    t.match(r.stdout, new RegExp(`would write  config ${root}/etc/bootlab/bootlab\\.yaml`))
    t.match(r.stdout, /would skip {3}system user bootlab \(--root/)
    t.notOk(existsSync(join(root, 'etc')), 'nothing written')
    const j = await lab.exec('srv', [...cli, 'init', '--root', root, '--dry-run', '--json'])
    const plan = JSON.parse(j.stdout) as { network: { interface: string; router: string }; steps: Array<{ kind: string; path?: string }> }
    t.same(plan.network, { interface: 'net0', address: '10.93.7.10', prefix: 24, router: '10.93.7.1' })
    t.ok(plan.steps.some((s) => s.kind === 'user'), 'the user step is in the plan')
    t.notOk(plan.steps.some((s) => s.kind === 'chown'), 'no chown under --root')
  })

  t.test('init writes a commented proxy-mode config that passes check, folders and the unit', async (t) => {
    const root = tmp()
    const r = await lab.exec('srv', [...cli, 'init', '--root', root])
    t.equal(r.code, 0, r.stderr + r.stdout)
    const cfg = join(root, 'etc/bootlab/bootlab.yaml')
    const text = readFileSync(cfg, 'utf8')
    t.match(text, /^ {2}interface: net0$/m)
    t.match(text, /^ {4}mode: proxy$/m)
    t.match(text, /your router \(10\.93\.7\.1\)/)
    t.match(text, /^#/m, 'commented')
    for (const d of ['var/lib/bootlab/firmware', 'var/lib/bootlab/images', 'var/lib/bootlab/tftproot']) t.ok(statSync(join(root, d)).isDirectory(), d)
    const unit = readFileSync(join(root, 'etc/systemd/system/bootlab.service'), 'utf8')
    t.match(unit, new RegExp(`ExecStart=${process.execPath} (?:--\\S+ )*${resolve('.')}/bin/bootlab\\.js serve`))
    t.match(unit, /^User=bootlab$/m)
    t.match(r.stdout, /Next steps:[\s\S]*bootlab fetch rpi4-uefi[\s\S]*http:\/\/10\.93\.7\.10:8080\//)
    const check = await lab.exec('srv', [...cli, 'check', '--config', cfg])
    t.equal(check.code, 0, check.stdout + check.stderr)
    t.match(check.stdout, /ok: 0 machine\(s\), 2 profile\(s\), 0 switch\(es\); dhcp proxy on net0/)
  })

  t.test('existing files are kept unless --force (no terminal to ask)', async (t) => {
    const root = tmp()
    mkdirSync(join(root, 'etc/bootlab'), { recursive: true })
    writeFileSync(join(root, 'etc/bootlab/bootlab.yaml'), 'server: { dhcp: { mode: off }, unknown: ignore }\n')
    const r = await lab.exec('srv', [...cli, 'init', '--root', root])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /kept {3}.*bootlab\.yaml \(not replaced\)/)
    t.equal(readFileSync(join(root, 'etc/bootlab/bootlab.yaml'), 'utf8'), 'server: { dhcp: { mode: off }, unknown: ignore }\n')
    const f = await lab.exec('srv', [...cli, 'init', '--root', root, '--force'])
    t.equal(f.code, 0, f.stderr)
    t.match(readFileSync(join(root, 'etc/bootlab/bootlab.yaml'), 'utf8'), /interface: net0/)
  })

  t.test('no default route: a clear error naming --interface', async (t) => {
    const r = await lab.exec('gw', [...cli, 'init', '--root', tmp(), '--dry-run'])
    t.equal(r.code, 3)
    t.match(r.stderr, /no default route: give the LAN interface with --interface/)
    const ok = await lab.exec('gw', [...cli, 'init', '--root', tmp(), '--dry-run', '--interface', 'net0'])
    t.equal(ok.code, 0, ok.stderr)
    t.match(ok.stdout, /interface net0, address 10\.93\.7\.1\/24, router none/)
  })
})
