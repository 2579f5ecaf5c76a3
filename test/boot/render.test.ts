import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Renderer, grubEscapeWord, type BootContext } from '../../src/boot/render.js'
import type { Profile } from '../../src/boot/types.js'

const r = new Renderer()
const base = 'http://10.9.0.1:8080'
const TOKEN = '0123456789abcdef0123456789abcdef'

function ctx(profile: Profile, extra: Partial<BootContext> = {}, machine: Partial<BootContext['machine']> = {}): BootContext {
  return {
    profileName: 'p1',
    profile,
    machine: { name: 'pi-03', mac: 'dc:a6:32:00:00:03', serial: '1a2b3c03', arch: 'rpi4', vars: { role: 'worker' }, ...machine },
    baseUrl: base,
    token: TOKEN,
    instanceId: 'pi-03-7',
    ...extra,
  }
}

const kernelProfile: Profile = {
  kernel: 'ubuntu/arm64/linux',
  initrd: ['ubuntu/arm64/initrd', 'extra/firmware.cpio'],
  cmdline: 'ip=dhcp url={{ images }}/ubuntu/live.iso\n  autoinstall ds=nocloud-net;s={{ cloud_init_url }} role={{ vars.role }}',
}

t.test('kernel profile → iPXE', async (t) => {
  t.equal(await r.ipxe(ctx(kernelProfile)), [
    '#!ipxe',
    '# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1',
    `kernel ${base}/files/images/ubuntu/arm64/linux initrd=initrd0 initrd=initrd1 ip=dhcp url=${base}/files/images/ubuntu/live.iso autoinstall ds=nocloud-net;s=${base}/cloud-init/${TOKEN}/ role=worker || goto failed`,
    `initrd --name initrd0 ${base}/files/images/ubuntu/arm64/initrd || goto failed`,
    `initrd --name initrd1 ${base}/files/images/extra/firmware.cpio || goto failed`,
    'boot || goto failed',
    ':failed',
    'echo bootlab: boot failed, retrying in 30 seconds',
    'sleep 30',
    'reboot',
    '',
  ].join('\n'))
})

t.test('kernel profile → grub.cfg (semicolon escaped, http device with port)', async (t) => {
  t.equal(await r.grub(ctx(kernelProfile)), [
    '# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1',
    'set timeout=0',
    'set default=0',
    'insmod http',
    "menuentry 'bootlab: p1' {",
    `  linux (http,10.9.0.1:8080)/files/images/ubuntu/arm64/linux ip=dhcp url=${base}/files/images/ubuntu/live.iso autoinstall ds=nocloud-net\\;s=${base}/cloud-init/${TOKEN}/ role=worker`,
    '  initrd (http,10.9.0.1:8080)/files/images/ubuntu/arm64/initrd (http,10.9.0.1:8080)/files/images/extra/firmware.cpio',
    '}',
    '',
  ].join('\n'))
})

t.test('kernel from an http URL, no initrd, no cmdline', async (t) => {
  const p: Profile = { kernel: 'http://mirror.example/vmlinuz', initrd: [] }
  t.equal(await r.ipxe(ctx(p)), '#!ipxe\n# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\nkernel http://mirror.example/vmlinuz || goto failed\nboot || goto failed\n:failed\necho bootlab: boot failed, retrying in 30 seconds\nsleep 30\nreboot\n')
  t.equal(await r.grub(ctx(p)), "# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\nset timeout=0\nset default=0\ninsmod http\nmenuentry 'bootlab: p1' {\n  linux (http,mirror.example)/vmlinuz\n}\n")
  await t.rejects(r.grub(ctx({ kernel: 'https://mirror.example/vmlinuz', initrd: [] })), /GRUB can only fetch http/)
})

t.test('boot: local per arch and override', async (t) => {
  const local: Profile = { boot: 'local', initrd: [] }
  const head = '#!ipxe\n# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\n'
  t.equal(await r.ipxe(ctx(local)), head + 'exit 1\n', 'rpi4 (pftf UEFI): exit with an error status so the boot order continues')
  t.equal(await r.ipxe(ctx(local, {}, { arch: 'arm64' })), head + 'exit 1\n')
  t.equal(await r.ipxe(ctx(local, {}, { arch: 'x86_64' })), head + 'exit 1\n')
  t.equal(await r.ipxe(ctx(local, {}, { arch: 'bios' })), head + 'sanboot --no-describe --drive 0x80 || exit 1\n')
  t.equal(await r.ipxe(ctx(local, { platform: 'pcbios' }, { arch: 'x86_64' })), head + 'sanboot --no-describe --drive 0x80 || exit 1\n', 'platform from iPXE wins')
  t.equal(await r.ipxe(ctx(local, {}, { local_boot: 'grub-chain' })), head + `chain --autofree ${base}/files/firmware/grub/grubnetaa64.efi || exit 1\n`)
  t.equal(await r.ipxe(ctx(local, {}, { arch: 'x86_64', local_boot: 'grub-chain' })), head + `chain --autofree ${base}/files/firmware/grub/grubnetx64.efi || exit 1\n`)
  t.equal(await r.ipxe(ctx(local, {}, { arch: 'bios', local_boot: 'exit' })), head + 'exit 1\n')

  const ghead = '# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\nset timeout=0\nset default=0\n'
  t.equal(await r.grub(ctx(local)), ghead + [
    "menuentry 'bootlab: p1' {",
    '  if search --no-floppy --set=root --file /EFI/BOOT/BOOTAA64.EFI; then',
    '    chainloader /EFI/BOOT/BOOTAA64.EFI',
    '    boot',
    '  fi',
    '  exit 1',
    '}',
    '',
  ].join('\n'))
  t.equal(await r.grub(ctx(local, {}, { arch: 'x86_64' })), ghead + [
    "menuentry 'bootlab: p1' {",
    '  if search --no-floppy --set=root --file /EFI/BOOT/BOOTX64.EFI; then',
    '    chainloader /EFI/BOOT/BOOTX64.EFI',
    '    boot',
    '  fi',
    '  exit 1',
    '}',
    '',
  ].join('\n'))
  t.equal(await r.grub(ctx(local, {}, { local_boot: 'exit' })), ghead + "menuentry 'bootlab: p1' {\n  exit 1\n}\n")
})

