// bootlab as the lab's server under test: the generated bootlab.yaml passes bootlab's own config
// loader, and `bootlab serve` starts and stops inside a lab server namespace.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { formatIssue } from '../../src/config/types.js'
import { BootlabLabServer, writeBootlabLabConfig, isPhoneHomeLog, BOOTLAB_ARCH } from '../../src/lab/bootlab-server.js'
import { createLabNetwork } from '../../src/lab/network.js'
import type { LabGuest, LabServerContext } from '../../src/lab/server.js'
import type { LabNetwork } from '../../src/lab/network.js'

function fakeFiles(dir: string): { guests: LabGuest[]; loaders: LabServerContext['loaders'] } {
  const f = (name: string, content = name): string => { const p = join(dir, name); writeFileSync(p, content); return p }
  mkdirSync(join(dir, 'arm64-efi'))
  writeFileSync(join(dir, 'arm64-efi', 'http.mod'), 'mod')
  const guests: LabGuest[] = (['bios', 'uefi-x64', 'uefi-arm64'] as const).map((kind, i) => ({
    name: `${kind}-abc123`, mac: `52:54:00:00:00:0${i}`, kind, arch: kind === 'uefi-arm64' ? 'arm64' : 'x86_64',
    kernel: f(`vmlinuz-${i}`), initrd: f(`initrd-${i}`), cmdline: 'console=ttyS0 panic=5',
  }))
  return { guests, loaders: { ipxeEfiX64: f('ipxe.efi'), grubArm64: { efi: f('grubnetaa64.efi'), modulesDir: join(dir, 'arm64-efi'), version: 'test' } } }
}

t.test('the generated bootlab.yaml is valid for bootlab and describes every guest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-lab-cfg-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { guests, loaders } = fakeFiles(dir)
  const workDir = join(dir, 'work')
  mkdirSync(workDir)
  const ctx: LabServerContext = {
    net: {} as LabNetwork, at: { ns: 'x', iface: 'lab0', address: '10.77.7.1', prefixLength: 24 },
    pool: { start: '10.77.7.100', end: '10.77.7.199' }, guests, loaders, workDir,
  }
  const dirs = writeBootlabLabConfig(ctx)
  const r = await loadConfig(dirs.config, { readSecrets: false })
  t.ok(r.ok, r.ok ? 'valid' : r.errors.map(formatIssue).join('\n'))
  if (!r.ok) return
  t.equal(r.config.server.dhcp.mode, 'full')
  for (const g of guests) {
    const m = r.config.machines[g.name]
    t.equal(m?.mac, g.mac)
    t.equal(m?.arch, BOOTLAB_ARCH[g.kind])
    const p = r.config.profiles[m!.profile!]
    t.match(p?.cmdline, /bootlab\.phone_home=\{\{ cloud_init_url \}\}phone-home/)
    t.ok(existsSync(join(dirs.images, p!.kernel!)), 'kernel copied below images')
  }
  for (const f of ['ipxe/ipxe.efi', 'grub/grubnetaa64.efi']) t.ok(existsSync(join(dirs.firmware, f)), `${f} in firmware/, where bootlab's DHCP defaults point`)
  t.ok(existsSync(join(dirs.tftproot, 'grub/arm64-efi/http.mod')), 'GRUB modules in the TFTP root')
})

t.test('phone-home log lines are recognised per machine', async (t) => {
  const line = JSON.stringify({ level: 30, msg: 'phone-home received', machine: 'bios-abc123', ip: '10.77.7.150' })
  t.ok(isPhoneHomeLog(line, 'bios-abc123', '52:54:00:00:00:00'))
  t.notOk(isPhoneHomeLog(line, 'bios-abc1', '52:54:00:00:00:09'), 'a name prefix is not a match')
  t.notOk(isPhoneHomeLog(JSON.stringify({ msg: 'tftp done', machine: 'bios-abc123' }), 'bios-abc123', 'x'))
  t.notOk(isPhoneHomeLog('phone-home bios-abc123 (not JSON)', 'bios-abc123', 'x'))
})

const root = typeof process.getuid === 'function' && process.getuid() === 0
t.test('bootlab serve starts and stops in the lab server namespace', { skip: !root && 'needs root' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-lab-serve-'))
  const net = await createLabNetwork()
  t.teardown(async () => { await net.cleanup(); rmSync(dir, { recursive: true, force: true }) })
  const at = await net.attachServer()
  const { guests, loaders } = fakeFiles(dir)
  const workDir = join(dir, 'work')
  mkdirSync(workDir)
  const server = new BootlabLabServer()
  const log: string[] = []
  server.on('log', (l) => log.push(l))
  await server.start({ net, at, pool: { start: `${net.subnet}.100`, end: `${net.subnet}.199` }, guests, loaders, workDir })
  const health = await net.exec(at.ns, ['curl', '-s', '--max-time', '5', `http://${at.address}:8080/healthz`])
  t.match(health.stdout, /"status":"ok"/, log.join('\n'))
  await server.stop()
  const after = await net.exec(at.ns, ['curl', '-s', '--max-time', '2', `http://${at.address}:8080/healthz`])
  t.not(after.code, 0, 'stopped: nothing listens any more')
})
