// The servers under the boot storm, each in the lab's server namespace: bootlab (`bootlab serve`,
// full DHCP, one machine per Pi) and the reference, dnsmasq (DHCP + TFTP) with nginx (HTTP),
// configured to serve the same files the same way. Plus the synthesized files both serve.
import { mkdir, symlink, writeFile, readFile, rm } from 'node:fs/promises'
import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { stringify } from 'yaml'
import type { ChildProcess } from 'node:child_process'
import type { Lab } from '../../src/lab/netns.js'
import { bootlabArgv } from '../../src/lab/bootlab-server.js'
import { renderRpiConfig } from '../../src/boot/rpi-config.js'

export const HTTP_PORT = 8080

/** kernel and initrd bytes; firmwareScale shrinks the firmware files (CI only; the bench uses real sizes) */
export interface Sizes { kernel: number; initrd: number; firmwareScale?: number }
/** real sizes of the pftf set (start4.elf ~2.2 MB, RPI_EFI.fd ~2 MB …); kernel/initrd chosen per run */
export const FIRMWARE_SIZES: Record<string, number> = {
  'start4.elf': 2_230_000,
  'fixup4.dat': 5_400,
  'bcm2711-rpi-4-b.dtb': 50_000,
  'overlays/miniuart-bt.dtbo': 1_500,
  'overlays/upstream-pi4.dtbo': 3_000,
  'RPI_EFI.fd': 2_097_152,
}
export const LOADER = 'snp-arm64.efi'
export const LOADER_SIZE = 1_000_000
/** pftf's config.txt, the base of what bootlab generates per Pi */
const PFTF_CONFIG = 'arm_64bit=1\narm_boost=1\nenable_uart=1\nuart_2ndstage=1\nenable_gic=1\narmstub=RPI_EFI.fd\ndisable_commandline_tags=1\ndisable_overscan=1\ndevice_tree_address=0x3e0000\ndevice_tree_end=0x400000\ndtoverlay=miniuart-bt\ndtoverlay=upstream-pi4\n'

export interface Pi { name: string; mac: string; serial: string; configSha: string; config: string }

