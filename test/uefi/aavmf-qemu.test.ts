// EDK2 itself accepts a variable store bootlab wrote: an arm64 QEMU guest (TCG, AAVMF) boots with
// a copy of Debian's AAVMF_VARS.ms.fd that bootlab patched — pftf's settings under pftf's GUID,
// Timeout replaced, an expert variable added, PK deleted, after a reclaim (so Secure Boot is off and the firmware
// runs the unsigned kernel) — and the guest's Linux reads the variables back from efivarfs and
// prints them on the serial console. Then the store the firmware wrote back is read again by
// bootlab. No network: the firmware boots the kernel given with -kernel (fw_cfg), -nic none.
// Slow under TCG (a few minutes); run alone: npx tap test/uefi/aavmf-qemu.test.ts
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  EFI_GLOBAL_VARIABLE_GUID as GLOBAL, PFTF_CONFIG_GUID, editVariables, findVariable, readVariableStore, settingsEdits,
} from '../../src/uefi/index.js'
import { guestImage, guestModules } from '../../src/lab/artefacts.js'
import { initramfs, type CpioEntry } from '../../src/lab/cpio.js'

const CODE = '/usr/share/AAVMF/AAVMF_CODE.fd'
const VARS_MS = '/usr/share/AAVMF/AAVMF_VARS.ms.fd'
const PROBE_GUID = '3b9c5a52-6e0f-4d8e-9d47-0f5e3a1c2b7d'
const IMAGE_SECURITY_DB = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f'
const MARK = 'bootlab-uefi:'
const GUEST_TIMEOUT_MS = 600_000

