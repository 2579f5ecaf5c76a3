// `bootlab check` says when proxy mode leaves a Pi 4's UEFI stage without an arm64 iPXE (GRUB
// ignores proxyDHCP offers), naming the fix; quiet once firmware/ipxe/snp-arm64.efi is there.
import t from 'tap'
import { PFTF_REQUIRED } from '../../src/assets/rpi4-uefi.js'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

const bootlab = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 60_000 })

t.test('check warns about a missing arm64 iPXE in proxy mode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bl-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'firmware', 'grub'), { recursive: true })
  writeFileSync(join(dir, 'firmware', 'grub', 'grubnetaa64.efi'), 'grub')
  const file = join(dir, 'bootlab.yaml')
  writeFileSync(file, [
    `server: { dhcp: { mode: proxy }, state_dir: ${dir}, paths: { firmware: ${join(dir, 'firmware')} } }`,
    'profiles: { local: { boot: local }, discovery: { boot: local } }',
    'machines: { pi: { mac: dc:a6:32:00:00:01, arch: rpi4, profile: local } }',
  ].join('\n'))
  const r = bootlab('check', '--config', file)
  t.equal(r.status, 0, 'a warning, not an error')
  t.match(r.stderr, /^warning: dhcp\.mode is proxy and firmware\/ipxe\/snp-arm64\.efi is missing: .*GRUB .*ignores proxyDHCP offers.*`bootlab fetch ipxe`, or use dhcp\.mode: full$/m)
  mkdirSync(join(dir, 'firmware', 'ipxe'))
  writeFileSync(join(dir, 'firmware', 'ipxe', 'snp-arm64.efi'), 'ipxe')
  t.notMatch(bootlab('check', '--config', file).stderr, /snp-arm64/, 'quiet with an arm64 iPXE')
})

t.test('check warns about a firmware: pin that is not there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bl-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'bootlab.yaml')
  writeFileSync(file, [
    `server: { dhcp: { mode: off }, state_dir: ${dir}, paths: { firmware: ${join(dir, 'firmware')} } }`,
    'profiles: { local: { boot: local }, discovery: { boot: local } }',
    'machines: { pi: { mac: dc:a6:32:00:00:01, arch: rpi4, firmware: "1.38" } }',
  ].join('\n'))
  t.match(bootlab('check', '--config', file).stderr, /^warning: missing .*rpi4-uefi\/v1\.38 \(pftf RPi4 UEFI 1\.38.*needed by machine pi\): bootlab fetch rpi4-uefi --version 1\.38$/m)
  const set = join(dir, 'firmware', 'rpi4-uefi', 'v1.38')
  mkdirSync(set, { recursive: true })
  for (const f of PFTF_REQUIRED) {
    if (f.endsWith('/')) mkdirSync(join(set, f), { recursive: true })
    else { mkdirSync(dirname(join(set, f)), { recursive: true }); writeFileSync(join(set, f), 'x') }
  }
  t.notMatch(bootlab('check', '--config', file).stderr, /rpi4-uefi/, 'quiet once the version is there')
})