export interface StormFiles {
  dir: string
  firmware: string
  images: string
  /** path → sha256 (firmware names, the loader's basename, HTTP paths) */
  manifest: Record<string, string>
  pis: Pi[]
  sizes: Sizes
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

export function piIdentity(i: number): { name: string; mac: string; serial: string } {
  const h = (n: number): string => n.toString(16).padStart(2, '0')
  return { name: `pi-${String(i).padStart(3, '0')}`, mac: `dc:a6:32:5a:${h((i >> 8) & 0xff)}:${h(i & 0xff)}`, serial: `5a${(0x100000 + i).toString(16).slice(-6)}` }
}

/** writes the firmware set, the loader and the images; one Pi identity per index */
export async function makeFiles(dir: string, n: number, sizes: Sizes): Promise<StormFiles> {
  const firmware = join(dir, 'firmware')
  const images = join(dir, 'images')
  await mkdir(join(firmware, 'rpi4', 'overlays'), { recursive: true })
  await mkdir(join(firmware, 'ipxe'), { recursive: true })
  await mkdir(join(images, 'storm'), { recursive: true })
  const manifest: Record<string, string> = {}
  for (const [name, size] of Object.entries(FIRMWARE_SIZES)) {
    const b = randomBytes(Math.max(1, Math.round(size * (sizes.firmwareScale ?? 1))))
    await writeFile(join(firmware, 'rpi4', name), b, { mode: 0o644 })
    manifest[name] = sha(b)
  }
  await writeFile(join(firmware, 'rpi4', 'config.txt'), PFTF_CONFIG, { mode: 0o644 })
  const loader = randomBytes(Math.round(LOADER_SIZE * (sizes.firmwareScale ?? 1)))
  await writeFile(join(firmware, 'ipxe', LOADER), loader, { mode: 0o644 })
  manifest[LOADER] = sha(loader)
  for (const [name, size] of [['vmlinuz', sizes.kernel], ['initrd', sizes.initrd]] as const) {
    const b = randomBytes(size)
    await writeFile(join(images, 'storm', name), b, { mode: 0o644 })
    manifest[`/files/images/storm/${name}`] = sha(b)
  }
  const pis: Pi[] = []
  for (let i = 0; i < n; i++) {
    const id = piIdentity(i)
    // what bootlab generates for this Pi (src/machines/booter.ts PI4_FILES); dnsmasq gets the same file
    const config = renderRpiConfig({ machine: id.name, serial: id.serial, base: PFTF_CONFIG })
    pis.push({ ...id, config, configSha: sha(config) })
  }
  return { dir, firmware, images, manifest, pis, sizes }
}

export interface ServerHandle {
  name: string
  /** PIDs whose RSS/CPU count as the server's */
  pids(): number[]
  stop(): Promise<void>
  child: ChildProcess
}

export interface BootlabOptions {
  stateDir: string
  configFile: string
  pool: { start: string; end: string }
  address: string
  iface: string
}

export function bootlabConfig(f: StormFiles, o: BootlabOptions): string {
  const machines: Record<string, unknown> = {}
  for (const p of f.pis) machines[p.name] = { mac: p.mac, serial: p.serial, arch: 'rpi4', profile: 'storm' }
  return stringify({
    server: {
      interface: o.iface,
      advertise: o.address,
      // the fault checks read /api/machines and /api/events with plain curl inside the lab's namespaces
      http: { port: HTTP_PORT, public_read: true },
      tftp: { port: 69 },
      dhcp: { mode: 'full', pool: `${o.pool.start}-${o.pool.end}`, router: o.address, lease: '1h' },
      unknown: 'ignore',
      state_dir: o.stateDir,
      paths: { images: f.images, firmware: f.firmware, tftproot: join(f.dir, 'tftproot') },
    },
    profiles: { storm: { kernel: 'storm/vmlinuz', initrd: ['storm/initrd'], cmdline: 'console=ttyAMA0 ip=dhcp' } },
    machines,
  })
}

async function stopChild(c: ChildProcess, ms = 6000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const exited = new Promise<void>((r) => c.once('exit', () => r()))
  c.kill('SIGTERM')
  const t = setTimeout(() => c.kill('SIGKILL'), ms)
  await exited
  clearTimeout(t)
}

/** `bootlab serve` in `host`; resolves at "bootlab running". The log is kept (last lines). */
export async function startBootlab(lab: Lab, host: string, f: StormFiles, o: BootlabOptions): Promise<ServerHandle & { log: () => string }> {
  await mkdir(join(f.dir, 'tftproot'), { recursive: true })
  await mkdir(o.stateDir, { recursive: true })
  await writeFile(o.configFile, bootlabConfig(f, o))
  const child = lab.spawn(host, [...bootlabArgv(), 'serve', '--config', o.configFile, '--interface', o.iface, '--log-level', 'warn'])
  let log = ''
  const ready = new Promise<void>((resolve, reject) => {
    for (const s of [child.stdout!, child.stderr!]) {
      createInterface({ input: s }).on('line', (l) => {
        log = (log + l + '\n').slice(-20_000)
        if (/bootlab running/.test(l)) resolve()
      })
    }
    child.once('exit', (code) => reject(new Error(`bootlab serve exited (${code}) during start:\n${log}`)))
  })
  // warn level hides the "running" line: poll /healthz from the host's namespace as well
  const healthy = (async () => {
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) return
      const r = await lab.exec(host, ['curl', '-sf', '--max-time', '2', `http://${o.address}:${HTTP_PORT}/healthz`], { timeoutMs: 5000 })
      if (r.code === 0) return
      await new Promise((res) => setTimeout(res, 200))
    }
  })()
  await Promise.race([ready, healthy.then(async () => { if (child.exitCode !== null) await ready })])
  return { name: 'bootlab', child, pids: () => [child.pid!], stop: () => stopChild(child), log: () => log }
}

/** an nginx.conf in `dir` (its pid, log and temp files there too) serving `www` on `listen`; returns its path */
export async function writeNginxConfig(dir: string, www: string, listen: string, workers: number): Promise<string> {
  const conf = join(dir, 'nginx.conf')
  await writeFile(conf, `daemon off;\nmaster_process on;\nworker_processes ${workers};\npid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'nginx-error.log')} warn;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  sendfile on;\n  client_body_temp_path ${dir}/nginx-tmp;\n  proxy_temp_path ${dir}/nginx-tmp;\n  fastcgi_temp_path ${dir}/nginx-tmp;\n  uwsgi_temp_path ${dir}/nginx-tmp;\n  scgi_temp_path ${dir}/nginx-tmp;\n  types { text/plain ipxe; }\n  default_type application/octet-stream;\n  server { listen ${listen}; root ${www}; }\n}\n`)
  await mkdir(join(dir, 'nginx-tmp'), { recursive: true })
  return conf
}