t.test('chain profile', async (t) => {
  const p: Profile = { chain: 'http://netboot.example/menu.ipxe?mac={{ mac }}', initrd: [] }
  t.equal(await r.ipxe(ctx(p)), [
    '#!ipxe',
    '# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1',
    'chain --autofree http://netboot.example/menu.ipxe?mac=dc:a6:32:00:00:03 || goto failed',
    ':failed',
    'echo bootlab: chain failed, retrying in 30 seconds',
    'sleep 30',
    'reboot',
    '',
  ].join('\n'))
  t.equal(await r.grub(ctx(p)), "# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\nset timeout=0\nset default=0\necho 'bootlab: profile p1 has no GRUB form (add grub: to it)'\nsleep 10\nexit 1\n")
})

t.test('raw iPXE and raw GRUB templates', async (t) => {
  const p: Profile = {
    ipxe: '#!ipxe\necho {{ name }} {{ serial }} {{ arch }}\nchain {{ http }}/files/images/x.ipxe',
    grub: "menuentry '{{ name }}' {\n  linux {{ kernel_url }}\n}",
    initrd: [],
  }
  t.equal(await r.ipxe(ctx(p)), `#!ipxe\n# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\necho pi-03 1a2b3c03 rpi4\nchain ${base}/files/images/x.ipxe\n`)
  t.equal(await r.grub(ctx(p)), "# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\nmenuentry 'pi-03' {\n  linux \n}\n")
  t.equal(await r.ipxe(ctx({ ipxe: 'echo no shebang', initrd: [] })), '#!ipxe\n# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\necho no shebang\n')
})

t.test('templates cannot read files, call code or use undefined variables', async (t) => {
  await t.rejects(r.ipxe(ctx({ ipxe: "{% include '/etc/passwd' %}", initrd: [] })), /profile p1 ipxe/)
  await t.rejects(r.ipxe(ctx({ ipxe: '{{ machine.constructor.name }}', initrd: [] })), /undefined variable/)
  await t.rejects(r.ipxe(ctx({ kernel: 'k', initrd: [], cmdline: 'x={{ typo }}' })), /profile p1 cmdline.*undefined variable: typo/)
  await t.rejects(r.ipxe(ctx({ ipxe: '{{ 1 | nosuchfilter }}', initrd: [] })), /undefined filter/)
  t.equal(await r.ipxe(ctx({ ipxe: 'echo {{ vars.missing | default: "d" }}', initrd: [] })), '#!ipxe\n# bootlab: pi-03 (dc:a6:32:00:00:03) profile p1\necho d\n')
})

t.test('grub word escaping', async (t) => {
  t.equal(grubEscapeWord('a=b;c$d{e}"f\'g\\h|i&j'), 'a=b\\;c\\$d\\{e\\}\\"f\\\'g\\\\h\\|i\\&j')
  t.equal(grubEscapeWord('console=ttyS0,115200'), 'console=ttyS0,115200')
})

t.test('cloud-init documents: defaults, templates, instance-id always present', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-render-'))
  const md = join(dir, 'md.yaml')
  writeFileSync(md, 'local-hostname: {{ name }}\n')
  const ud = join(dir, 'ud.yaml')
  writeFileSync(ud, '#cloud-config\nhostname: {{ hostname }}\nphone_home: {url: "{{ phone_home_url }}"}\n')
  const c = ctx({ kernel: 'k', initrd: [] })
  t.equal(await r.cloudInit(c, 'meta-data'), 'instance-id: pi-03-7\nlocal-hostname: pi-03\n')
  t.equal(await r.cloudInit(c, 'user-data'), '#cloud-config\n{}\n')
  t.equal(await r.cloudInit(c, 'vendor-data'), '')
  t.equal(await r.cloudInit(c, 'network-config'), undefined)
  const c2 = ctx({ kernel: 'k', initrd: [], cloud_init: { meta_data: md, user_data: ud, network_config: join(dir, 'missing.yaml') } })
  t.equal(await r.cloudInit(c2, 'meta-data'), 'instance-id: pi-03-7\nlocal-hostname: pi-03\n')
  t.equal(await r.cloudInit(c2, 'user-data'), `#cloud-config\nhostname: pi-03\nphone_home: {url: "${base}/cloud-init/${TOKEN}/phone-home"}\n`)
  await t.rejects(r.cloudInit(c2, 'network-config'), /cannot read .*missing\.yaml: ENOENT/)
})
