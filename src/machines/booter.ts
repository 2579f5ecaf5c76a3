// The booter: the one answer to "what does this machine boot" (DESIGN §2; like pixiecore's Booter,
// smee's backend reader). DHCP, TFTP and HTTP ask it; none of them decides alone. It reads only the
// config and the store (never writes), so a protocol reply never waits for, or fails with, a write.
//
//   DHCP  dhcpPolicy()        answer or not (the unknown rule), which loader, fixed addresses
//         isMachine()         which DHCP clients become machines (phones and laptops do not)
//   TFTP  piFirmware()        which firmware set a Pi serial's `<serial>/…` requests are served from
//         tftpFile()          every file of a Raspberry Pi (by its `<serial>/` prefix, or by its
//                             address once it dropped the prefix): tftproot/<serial>/ → generated
//                             (PI_FILES_BY_ARCH, keyed by path) → its firmware set; grub/grub.cfg
//   HTTP  bootTarget()        which machine asks for a script and which profile it gets
//         bootProfile()       a machine's profile, after `then:` once deployed
//
// A Pi's files, first match wins (docs/pi.md): the user's own tftproot/<serial>/<file>; a file
// generated for the machine (config.txt; RPI_EFI.fd with its `uefi:` settings; a Pi 5's boot files
// from its profile); its firmware set (piFirmwareSet: firmware/rpi4-uefi/<pin or current>/, the
// legacy firmware/rpi4/, firmware/rpi5/). A Pi 5 is never handed the Pi 4 UEFI set.
import { own } from '../config/own.js'
import { readFile, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { profileKind, type Arch, type Config, type MachineConfig, type Profile } from '../boot/types.js'
import { RPI5_INITRAMFS, RPI5_KERNEL, renderRpi5Config, renderRpiConfig } from '../boot/rpi-config.js'
import { DEFAULT_FILES, defaultBootDecision, type BootDecision, type ClassifiedClient, type DhcpPolicy } from '../dhcp/index.js'
import { stripV4Mapped } from '../net/ipv4.js'
import type { DeploymentRow, MachineRow } from '../store/store.js'
import { jailedLookup, type Generated } from '../tftp/index.js'
import { describeServedUefi, rpiEfiFor, type StockFirmware } from '../uefi/index.js'
import { rpi4FirmwareSet, rpi5FirmwareSet, StockFirmwareCache, type FirmwareSet } from './pi-firmware.js'

/** The store reads the booter uses (a Store satisfies it). */
export interface StoreReader {
  machine(mac: string): MachineRow | undefined
  machineByIp(ip: string): MachineRow | undefined
  machineBySerial(serial: string): MachineRow | undefined
  currentDeployment(mac: string): DeploymentRow | undefined
}

/** Renders grub.cfg for a TFTP request (machines/boot-scripts.ts: BootScripts.tftpGrubCfg). */
export type TftpGrubCfg = (ctx: { client: { address: string }; path: string }) => Promise<string | null>

/** Renders a Pi 5's cmdline.txt with a fresh cloud-init token (machines/boot-scripts.ts: BootScripts.piCmdline). */
export type PiCmdline = (q: { mac: string; ip: string }) => Promise<string | null>

/** A served file worth a line on the machine's timeline (which UEFI settings went out). */
export interface PiServed { mac: string; file: string; note: string }

export interface BooterDeps {
  getConfig: () => Config
  /** the store once open; undefined before (lookups then use the config only) */
  store: () => StoreReader | undefined
  /** grub/grub.cfg over TFTP; set once the boot scripts exist */
  grubCfg?: () => TftpGrubCfg | undefined
  /** a Pi 5's cmdline.txt; set once the boot scripts exist */
  piCmdline?: () => PiCmdline | undefined
  /** recorded through the lifecycle's queue (never a store write on the TFTP path) */
  onPiServed?: (e: PiServed) => void
  /** a store read failed (counted as a store error; the booter answers from the config) */
  onStoreError?: (err: unknown) => void
}

/** What a protocol knows of a client. */
export interface ClientQuery {
  mac?: string | undefined
  ip?: string | undefined
  /** Raspberry Pi serial (TFTP prefix, option 97) */
  serial?: string | undefined
}

/** What a boot request (HTTP script, grub.cfg) resolves to. Read-only: recording is the lifecycle's job. */
export type BootTarget =
  | { kind: 'known'; mac: string; machine: MachineConfig; profileName: string | undefined; ip: string | undefined; serial: string | undefined }
  | { kind: 'discovered'; mac: string; machine: MachineConfig; profileName: string; ip: string | undefined; serial: string | undefined }
  | { kind: 'ignored' }

/** A TFTP request as the resolver describes it (src/tftp RequestContext). */
export interface TftpFileRequest {
  client: { address: string }
  serial: string | null
  path: string
}

/** Where a Pi serial's files come from (src/tftp PiPrefixTarget). */
export interface PiFirmware {
  firmwareDir: string
  machine?: string | undefined
}

/** A Raspberry Pi a TFTP request comes from. */
export interface PiTarget {
  /** its serial (the prefix, the configured one, or the one DHCP option 97 told); undefined if never seen */
  serial: string | undefined
  /** undefined for an unknown Pi under `unknown: discover` */
  machine: MachineConfig | undefined
  /** configured, or learnt by the store */
  mac: string | undefined
  arch: 'rpi4' | 'rpi5'
}

/** What a generated per-Pi file is computed from. */
export interface PiContext {
  serial: string
  /** undefined for an unknown Pi under `unknown: discover` */
  machine: MachineConfig | undefined
  mac: string | undefined
  /** the firmware set this Pi is served from */
  firmware: FirmwareSet
  config: Config
  /** the client's address */
  ip: string
  /** a Pi 5's kernel boot from its profile; undefined when it has none (then nothing is served) */
  boot: Rpi5Boot | undefined
  /** the stock RPI_EFI.fd of the firmware set (null: absent) */
  stockEfi: () => Promise<StockFirmware | null>
  /** a Pi 5's cmdline.txt for this boot (a fresh cloud-init token) */
  cmdline: () => Promise<string | null>
  served: (file: string, note: string) => void
}

/** A Pi 5 booting its profile's kernel: files under images/. */
export interface Rpi5Boot { profileName: string; kernel: string; initrd: string | undefined }

export type PiFile = (pi: PiContext) => Generated | Promise<Generated>

/** a firmware set's config.txt larger than this is not read */
const MAX_CONFIG_TXT = 64 * 1024

async function readSmall(path: string): Promise<string | null> {
  try {
    const st = await stat(path)
    if (!st.isFile() || st.size > MAX_CONFIG_TXT) return null
    return await readFile(path, 'utf8')
  } catch {
    return null
  }
}

/** Generated files of a Pi 4 running the pftf UEFI firmware, keyed by path under `<serial>/` (or the root). */
export const PI4_FILES: Readonly<Record<string, PiFile>> = {
  'config.txt': async (pi) => {
    const extra = pi.machine?.vars.rpi_config
    const base = await readSmall(join(pi.firmware.dir, 'config.txt'))
    return renderRpiConfig({ machine: pi.machine?.name ?? null, serial: pi.serial, base, version: pi.firmware.version, ...(extra ? { extra } : {}) })
  },
  // with `uefi:` the machine's own image; without, null: the firmware set's file byte for byte. If it
  // cannot be generated nothing is served (not the stock file: the Pi would boot with settings it
  // was not meant to have); the TFTP server logs the reason.
  'RPI_EFI.fd': async (pi) => {
    const settings = pi.machine?.uefi
    if (!pi.machine || !settings) return null
    const why = (e: unknown): string => (e instanceof Error ? e.message : String(e))
    const stock = await pi.stockEfi().catch((e: unknown) => { throw new Error(`machine ${pi.machine!.name}: RPI_EFI.fd not served: ${why(e)}`) })
    if (!stock) throw new Error(`machine ${pi.machine.name}: RPI_EFI.fd not served: no RPI_EFI.fd in ${pi.firmware.dir} to write its uefi: settings into`)
    let bytes: Buffer
    try {
      bytes = rpiEfiFor(stock, settings)
    } catch (e) {
      throw new Error(`machine ${pi.machine.name}: RPI_EFI.fd with its uefi: settings could not be generated, nothing served: ${why(e)}`)
    }
    pi.served('RPI_EFI.fd', describeServedUefi(settings))
    return bytes
  },
}

/**
 * Generated files of a Pi 5 (no UEFI firmware with network boot: its EEPROM loads the kernel
 * itself), from the machine's profile; device trees and overlays come from firmware/rpi5/.
 */
export const PI5_FILES: Readonly<Record<string, PiFile>> = {
  'config.txt': (pi) => pi.boot
    ? renderRpi5Config({ machine: pi.machine?.name ?? 'unknown', serial: pi.serial, initramfs: pi.boot.initrd !== undefined, ...(pi.machine?.vars.rpi_config ? { extra: pi.machine.vars.rpi_config } : {}) })
    : null,
  'cmdline.txt': async (pi) => (pi.boot ? await pi.cmdline() : null),
  [RPI5_KERNEL]: (pi) => (pi.boot ? { root: pi.config.server.paths.images, path: pi.boot.kernel } : null),
  [RPI5_INITRAMFS]: (pi) => (pi.boot?.initrd !== undefined ? { root: pi.config.server.paths.images, path: pi.boot.initrd } : null),
}

/** Per Pi arch, its generated files. */
export const PI_FILES_BY_ARCH: Readonly<Record<PiTarget['arch'], Readonly<Record<string, PiFile>>>> = {
  rpi4: PI4_FILES,
  rpi5: PI5_FILES,
}

const isPiArch = (a: string | null | undefined): a is PiTarget['arch'] => a === 'rpi4' || a === 'rpi5'
const isUrl = (p: string): boolean => /^https?:\/\//i.test(p)

/**
 * The warning `check` and `serve` print when arm64 UEFI clients (a Pi 4 once its UEFI firmware
 * runs) cannot boot in proxy mode: without firmware/ipxe/snp-arm64.efi they are handed GRUB, whose
 * network stack ignores proxyDHCP offers (it takes its address and boot server from the one offer
 * it accepts, the router's), or nothing at all. Null when there is nothing to say.
 */
export function arm64LoaderWarning(cfg: { server: { dhcp: { mode: string }; paths: { firmware: string } }; machines: Record<string, { arch: string }> }): string | null {
  const fw = cfg.server.paths.firmware
  if (cfg.server.dhcp.mode !== 'proxy' || existsSync(join(fw, DEFAULT_FILES.arm64Ipxe))) return null
  const grub = arm64LoaderIn(fw) === 'grub'
  if (!grub && !Object.values(cfg.machines).some((m) => m.arch === 'rpi4' || m.arch === 'arm64')) return null
  const what = grub ? `get GRUB (${DEFAULT_FILES.arm64Grub}), which ignores proxyDHCP offers and does not boot` : 'get no loader'
  return `dhcp.mode is proxy and firmware/${DEFAULT_FILES.arm64Ipxe} is missing: arm64 UEFI clients (a Raspberry Pi 4 after its UEFI firmware) ${what}; run \`bootlab fetch ipxe\`, or use dhcp.mode: full`
}

/** What `check` and `serve` warn about in the boot setup: the arm64 loader in proxy mode, pinned firmware versions that are not there. */
export function bootWarnings(cfg: Parameters<typeof arm64LoaderWarning>[0]): string[] {
  // missing files (a pinned firmware version, loaders, images) are src/assets' missingAssets()
  const loader = arm64LoaderWarning(cfg)
  return loader ? [loader] : []
}

/** arm64 UEFI loader, from what firmware/ holds: iPXE when there, else GRUB's network image when that is there. */
export function arm64LoaderIn(firmware: string): 'ipxe' | 'grub' {
  return !existsSync(join(firmware, DEFAULT_FILES.arm64Ipxe)) && existsSync(join(firmware, DEFAULT_FILES.arm64Grub)) ? 'grub' : 'ipxe'
}

/**
 * A configured machine whose field equals the value. A scan, not an index: a homelab has tens of
 * machines, and the config object may change in place (tests, API edits) without a new identity.
 */
function findMachine(cfg: Config, field: 'mac' | 'serial' | 'ip', value: string): MachineConfig | undefined {
  for (const m of Object.values(cfg.machines)) if (m[field] === value) return m
  return undefined
}

export interface DhcpPolicyOptions {
  /** address clients fetch from (TFTP and HTTP) */
  serverAddress: string
  /** the port the HTTP server listens on (fixed at start, like the address) */
  httpPort: number
}

export class Booter {
  constructor(private readonly deps: BooterDeps) {}

  // ---- who is it --------------------------------------------------------------------------------

  /** A configured machine by MAC, serial or reserved address (config only, no I/O). */
  configured(q: ClientQuery): MachineConfig | undefined {
    const cfg = this.deps.getConfig()
    return (q.mac ? findMachine(cfg, 'mac', q.mac) : undefined) ?? (q.serial ? findMachine(cfg, 'serial', q.serial) : undefined) ?? (q.ip ? findMachine(cfg, 'ip', q.ip) : undefined)
  }

  /**
   * The MAC of whoever this is: given, or the configured machine (config facts first), or what the
   * store learnt (the address DHCP handed out, the serial seen in option 97).
   */
  macOf(q: ClientQuery): string | undefined {
    if (q.mac) return q.mac
    const cfg = this.deps.getConfig()
    const configured = (q.serial ? findMachine(cfg, 'serial', q.serial) : undefined) ?? (q.ip ? findMachine(cfg, 'ip', q.ip) : undefined)
    if (configured) return configured.mac
    const row = (q.ip ? this.read((s) => s.machineByIp(q.ip!)) : undefined) ?? (q.serial ? this.read((s) => s.machineBySerial(q.serial!)) : undefined)
    return row?.mac
  }

  /** The store row of whoever this is, if recorded. */
  row(q: ClientQuery): MachineRow | undefined {
    const mac = this.macOf(q)
    return mac ? this.read((s) => s.machine(mac)) : undefined
  }

  /** The unknown rule (`server.unknown`), decided here only: is a client bootlab does not know recorded? */
  recordsUnknown(): boolean {
    return this.deps.getConfig().server.unknown === 'discover'
  }

  /**
   * Is a client bootlab does not know answered (booted)? Under `discover`, only when the discovery
   * profile exists: without it unknown machines are recorded and not booted (`check` says so).
   */
  answersUnknown(): boolean {
    const cfg = this.deps.getConfig()
    return this.recordsUnknown() && own(cfg.profiles, cfg.server.unknown_profile) !== undefined
  }

  /** Known machines are always answered; unknown ones under `unknown: discover`. */
  answers(q: ClientQuery): boolean {
    return this.configured(q) !== undefined || this.answersUnknown()
  }

  /** Which DHCP clients become machines: netboot clients (per the unknown rule) and configured MACs. */
  isMachine(client: { mac: string; class: string }): boolean {
    if (this.configured({ mac: client.mac })) return true
    return client.class !== 'plain' && client.class !== 'pxe-other' && this.recordsUnknown()
  }

  // ---- DHCP -------------------------------------------------------------------------------------

  /**
   * Known machines are always answered (a Pi needs its firmware over TFTP even to boot its own
   * disk; the boot script then says "local"). Unknown machines only with `unknown: discover`. The
   * arm64 loader is iPXE when `firmware/ipxe/snp-arm64.efi` is there, else GRUB's network image
   * when that is there (Debian ships no arm64 iPXE).
   */
  dhcpPolicy(o: DhcpPolicyOptions): DhcpPolicy {
    return {
      bootFor: (client: ClassifiedClient): BootDecision | null => {
        if (!this.answers({ mac: client.mac })) return null
        return defaultBootDecision(client, { serverAddress: o.serverAddress, httpPort: o.httpPort, arm64Loader: this.arm64Loader() })
      },
      reservationFor: (mac: string): string | null => this.configured({ mac })?.ip ?? null,
      isReserved: (ip: string): boolean => findMachine(this.deps.getConfig(), 'ip', ip) !== undefined,
      isKnown: (mac: string): boolean => this.configured({ mac }) !== undefined,
    }
  }

  private loaderChecked = 0
  private arm64: 'ipxe' | 'grub' = 'ipxe'

  /** arm64 UEFI loader, from what firmware/ holds (checked at most every 5 s: bootFor must stay cheap) */
  arm64Loader(): 'ipxe' | 'grub' {
    const now = Date.now()
    if (now - this.loaderChecked > 5_000) {
      this.loaderChecked = now
      this.arm64 = arm64LoaderIn(this.deps.getConfig().server.paths.firmware)
    }
    return this.arm64
  }

  // ---- TFTP -------------------------------------------------------------------------------------

  private readonly stock = new StockFirmwareCache()

  /**
   * Which Raspberry Pi a TFTP request comes from: by its `<serial>/` prefix, or — once it dropped
   * the prefix — by the client's address (config `ip:`, else what the store learnt from DHCP and
   * earlier requests). A machine configured by MAC only is found through the serial the store
   * learnt from its DHCP option 97. Null: not a Pi bootlab serves (unknown under `ignore`, or not a Pi).
   */
  piTarget(q: { serial?: string | undefined; ip?: string | undefined }): PiTarget | null {
    const cfg = this.deps.getConfig()
    let mc: MachineConfig | undefined
    let row: MachineRow | undefined
    if (q.serial) {
      mc = findMachine(cfg, 'serial', q.serial)
      if (!mc) {
        row = this.read((s) => s.machineBySerial(q.serial!))
        const byMac = row ? findMachine(cfg, 'mac', row.mac) : undefined
        // a machine with a configured serial is only ever that serial
        mc = byMac && byMac.serial === undefined ? byMac : undefined
        if (byMac && !mc) row = undefined
      }
    } else if (q.ip) {
      mc = findMachine(cfg, 'ip', q.ip)
      row = mc ? this.read((s) => s.machine(mc!.mac)) : this.read((s) => s.machineByIp(q.ip!))
      if (!mc && row) {
        mc = findMachine(cfg, 'mac', row.mac)
        // the store's address of a machine configured with another one is stale
        if (mc?.ip !== undefined && mc.ip !== q.ip) return null
      }
    } else {
      return null
    }
    if (mc) {
      if (!isPiArch(mc.arch)) return null
      return { serial: q.serial ?? mc.serial ?? row?.serial ?? undefined, machine: mc, mac: mc.mac, arch: mc.arch }
    }
    if (!this.answersUnknown()) return null
    // by address, only a client the store knows as a Pi
    if (!q.serial && !(row && (isPiArch(row.arch) || row.serial))) return null
    return { serial: q.serial ?? row?.serial ?? undefined, machine: undefined, mac: row?.mac, arch: row?.arch === 'rpi5' ? 'rpi5' : 'rpi4' }
  }

  /** The firmware set a Pi is served from (a Pi 4's `firmware:` pin, else rpi4-uefi/current, else the legacy firmware/rpi4/). */
  piFirmwareSet(pi: Pick<PiTarget, 'machine' | 'arch'>): FirmwareSet {
    const fw = this.deps.getConfig().server.paths.firmware
    return pi.arch === 'rpi5' ? rpi5FirmwareSet(fw) : rpi4FirmwareSet(fw, pi.machine?.firmware)
  }

  /** The TFTP resolver's Pi prefix hook: a Pi 4's firmware set, or null (unknown under `ignore`, a Pi 5). */
  piFirmware(serial: string): PiFirmware | null {
    const pi = this.piTarget({ serial })
    if (!pi || pi.arch === 'rpi5') return null
    return { firmwareDir: this.piFirmwareSet(pi).dir, ...(pi.machine ? { machine: pi.machine.name } : {}) }
  }

  /** A Pi 5's kernel boot: its profile (after `then:`), when that is a kernel under images/. */
  rpi5Boot(pi: PiTarget): Rpi5Boot | undefined {
    const cfg = this.deps.getConfig()
    const name = pi.machine ? this.bootProfile(pi.machine) : this.unknownProfile() ?? undefined
    const p: Profile | undefined = name ? own(cfg.profiles, name) : undefined
    if (!name || !p || profileKind(p) !== 'kernel' || !pi.mac) return undefined
    if (isUrl(p.kernel!) || p.initrd.some(isUrl)) return undefined // TFTP serves files, not URLs
    return { profileName: name, kernel: p.kernel!, initrd: p.initrd[0] }
  }

  /** The TFTP resolver's generated-file hook: a Pi's files (see the top of this file), grub/grub.cfg; null passes on. */
  async tftpFile(ctx: TftpFileRequest): Promise<Generated> {
    const ip = stripV4Mapped(ctx.client.address)
    if (!ctx.serial && ctx.path.startsWith('grub/grub.cfg')) {
      const grub = this.deps.grubCfg?.()
      return grub ? await grub({ client: ctx.client, path: ctx.path }) : null
    }
    const pi = this.piTarget(ctx.serial ? { serial: ctx.serial } : { ip })
    return pi ? await this.piFile(pi, ctx.path, ip) : null
  }

  /** One file of a Pi: tftproot/<serial>/ → generated → its firmware set. */
  async piFile(pi: PiTarget, path: string, ip: string): Promise<Generated> {
    const cfg = this.deps.getConfig()
    if (pi.serial) {
      const own = `${pi.serial}/${path}`
      if (await jailedLookup(cfg.server.paths.tftproot, own)) return { root: cfg.server.paths.tftproot, path: own }
    }
    const firmware = this.piFirmwareSet(pi)
    const boot = pi.arch === 'rpi5' ? this.rpi5Boot(pi) : undefined
    // a Pi 5 without a kernel profile gets nothing, so it moves on to its next boot mode
    if (pi.arch === 'rpi5' && !boot) return null
    const files = PI_FILES_BY_ARCH[pi.arch]
    const gen = Object.hasOwn(files, path) ? files[path] : undefined
    if (gen) {
      const g = await gen({
        serial: pi.serial ?? 'unknown',
        machine: pi.machine,
        mac: pi.mac,
        firmware,
        config: cfg,
        ip,
        boot,
        stockEfi: () => this.stock.get(join(firmware.dir, 'RPI_EFI.fd')),
        cmdline: async () => (pi.mac ? (await this.deps.piCmdline?.()?.({ mac: pi.mac, ip })) ?? null : null),
        served: (file, note) => { if (pi.mac) this.deps.onPiServed?.({ mac: pi.mac, file, note }) },
      })
      if (g !== null) return g
    }
    return (await jailedLookup(firmware.dir, path)) ? { root: firmware.dir, path } : null
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  /** Who is asking for a boot script, and which profile it gets. Reads only: the lifecycle records it. */
  bootTarget(q: { mac?: string | undefined; ip?: string | undefined; arch?: Arch | undefined }): BootTarget {
    const cfg = this.deps.getConfig()
    const mac = q.mac ?? (q.ip ? this.read((s) => s.machineByIp(q.ip!))?.mac : undefined)
    if (!mac) return { kind: 'ignored' }
    const row = this.read((s) => s.machine(mac))
    const mc = this.configured({ mac })
    if (mc) {
      return { kind: 'known', mac, machine: mc, profileName: this.bootProfile(mc), ip: q.ip ?? row?.ip ?? mc.ip, serial: mc.serial ?? row?.serial ?? undefined }
    }
    if (!this.answersUnknown()) return { kind: 'ignored' }
    const machine: MachineConfig = {
      name: `unknown-${mac.replace(/:/g, '')}`,
      mac,
      serial: row?.serial ?? undefined,
      arch: q.arch ?? (row?.arch as Arch | null | undefined) ?? 'x86_64',
      ip: q.ip ?? row?.ip ?? undefined,
      cycle_on_assign: false,
      vars: {},
    }
    return { kind: 'discovered', mac, machine, profileName: cfg.server.unknown_profile, ip: machine.ip, serial: machine.serial }
  }

  /** The profile a configured machine boots next: its `profile:`, or the profile's `then:` once deployed. */
  bootProfile(mc: MachineConfig): string | undefined {
    if (!mc.profile) return undefined
    const p = own(this.deps.getConfig().profiles, mc.profile)
    if (!p?.then) return mc.profile
    const dep = this.read((s) => s.currentDeployment(mc.mac))
    if (dep && dep.profile === mc.profile && dep.state === 'done') return p.then
    return mc.profile
  }

  /** The profile an unconfigured machine boots (the discovery profile), or null when it is ignored. */
  unknownProfile(): string | null {
    return this.answersUnknown() ? this.deps.getConfig().server.unknown_profile : null
  }

  private read<T>(fn: (s: StoreReader) => T | undefined): T | undefined {
    const s = this.deps.store()
    if (!s) return undefined
    try {
      return fn(s)
    } catch (err) {
      this.deps.onStoreError?.(err)
      return undefined
    }
  }
}
