// A real iPXE (QEMU's virtio NIC ROM under SeaBIOS, TCG) boots through bootlab's HTTP side: script,
// kernel, initrd, then a busybox initramfs reads its cloud-init seed and phones home.
// Networking is QEMU user mode with restrict=on: the guest reaches nothing but bootlab, through a
// guestfwd to 127.0.0.1 (loopback only; no host interface is touched).
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, profile } from '../http/fixtures/harness.js'
import { labConfig } from '../http/fixtures/lab-config.js'

const QEMU = '/usr/bin/qemu-system-x86_64'
const BUSYBOX = '/bin/busybox'
const ARCHIVES = '/var/cache/apt/archives'
const MAC = '52:54:00:12:34:56'
const MODULES = ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net']

/** A linux-image-*-amd64 .deb: from apt's cache, else downloaded once into a test cache (Debian's archive). */
function kernelDeb(): string | undefined {
  const look = (dir: string): string | undefined => {
    if (!existsSync(dir)) return undefined
    const deb = readdirSync(dir).find((f) => /^linux-image-[0-9].*-amd64_.*\.deb$/.test(f))
    return deb ? join(dir, deb) : undefined
  }
  const cache = join(process.env.BOOTLAB_LAB_CACHE ?? '/var/tmp/bootlab-lab-cache', 'debs-qemu-ipxe')
  const found = look(ARCHIVES) ?? look(cache)
  if (found) return found
  try {
    mkdirSync(cache, { recursive: true })
    const pkg = /Depends: (linux-image-\S+)/.exec(execFileSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' }))?.[1]
    if (!pkg) return undefined
    execFileSync('apt-get', ['download', pkg], { cwd: cache, stdio: 'ignore', timeout: 120_000 })
  } catch {
    return undefined
  }
  return look(cache)
}

const missing = [QEMU, BUSYBOX].filter((f) => !existsSync(f))
const deb = missing.length === 0 ? kernelDeb() : undefined
const skip = missing.length > 0 ? `missing ${missing.join(', ')}` : deb === undefined ? 'no linux-image-*-amd64 .deb could be found or downloaded' : false

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
for m in ${MODULES.join(' ')}; do insmod /lib/modules/$m.ko || echo "GUEST: insmod $m failed"; done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
seed=$(sed -n 's/.*ds=nocloud-net;s=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
echo "GUEST: seed $seed"
timeout 30 wget -q -O /tmp/meta-data "\${seed}meta-data" || echo "GUEST: meta-data failed"
timeout 30 wget -q -O /tmp/user-data "\${seed}user-data" || echo "GUEST: user-data failed"
iid=$(sed -n 's/^instance-id: *//p' /tmp/meta-data)
echo "GUEST: instance-id $iid"
timeout 30 wget -q -O - --post-data "instance_id=$iid&hostname=guest" "\${seed}phone-home" && echo "GUEST: phoned home"
poweroff -f
`

t.test('QEMU iPXE → bootlab script → kernel + initrd → seed → phone-home', { skip, timeout: 240_000 }, async (t) => {
  const h = await startHarness({
    config: (d) => {
      const c = labConfig(d)
      const work = join(d.images, 'tiny')
      mkdirSync(join(work, 'x'), { recursive: true })
      // kernel and the virtio-net modules from Debian's package
      const ver = /linux-image-([^_]+)_/.exec(deb as string)![1]!
      execFileSync('sh', ['-c', `dpkg-deb --fsys-tarfile "$0" | tar -x -C "$1" --wildcards './boot/vmlinuz-*' '*/virtio*.ko' '*/failover.ko' '*/net_failover.ko'`, deb as string, join(work, 'x')])
      const vmlinuz = readdirSync(join(work, 'x', 'boot')).find((f) => f.startsWith('vmlinuz-'))!
      copyFileSync(join(work, 'x', 'boot', vmlinuz), join(work, 'vmlinuz'))
      // initramfs: busybox + init + modules
      const root = join(work, 'root')
      for (const dir of ['bin', 'proc', 'sys', 'dev', 'tmp', 'lib/modules']) mkdirSync(join(root, dir), { recursive: true })
      copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'))
      writeFileSync(join(root, 'init'), INIT)
      chmodSync(join(root, 'init'), 0o755)
      const found = execFileSync('find', [join(work, 'x', 'lib', 'modules'), '-name', '*.ko'], { encoding: 'utf8' }).trim().split('\n')
      for (const m of MODULES) {
        const f = found.find((p) => p.endsWith(`/${m}.ko`))
        if (!f) throw new Error(`module ${m} not in ${ver}`)
        copyFileSync(f, join(root, 'lib', 'modules', `${m}.ko`))
      }
      execFileSync('sh', ['-c', 'cd "$0" && find . | cpio -o -H newc --quiet | gzip -1 > "$1"', root, join(work, 'initrd.gz')])
      c.profiles.tiny = profile({
        kernel: 'tiny/vmlinuz',
        initrd: ['tiny/initrd.gz'],
        cmdline: 'console=ttyS0 panic=-1 quiet ds=nocloud-net;s={{ cloud_init_url }}',
        then: 'local',
      })
      c.machines['pc-01'] = { ...c.machines['pc-01']!, arch: 'bios', profile: 'tiny' }
      return c
    },
  })
  t.teardown(() => h.close())
  const port = new URL(h.baseUrl).port
  h.advertised = 'http://10.0.2.100:8080'
  t.equal(h.lifecycle.get('pc-01')!.state, 'assigned')

  const bootfile = 'http://10.0.2.100:8080/boot.ipxe?mac=${mac}&arch=${buildarch}&platform=${platform}'
  const netdev = [
    'user', 'id=n0', 'restrict=on', 'net=10.0.2.0/24',
    `bootfile=${bootfile}`,
    `guestfwd=tcp:10.0.2.100:8080-cmd:${BUSYBOX} nc 127.0.0.1 ${port}`,
  ].map((s) => s.replace(/,/g, ',,')).join(',')
  const args = [
    // QEMU's own virtio NIC ROM is iPXE (Debian's ipxe-qemu); -nodefaults would keep SeaBIOS from running it
    '-accel', 'tcg', '-m', '512', '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-parallel', 'none',
    '-no-reboot', '-boot', 'n',
    '-netdev', netdev, '-device', `virtio-net-pci,netdev=n0,mac=${MAC}`,
  ]
  const qemu = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL') })
  let console = ''
  qemu.stdout.on('data', (d: Buffer) => { console += d.toString() })
  qemu.stderr.on('data', (d: Buffer) => { console += d.toString() })
  const started = Date.now()
  const exited = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 200_000)
    qemu.once('exit', () => { clearTimeout(timer); resolve(true) })
  })
  const secs = ((Date.now() - started) / 1000).toFixed(1)
  t.ok(exited, `guest powered off (${secs} s)`)
  t.match(console, /GUEST: phoned home/, 'guest phoned home')
  if (!/GUEST: phoned home/.test(console)) t.comment(console.slice(-3000))
  const m = h.lifecycle.get('pc-01')!
  t.equal(m.state, 'deployed')
  const steps = h.lifecycle.events({ machine: 'pc-01', limit: 200 }).reverse()
    .map((e) => (e.type === 'state' ? `state:${String(e.data.to)}` : e.type))
    .filter((s, i, a) => s !== a[i - 1])
  t.same(steps, ['assigned', 'http.script', 'state:netbooting', 'http.kernel', 'http.initrd', 'http.cloud-init', 'state:installing', 'http.cloud-init', 'phone-home', 'deployed'])
  const script = h.lifecycle.events({ machine: 'pc-01', limit: 200 }).find((e) => e.type === 'http.script')
  t.ok(script, 'iPXE fetched its script by MAC (iPXE expanded ${mac} in the DHCP boot file name)')
  const next = await (await fetch(`${h.baseUrl}/boot.ipxe?mac=${MAC}&arch=x86_64&platform=pcbios`)).text()
  t.equal(next, `#!ipxe\n# bootlab: pc-01 (${MAC}) profile local\nsanboot --no-describe --drive 0x80 || exit 1\n`)
  t.comment(`boot to phone-home under TCG: ${secs} s`)
})
