// What configured machines and profiles need that is missing: bootlab check warns with the fetch
// command, bootlab images lists it, and the warnings go away once the files are there.
import t from 'tap'
import { bootlab, tmpDir } from './helpers.js'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { missingAssets, fetchHintForImage, logMissingAssets } from '../../src/assets/missing.js'
import { PFTF_REQUIRED } from '../../src/assets/rpi4-uefi.js'


const dir = tmpDir(t, 'bootlab-missing-')
const cfgFile = join(dir, 'bootlab.yaml')
writeFileSync(cfgFile, `
server:
  dhcp: { mode: off }
  state_dir: ${dir}/state
profiles:
  install:
    kernel: ubuntu-24.04/arm64/linux
    initrd: [ubuntu-24.04/arm64/initrd]
    cmdline: ip=dhcp url={{ http }}/files/images/ubuntu-24.04/ubuntu-24.04-live-server-arm64.iso
  own:
    kernel: mine/vmlinuz
  local: { boot: local }
  discovery: { boot: local }
machines:
  pi-01: { mac: "dc:a6:32:00:00:01", arch: rpi4, profile: install }
  pi-02: { mac: "dc:a6:32:00:00:02", arch: rpi4, firmware: v1.38, profile: local }
  nuc: { mac: "1c:69:7a:00:00:01", arch: x86_64, profile: own }
  old: { mac: "1c:69:7a:00:00:02", arch: bios }
`)
const fw = join(dir, 'state', 'firmware')
const images = join(dir, 'state', 'images')

t.test('everything missing: one entry per file with the command that fetches it', async (t) => {
  const r = await loadConfig(cfgFile)
  t.ok(r.ok)
  if (!r.ok) return
  const m = missingAssets(r.config)
  const by = (p: string) => m.find((x) => x.path === p)
  t.equal(by(join(fw, 'rpi4-uefi', 'current'))?.fetch, 'bootlab fetch rpi4-uefi')
  t.same(by(join(fw, 'rpi4-uefi', 'current'))?.needed_by, ['machine pi-01'])
  t.equal(by(join(fw, 'rpi4-uefi', 'v1.38'))?.fetch, 'bootlab fetch rpi4-uefi --version v1.38', 'a pinned machine names its version')
  t.same(by(join(fw, 'ipxe', 'snp-arm64.efi'))?.needed_by, ['machine pi-01', 'machine pi-02'])
  t.equal(by(join(fw, 'ipxe', 'ipxe.efi'))?.fetch, 'bootlab fetch ipxe')
  t.equal(by(join(fw, 'ipxe', 'undionly.kpxe'))?.fetch, 'bootlab fetch ipxe')
  t.equal(by(join(images, 'ubuntu-24.04', 'arm64', 'linux'))?.fetch, 'bootlab fetch ubuntu 24.04 --arch arm64')
  t.equal(by(join(images, 'ubuntu-24.04', 'ubuntu-24.04-live-server-arm64.iso'))?.fetch, 'bootlab fetch ubuntu 24.04 --arch arm64', 'the ISO named in the command line')
  t.match(by(join(images, 'mine', 'vmlinuz'))?.fetch, /copy the file/)
  t.equal(m.length, 9)
  const lines: Array<{ obj: object; msg: string }> = []
  t.equal(logMissingAssets(r.config, { warn: (obj, msg) => lines.push({ obj, msg }) }), 9)
  t.match(lines[0], { obj: { fetch: 'bootlab fetch rpi4-uefi', needed_by: ['machine pi-01'] }, msg: /missing boot file: pftf RPi4 UEFI current \(run: bootlab fetch rpi4-uefi\)/ })
  const check = await bootlab('check', '--config', cfgFile)
  t.equal(check.code, 0, 'missing files are warnings, the config is valid')
  t.match(check.stderr, /warning: missing .*rpi4-uefi\/v1\.38 .*: bootlab fetch rpi4-uefi --version v1\.38/)
  t.match(check.stderr, /warning: missing .*ipxe\.efi .*needed by machine nuc.*: bootlab fetch ipxe/)
  const json = await bootlab('check', '--json', '--config', cfgFile)
  t.equal((JSON.parse(json.stdout) as { missing: unknown[] }).missing.length, 9)
  const img = await bootlab('images', '--config', cfgFile)
  t.equal(img.code, 0, img.stderr)
  t.match(img.stdout, /9 missing:/)
})