const qemu = spawnSync('qemu-system-aarch64', ['--version']).status === 0
const skip = !qemu ? 'needs qemu-system-aarch64' : !existsSync(CODE) || !existsSync(VARS_MS) ? 'needs qemu-efi-aarch64 (AAVMF)' : false

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
while read -r m; do [ -n "$m" ] && { insmod "/lib/modules/$m" || echo "${MARK} insmod $m failed"; }; done < /etc/uefi-modules
if mount -t efivarfs efivarfs /sys/firmware/efi/efivars; then
  for f in /sys/firmware/efi/efivars/*; do
    echo "${MARK} var $(basename "$f") $(od -An -tx1 -v "$f" | tr -d ' \\n')"
  done
else
  echo "${MARK} efivarfs mount failed"
fi
echo "${MARK} done"
sync
poweroff -f
`

t.test('AAVMF boots a bootlab-patched store and Linux reads the variables', { skip }, async (t) => {
  t.setTimeout(GUEST_TIMEOUT_MS + 600_000)
  const work = mkdtempSync(join(tmpdir(), 'bootlab-uefi-qemu-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))

  const image = await guestImage('arm64')
  const modules = await guestModules('arm64', ['efivarfs'], ['./lib/modules/*/kernel/fs/efivarfs/*'])
  // the lab's initramfs (busybox) with /init replaced: a second archive appended to the first
  const extra: CpioEntry[] = [
    { type: 'dir', path: 'lib' }, { type: 'dir', path: 'lib/modules' }, { type: 'dir', path: 'etc' },
    { type: 'file', path: 'init', data: Buffer.from(INIT), mode: 0o755 },
    ...modules.map((m): CpioEntry => ({ type: 'file', path: `lib/modules/${m.replace(/^.*\//, '')}`, data: readFileSync(m) })),
    { type: 'file', path: 'etc/uefi-modules', data: Buffer.from(modules.map((m) => m.replace(/^.*\//, '')).join('\n') + '\n') },
  ]
  const initrd = join(work, 'initrd.gz')
  writeFileSync(initrd, Buffer.concat([readFileSync(image.initrd), initramfs(extra)]))

  const stock = readFileSync(VARS_MS)
  // first churn one big variable until the store had to be reclaimed, so the firmware also gets
  // a store compacted by bootlab (the NvData volume is the first 0xc0000 bytes of the 64 MiB file)
  const nv = readVariableStore(stock).volume.length
  const churn = editVariables(stock.subarray(0, nv), [
    ...Array.from({ length: 48 }, (_, i) => ({ op: 'set' as const, guid: PROBE_GUID, name: 'BootlabChurn', data: Buffer.alloc(7000, i) })),
    { op: 'delete', guid: PROBE_GUID, name: 'BootlabChurn' },
  ])
  t.ok(churn.reclaimed, 'the store was reclaimed by bootlab before the boot')
  const patched = editVariables(Buffer.concat([churn.image, stock.subarray(nv)]), [
    ...settingsEdits({ ram_limit_3gb: false, system_table: 'devicetree', boot_timeout: 3, vars: { [`${PROBE_GUID}:BootlabProbe`]: 'deadbeef' } }),
    { op: 'delete', guid: GLOBAL, name: 'PK' },
  ])
  t.ok(patched.changed)
  const before = readVariableStore(patched.image)
  const vars = join(work, 'vars.fd')
  writeFileSync(vars, patched.image)

  const argv = ['-M', 'virt', '-cpu', 'cortex-a57', '-m', '1024', '-smp', '1', '-accel', 'tcg', '-nodefaults', '-nic', 'none',
    '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${CODE}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    '-kernel', image.kernel, '-initrd', initrd, '-append', 'console=ttyAMA0 panic=-1 quiet loglevel=3']
  const child = spawn('qemu-system-aarch64', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = child.pid
  t.teardown(() => { if (pid && child.exitCode === null && child.signalCode === null) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } } })
  let console = ''
  child.stdout.on('data', (d: Buffer) => { console += d.toString('latin1') })
  child.stderr.on('data', (d: Buffer) => { console += d.toString('latin1') })
  const timedOut = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { if (pid) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } } resolve(true) }, GUEST_TIMEOUT_MS)
    child.on('exit', () => { clearTimeout(timer); resolve(false) })
  })
  t.notOk(timedOut, 'the guest finished before the timeout')
  t.match(console, new RegExp(`${MARK} done`), 'the guest ran its init')
  if (timedOut || !console.includes(`${MARK} done`)) t.comment(`console (tail):\n${console.slice(-4000)}`)
  t.notMatch(console, new RegExp(`${MARK} (efivarfs mount failed|insmod)`), 'efivarfs mounted')

  const seen = new Map<string, string>()
  for (const m of console.matchAll(new RegExp(`${MARK} var (\\S+) ([0-9a-f]*)`, 'g'))) seen.set(m[1]!, m[2]!)
  t.ok(seen.size > 5, `${seen.size} variables listed by the guest`)
  // efivarfs file: UINT32 attributes, then the data
  t.equal(seen.get(`RamLimitTo3GB-${PFTF_CONFIG_GUID}`), '07000000' + '00000000', 'RamLimitTo3GB = 0, NV|BS|RT')
  t.equal(seen.get(`SystemTableMode-${PFTF_CONFIG_GUID}`), '07000000' + '02000000', 'SystemTableMode = 2 (devicetree)')
  t.equal(seen.get(`Timeout-${GLOBAL}`), '07000000' + '0300', 'Timeout replaced: 3 s (the firmware kept it)')
  t.equal(seen.get(`BootlabProbe-${PROBE_GUID}`), '07000000' + 'deadbeef', 'the expert variable')
  t.notOk(seen.has(`PK-${GLOBAL}`), 'PK deleted')
  t.equal(seen.get(`SecureBoot-${GLOBAL}`)?.slice(8), '00', 'so Secure Boot is off')
  for (const [guid, name] of [[GLOBAL, 'KEK'], [IMAGE_SECURITY_DB, 'db'], [IMAGE_SECURITY_DB, 'dbx']] as const) {
    const r = findVariable(before, guid, name)!
    t.equal(seen.get(`${name}-${guid}`), Buffer.concat([Buffer.from([r.attributes, 0, 0, 0]), r.data]).toString('hex'), `${name} reached the OS intact`)
  }

  // the firmware wrote to the store during boot (boot options, …): bootlab still reads it
  const after = readVariableStore(readFileSync(vars))
  t.equal(findVariable(after, PFTF_CONFIG_GUID, 'SystemTableMode')?.data.toString('hex'), '02000000', 'bootlab reads the store EDK2 wrote back')
  t.equal(findVariable(after, PROBE_GUID, 'BootlabProbe')?.data.toString('hex'), 'deadbeef')
})
