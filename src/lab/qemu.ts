// QEMU guests for the lab: x86 BIOS (SeaBIOS + QEMU's iPXE NIC ROM), x86-64 UEFI (OVMF, its own
// PXE), arm64 UEFI (AAVMF, its own PXE). The guest runs inside the lab namespace on a tap device;
// its serial console is written to a file and parsed for milestones. KVM is used only where it
// can work; otherwise (and if a KVM start fails) TCG.
import { EventEmitter } from 'node:events'
import { accessSync, constants, copyFileSync, createWriteStream, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { LabNetwork } from './network.js'
import type { GuestKind } from './server.js'
import type { GuestArch } from './artefacts.js'
import { GUEST_MARK } from './guest-init.js'
import { DISK_GRUB_MARK } from './disk.js'

export const GUEST_ARCH: Record<GuestKind, GuestArch> = { bios: 'x86_64', 'uefi-x64': 'x86_64', 'uefi-arm64': 'arm64', 'uefi-arm64-ipxe': 'arm64' }
/** console= for the guest kernel */
export const GUEST_CONSOLE: Record<GuestKind, string> = { bios: 'ttyS0', 'uefi-x64': 'ttyS0', 'uefi-arm64': 'ttyAMA0', 'uefi-arm64-ipxe': 'ttyAMA0' }

export const FIRMWARE = {
  ovmfCode: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  ovmfVars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  aavmfCode: '/usr/share/AAVMF/AAVMF_CODE.fd',
  aavmfVars: '/usr/share/AAVMF/AAVMF_VARS.fd',
  ipxeEfiX64: '/usr/lib/ipxe/ipxe.efi',
}

export type MilestoneName =
  | 'firmware-dhcp' | 'loader' | 'loader-dhcp' | 'boot-script' | 'kernel' | 'init' | 'guest-dhcp' | 'phone-home' | 'phone-home-failed' | 'poweroff'
  | 'disk-loader' | 'disk-boot' | 'installed' | 'install-failed'

/** Console patterns, first match wins per milestone. */
const PATTERNS: Record<GuestKind, [MilestoneName, RegExp][]> = {
  bios: [
    ['loader', /iPXE \(http:\/\/ipxe\.org\)/],
    ['firmware-dhcp', /net0: \d+\.\d+\.\d+\.\d+\//],
    ['boot-script', /\[script\]/],
  ],
  'uefi-x64': [
    ['firmware-dhcp', /Station IP address is/],
    ['loader', /iPXE initialising devices/],
    ['loader-dhcp', /net0: \d+\.\d+\.\d+\.\d+\//],
    ['boot-script', /\[script\]/],
  ],
  'uefi-arm64': [
    ['firmware-dhcp', /Station IP address is/],
    ['loader', /Welcome to GRUB/],
  ],
  'uefi-arm64-ipxe': [
    ['firmware-dhcp', /Station IP address is/],
    ['loader', /iPXE initialising devices|iPXE \d/],
    ['loader-dhcp', /net0: \d+\.\d+\.\d+\.\d+\//],
    ['boot-script', /\[script\]/],
  ],
}
const COMMON: [MilestoneName, RegExp][] = [
  ['disk-loader', new RegExp(DISK_GRUB_MARK)],
  ['kernel', /Linux version \d/],
  ['disk-boot', new RegExp(`${GUEST_MARK} booted from disk`)],
  ['installed', new RegExp(`${GUEST_MARK} installed `)],
  ['install-failed', new RegExp(`${GUEST_MARK} install failed`)],
  ['init', new RegExp(`${GUEST_MARK} init `)],
  ['guest-dhcp', new RegExp(`${GUEST_MARK} address `)],
  ['phone-home', new RegExp(`${GUEST_MARK} phone-home ok`)],
  ['phone-home-failed', new RegExp(`${GUEST_MARK} (phone-home failed|dhcp failed)`)],
  ['poweroff', new RegExp(`${GUEST_MARK} poweroff`)],
]

export interface Milestone {
  name: MilestoneName
  /** milliseconds since QEMU was started */
  atMs: number
  line: string
}

export interface GuestExit {
  code: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  accel: 'kvm' | 'tcg'
  /** KVM failed (QEMU reported a KVM error or ended before any console milestone): a TCG launch follows */
  retryingWithTcg: boolean
}

export interface GuestOptions {
  kind: GuestKind
  net: LabNetwork
  tap: string
  mac: string
  /** scratch directory for the console log and UEFI variable store */
  workDir: string
  /** QEMU is killed after this long (default 150 s) */
  timeoutMs?: number
  /**
   * auto (default; env BOOTLAB_LAB_ACCEL): KVM only when the host can run it for this guest;
   * kvm: try KVM regardless. Either way a failing KVM start is retried under TCG. tcg: TCG only.
   */
  accel?: 'auto' | 'kvm' | 'tcg'
  memoryMb?: number
  /** a raw disk image attached as virtio-blk, second in the boot order after the NIC */
  disk?: string
}

/** KVM for this guest: same architecture, /dev/kvm usable, and the CPU advertises virtualisation. */
export function kvmUsable(kind: GuestKind): boolean {
  const hostArch = process.arch === 'x64' ? 'x86_64' : process.arch
  if (GUEST_ARCH[kind] !== hostArch) return false
  try { accessSync('/dev/kvm', constants.R_OK | constants.W_OK) } catch { return false }
  if (hostArch !== 'x86_64') return true
  try { return /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')) } catch { return false }
}

export function qemuArgv(o: GuestOptions, accel: 'kvm' | 'tcg', flash: Flash): string[] {
  const disk = o.disk ? ['-drive', `file=${o.disk},format=raw,if=none,id=d0,cache=unsafe`, '-device', 'virtio-blk-pci,drive=d0,bootindex=2'] : []
  const net = ['-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`, ...disk]
  // a guest with a disk is a machine: a reset (kernel panic, reboot) boots it again, as hardware
  // would; the one-shot guests stop at a reset instead
  const common = ['-display', 'none', '-monitor', 'none', '-serial', 'stdio', ...(o.disk ? [] : ['-no-reboot']), '-nodefaults', '-accel', accel, '-smp', '1']
  switch (o.kind) {
    case 'bios':
      // SeaBIOS's serial console (sercon) carries its own and the iPXE ROM's text output to ttyS0
      return ['qemu-system-x86_64', ...common, '-machine', 'pc', '-m', String(o.memoryMb ?? 512), ...net,
        '-fw_cfg', `name=etc/sercon-port,file=${flash.sercon}`,
        '-device', `virtio-net-pci,netdev=n0,mac=${o.mac},bootindex=1`]
    case 'uefi-x64':
      return ['qemu-system-x86_64', ...common, '-machine', 'q35', '-m', String(o.memoryMb ?? 512),
        // with a disk to fall through to: no IPv6 PXE attempt (and its timeout) between iPXE's `exit 1` and the disk
        ...(o.disk ? ['-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n'] : []),
        '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${flash.code}`,
        '-drive', `if=pflash,format=raw,unit=1,file=${flash.vars}`, ...net,
        // romfile= (empty): no iPXE option ROM, so OVMF's own PXE client boots
        '-device', `virtio-net-pci,netdev=n0,mac=${o.mac},romfile=,bootindex=1`]
    case 'uefi-arm64':
    case 'uefi-arm64-ipxe':
      return ['qemu-system-aarch64', ...common, '-machine', 'virt', '-cpu', accel === 'kvm' ? 'host' : 'cortex-a57', '-m', String(o.memoryMb ?? 768),
        '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${flash.code}`,
        '-drive', `if=pflash,format=raw,unit=1,file=${flash.vars}`, ...net,
        '-device', `virtio-net-pci,netdev=n0,mac=${o.mac},romfile=,bootindex=1`]
  }
}

const PFLASH_ARM64 = 64 * 1024 * 1024

export interface Flash { code: string; vars: string; sercon: string }

/** UEFI variable store (a fresh copy per launch) and, for arm64, the code image padded to 64 MiB. */
function prepareFlash(o: GuestOptions): Flash {
  const vars = join(o.workDir, `${o.kind}-vars.fd`)
  if (o.kind === 'uefi-x64') {
    copyFileSync(FIRMWARE.ovmfVars, vars)
    return { code: FIRMWARE.ovmfCode, vars, sercon: '' }
  }
  if (GUEST_ARCH[o.kind] === 'arm64') {
    const code = join(o.workDir, `${o.kind}-code.fd`)
    copyFileSync(FIRMWARE.aavmfCode, code)
    copyFileSync(FIRMWARE.aavmfVars, vars)
    for (const f of [code, vars]) if (statSync(f).size < PFLASH_ARM64) truncateSync(f, PFLASH_ARM64)
    return { code, vars, sercon: '' }
  }
  // SeaBIOS reads etc/sercon-port as a little-endian integer: the first UART, 0x3f8
  const sercon = join(o.workDir, 'sercon-port')
  writeFileSync(sercon, Buffer.from([0xf8, 0x03]))
  return { code: '', vars: '', sercon }
}

export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][A-Z0-9]/g, '')
}

export interface GuestEvents {
  milestone: [Milestone]
  line: [string]
  exit: [GuestExit]
}

/** One QEMU guest run. */
export class Guest extends EventEmitter<GuestEvents> {
  readonly consoleFile: string
  readonly milestones: Milestone[] = []
  readonly done: Promise<GuestExit>
  private child: ChildProcess | null = null
  private startedAt = 0
  private stopped = false
  accel: 'kvm' | 'tcg' = 'tcg'

  constructor(private readonly o: GuestOptions) {
    super()
    this.consoleFile = join(o.workDir, `${o.kind}-console.log`)
    this.done = this.run()
    this.done.catch(() => { /* surfaced to whoever awaits done / waitFor */ })
  }

  private async run(): Promise<GuestExit> {
    const want = this.o.accel ?? (process.env.BOOTLAB_LAB_ACCEL as GuestOptions['accel'] | undefined) ?? 'auto'
    const kvm = want === 'kvm' || (want === 'auto' && kvmUsable(this.o.kind))
    if (kvm) {
      const r = await this.launch('kvm')
      if (!r.retryingWithTcg) return r
      this.milestones.length = 0
    }
    return await this.launch('tcg')
  }

  private launch(accel: 'kvm' | 'tcg'): Promise<GuestExit> {
    this.accel = accel
    const argv = qemuArgv(this.o, accel, prepareFlash(this.o))
    const out = createWriteStream(this.consoleFile, { flags: 'a' })
    out.write(`# ${argv.join(' ')}\n`)
    this.startedAt = Date.now()
    const child = this.o.net.spawn(this.o.net.ns, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    const seen = new Set<MilestoneName>(this.milestones.map((m) => m.name))
    const patterns = [...PATTERNS[this.o.kind], ...COMMON]
    let partial = ''
    const onData = (d: Buffer): void => {
      out.write(d)
      // escapes can straddle chunks: strip them from whole lines only
      const raw = (partial + d.toString('latin1')).split(/\r?\n|\r/)
      partial = raw.pop() ?? ''
      if (partial.length > 4096) { raw.push(partial); partial = '' }
      for (const line of raw.map(stripAnsi)) {
        if (line.trim() === '') continue
        this.emit('line', line)
        for (const [name, re] of patterns) {
          if (seen.has(name) || !re.test(line)) continue
          seen.add(name)
          const m: Milestone = { name, atMs: Date.now() - this.startedAt, line: line.trim() }
          this.milestones.push(m)
          this.emit('milestone', m)
        }
      }
    }
    child.stdout!.on('data', onData)
    // /dev/kvm can exist on a CPU without virtualisation (nested, emulated): the guest then stops
    // with a KVM error while QEMU keeps running
    let kvmError = false
    child.stderr!.on('data', (d: Buffer) => {
      out.write(d)
      if (accel === 'kvm' && !kvmError && /KVM internal error|emulation failure|kvm run failed|failed to initialize kvm|Could not access KVM/i.test(d.toString())) {
        kvmError = true
        child.kill('SIGKILL')
      }
    })
    return new Promise((resolve, reject) => {
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        child.kill('SIGTERM')
        setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }, 3000).unref()
      }, this.o.timeoutMs ?? 150_000)
      child.once('error', (err) => { clearTimeout(timer); out.end(); reject(err) })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        out.write(`\n# qemu exited: code ${code} signal ${signal}${timedOut ? ' (timeout)' : ''}\n`)
        const failedEarly = code !== 0 && this.milestones.length === 0
        const retryingWithTcg = accel === 'kvm' && !this.stopped && !timedOut && (kvmError || failedEarly)
        if (retryingWithTcg) out.write('# KVM failed: retrying under TCG\n')
        const r: GuestExit = { code, signal, timedOut, accel, retryingWithTcg }
        out.end()
        this.emit('exit', r)
        resolve(r)
      })
    })
  }

  /** Resolves at the milestone; rejects when the guest ends or the time runs out first. */
  async waitFor(name: MilestoneName, timeoutMs: number): Promise<Milestone> {
    const found = this.milestones.find((m) => m.name === name)
    if (found) return found
    return await new Promise((resolve, reject) => {
      const cleanup = (): void => { clearTimeout(timer); this.off('milestone', onM); this.off('exit', onExit) }
      const onM = (m: Milestone): void => { if (m.name === name) { cleanup(); resolve(m) } }
      const onExit = (e: GuestExit): void => {
        // a KVM attempt that failed is followed by a TCG launch: keep waiting
        if (e.retryingWithTcg) return
        cleanup()
        reject(new Error(`guest ended before ${name} (code ${e.code}, signal ${e.signal}${e.timedOut ? ', timed out' : ''}); console: ${this.consoleFile}`))
      }
      const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${name} within ${timeoutMs} ms; console: ${this.consoleFile}`)) }, timeoutMs)
      this.on('milestone', onM)
      this.on('exit', onExit)
    })
  }

  /** Stops QEMU (by PID) if it still runs. */
  async stop(): Promise<void> {
    this.stopped = true
    const c = this.child
    if (c && c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM')
      const t = setTimeout(() => c.kill('SIGKILL'), 3000)
      await this.done.catch(() => undefined)
      clearTimeout(t)
    }
  }

  /** The console so far (for failure messages). */
  consoleTail(lines = 40): string {
    if (!existsSync(this.consoleFile)) return ''
    return stripAnsi(readFileSync(this.consoleFile, 'latin1')).split(/\r?\n|\r/).filter((l) => l.trim()).slice(-lines).join('\n')
  }
}

const QEMU_BINARY: Record<GuestKind, string> = { bios: 'qemu-system-x86_64', 'uefi-x64': 'qemu-system-x86_64', 'uefi-arm64': 'qemu-system-aarch64', 'uefi-arm64-ipxe': 'qemu-system-aarch64' }

/** What is missing on this machine to run a guest of this kind (empty: nothing). */
export function missingPrerequisites(kind: GuestKind): string[] {
  const missing: string[] = []
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('root (network namespaces, tap devices)')
  const onPath = (bin: string): boolean => (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => existsSync(join(d, bin)))
  for (const bin of [QEMU_BINARY[kind], 'ip', 'dpkg-deb', 'apt-get']) if (!onPath(bin)) missing.push(bin)
  const files = kind === 'uefi-x64' ? [FIRMWARE.ovmfCode, FIRMWARE.ovmfVars, FIRMWARE.ipxeEfiX64]
    : GUEST_ARCH[kind] === 'arm64' ? [FIRMWARE.aavmfCode, FIRMWARE.aavmfVars] : ['/usr/lib/ipxe/qemu/efi-virtio.rom']
  for (const f of files) if (!existsSync(f)) missing.push(f)
  return missing
}

export function startGuest(o: GuestOptions): Guest {
  return new Guest(o)
}