t.test('files in place (a partial pftf folder still counts as missing)', async (t) => {
  mkdirSync(join(fw, 'rpi4-uefi', 'v1.50', 'overlays'), { recursive: true })
  for (const f of PFTF_REQUIRED.filter((f) => !f.endsWith('/'))) writeFileSync(join(fw, 'rpi4-uefi', 'v1.50', f), 'x')
  symlinkSync('v1.50', join(fw, 'rpi4-uefi', 'current'))
  mkdirSync(join(fw, 'rpi4-uefi', 'v1.38'))
  writeFileSync(join(fw, 'rpi4-uefi', 'v1.38', 'RPI_EFI.fd'), 'x')
  mkdirSync(join(fw, 'ipxe'), { recursive: true })
  for (const f of ['snp-arm64.efi', 'ipxe.efi', 'undionly.kpxe']) writeFileSync(join(fw, 'ipxe', f), f)
  mkdirSync(join(images, 'ubuntu-24.04', 'arm64'), { recursive: true })
  for (const f of ['arm64/linux', 'arm64/initrd', 'ubuntu-24.04-live-server-arm64.iso']) writeFileSync(join(images, 'ubuntu-24.04', f), f)
  const r = await loadConfig(cfgFile)
  if (!r.ok) { t.fail('config'); return }
  const m = missingAssets(r.config)
  t.same(m.map((x) => x.path).sort(), [join(fw, 'rpi4-uefi', 'v1.38'), join(images, 'mine', 'vmlinuz')])
  t.match(m.find((x) => x.path.endsWith('v1.38'))?.what, /no start4\.elf, fixup4\.dat/)
  const img = await bootlab('images', '--config', cfgFile, '--json')
  const j = JSON.parse(img.stdout) as { items: Array<{ name: string; current?: boolean; used_by: string[] }> }
  const v150 = j.items.find((i) => i.name === 'rpi4-uefi/v1.50')
  t.equal(v150?.current, true)
  t.same(v150?.used_by, ['machine pi-01'], 'the unpinned Pi uses current')
  t.same(j.items.find((i) => i.name === 'rpi4-uefi/v1.38')?.used_by, ['machine pi-02'], 'the pinned Pi uses its version')
  t.same(j.items.find((i) => i.name === 'ubuntu-24.04/arm64/linux')?.used_by, ['profile install', 'machine pi-01'])
  t.same(j.items.find((i) => i.name === 'ipxe/undionly.kpxe')?.used_by, ['machine old'])
})

t.test('a bad firmware pin is a config error with line and column', async (t) => {
  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, 'machines:\n  pi:\n    mac: "dc:a6:32:00:00:09"\n    arch: rpi4\n    firmware: ../../etc\n')
  const r = await bootlab('check', '--config', bad)
  t.equal(r.code, 1)
  t.match(r.stdout, /bad\.yaml:5:15 machines\.pi\.firmware: must be a pftf firmware version such as v1\.38/)
  t.equal(fetchHintForImage('ubuntu-24.04/amd64/initrd'), 'bootlab fetch ubuntu 24.04 --arch amd64')
})

t.test('GRUB stands in for arm64 iPXE only outside proxy mode (it ignores proxyDHCP offers)', async (t) => {
  const d = tmpDir(t, 'bootlab-missing-grub-')
  mkdirSync(join(d, 'state', 'firmware', 'grub'), { recursive: true })
  writeFileSync(join(d, 'state', 'firmware', 'grub', 'grubnetaa64.efi'), 'grub')
  const at = async (mode: string): Promise<string[]> => {
    const f = join(d, `${mode}.yaml`)
    writeFileSync(f, `server: { interface: lo, dhcp: { mode: ${mode}${mode === 'full' ? ', pool: 127.0.0.100-127.0.0.110' : ''} }, unknown: ignore, state_dir: ${d}/state }\nmachines: { arm: { mac: "02:00:00:00:00:01", arch: arm64 } }\n`)
    const r = await loadConfig(f)
    if (!r.ok) { t.fail(JSON.stringify(r.errors)); return [] }
    return missingAssets(r.config).map((m) => m.fetch)
  }
  t.same(await at('proxy'), ['bootlab fetch ipxe'])
  t.same(await at('off'), [])
})