/** dnsmasq (DHCP + TFTP) and nginx (HTTP), serving the same files as bootlab */
export async function startReference(lab: Lab, host: string, f: StormFiles, o: BootlabOptions): Promise<ServerHandle> {
  const root = join(f.dir, 'dnsmasq-root')
  await rm(root, { recursive: true, force: true })
  await mkdir(join(root, 'ipxe'), { recursive: true })
  await symlink(join(f.firmware, 'ipxe', LOADER), join(root, 'ipxe', LOADER))
  // the Pi asks for <serial>/…: one folder per Pi with its config.txt and links to the shared set
  for (const p of f.pis) {
    const d = join(root, p.serial)
    await mkdir(join(d, 'overlays'), { recursive: true })
    await writeFile(join(d, 'config.txt'), p.config, { mode: 0o644 })
    for (const name of Object.keys(FIRMWARE_SIZES)) await symlink(join(f.firmware, 'rpi4', name), join(d, name))
  }
  const www = join(f.dir, 'www')
  await mkdir(join(www, 'files'), { recursive: true })
  await rm(join(www, 'files', 'images'), { force: true })
  await symlink(f.images, join(www, 'files', 'images'))
  const base = `http://${o.address}:${HTTP_PORT}`
  await writeFile(join(www, 'boot.ipxe'), `#!ipxe\nkernel ${base}/files/images/storm/vmlinuz initrd=initrd0 console=ttyAMA0 ip=dhcp || goto failed\ninitrd --name initrd0 ${base}/files/images/storm/initrd || goto failed\nboot\n:failed\nshell\n`, { mode: 0o644 })
  const nginxConf = await writeNginxConfig(f.dir, www, `${o.address}:${HTTP_PORT}`, 2)
  const nginx = lab.spawn(host, ['nginx', '-c', nginxConf, '-g', 'user root;'])
  const dnsmasq = lab.spawn(host, ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', `--interface=${o.iface}`, '--bind-interfaces',
    '--no-ping', `--dhcp-range=${o.pool.start},${o.pool.end},255.255.255.0,1h`, `--dhcp-leasefile=${join(f.dir, 'dnsmasq.leases')}`,
    '--dhcp-authoritative', `--dhcp-option=option:router,${o.address}`,
    '--enable-tftp', `--tftp-root=${root}`, '--tftp-max=1000', '--quiet-dhcp', '--quiet-tftp', '--log-facility=-',
    '--user=root', '--group=root', `--pid-file=${join(f.dir, 'dnsmasq.pid')}`,
    // the Pi (arch 0, option 43 menu), the pftf UEFI PXE (arch 11 → the loader), iPXE (→ the script)
    '--pxe-service=0,Raspberry Pi Boot', '--dhcp-match=set:efi-arm64,option:client-arch,11', '--dhcp-userclass=set:ipxe,iPXE',
    `--dhcp-boot=tag:efi-arm64,tag:!ipxe,ipxe/${LOADER},,${o.address}`, `--dhcp-boot=tag:ipxe,${base}/boot.ipxe`])
  let err = ''
  dnsmasq.stderr!.on('data', (d) => { err = (err + String(d)).slice(-4000) })
  nginx.stderr!.on('data', (d) => { err = (err + String(d)).slice(-4000) })
  for (let i = 0; ; i++) {
    const udp = await lab.exec(host, ['ss', '-ulnH', 'sport = :69'])
    const tcp = await lab.exec(host, ['ss', '-tlnH', `sport = :${HTTP_PORT}`])
    if (udp.stdout.trim() && tcp.stdout.trim()) break
    if (i > 100 || dnsmasq.exitCode !== null || nginx.exitCode !== null) throw new Error(`reference servers did not start: ${err}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  const children = async (pid: number): Promise<number[]> => {
    const t = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
    return t.trim().split(/\s+/).filter(Boolean).map(Number)
  }
  let nginxWorkers: number[] = await children(nginx.pid!)
  return {
    name: 'dnsmasq + nginx',
    child: dnsmasq,
    pids: () => {
      void children(nginx.pid!).then((w) => { if (w.length) nginxWorkers = w })
      return [dnsmasq.pid!, nginx.pid!, ...nginxWorkers]
    },
    async stop() { await Promise.all([stopChild(dnsmasq), stopChild(nginx)]) },
  }
}
