// The booter: the one answer to "what does this machine boot" (DESIGN §2; like pixiecore's Booter,
// smee's backend reader). DHCP, TFTP and HTTP ask it; none of them decides alone. It reads only the
// config and the store (never writes), so a protocol reply never waits for, or fails with, a write.
//
//   DHCP  dhcpPolicy()        answer or not (the unknown rule), which loader, fixed addresses
//         isMachine()         which DHCP clients become machines (phones and laptops do not)
//   TFTP  piFirmware()        which firmware set a Pi serial's `<serial>/…` requests are served from
//         tftpFile()          generated files: per-Pi files (PI_FILES, keyed by path), grub/grub.cfg
//   HTTP  bootTarget()        which machine asks for a script and which profile it gets
//         bootProfile()       a machine's profile, after `then:` once deployed
//
// Extension points, each a local change here: a Raspberry Pi 5 (arch rpi5) gets its own row in
// PI_FILES_BY_ARCH (config.txt, cmdline.txt … generated from the profile); a per-Pi firmware
// folder or a `firmware:` pin changes piFirmwareDirs(); a per-machine RPI_EFI.fd is one more
// PI_FILES entry.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Arch, Config, MachineConfig } from '../boot/types.js'
import { renderRpiConfig } from '../boot/rpi-config.js'
import { DEFAULT_FILES, defaultBootDecision, type BootDecision, type ClassifiedClient, type DhcpPolicy } from '../dhcp/index.js'
import type { DeploymentRow, MachineRow } from '../store/store.js'

/** The store reads the booter uses (a Store satisfies it). */
export interface StoreReader {
  machine(mac: string): MachineRow | undefined
  machineByIp(ip: string): MachineRow | undefined
  machineBySerial(serial: string): MachineRow | undefined
  currentDeployment(mac: string): DeploymentRow | undefined
}

/** Renders grub.cfg for a TFTP request (machines/boot-scripts.ts: BootScripts.tftpGrubCfg). */
export type TftpGrubCfg = (ctx: { client: { address: string }; path: string }) => Promise<string | null>

export interface BooterDeps {
  getConfig: () => Config
  /** the store once open; undefined before (lookups then use the config only) */
  store: () => StoreReader | undefined
  /** grub/grub.cfg over TFTP; set once the boot scripts exist */
  grubCfg?: () => TftpGrubCfg | undefined
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

/** What a generated per-Pi file is computed from. */
export interface PiContext {
  serial: string
  /** undefined for an unknown Pi under `unknown: discover` */
  machine: MachineConfig | undefined
  /** the firmware set this Pi is served from */
  firmwareDir: string
  config: Config
}

export type PiFile = (pi: PiContext) => string | Buffer | null

/** Generated files of a Pi 4 running the pftf UEFI firmware, keyed by path under `<serial>/`. */
export const PI4_FILES: Readonly<Record<string, PiFile>> = {
  'config.txt': (pi) => {
    let base: string | null = null
    try { base = readFileSync(join(pi.firmwareDir, 'config.txt'), 'utf8') } catch { /* pftf defaults */ }
    const extra = pi.machine?.vars.rpi_config
    return renderRpiConfig({ machine: pi.machine?.name ?? null, serial: pi.serial, base, ...(extra ? { extra } : {}) })
  },
}

/** Per Pi arch, its generated files (rpi5 joins here with its native boot files). */
export const PI_FILES_BY_ARCH: Readonly<Partial<Record<Arch, Readonly<Record<string, PiFile>>>>> = {
  rpi4: PI4_FILES,
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
   * The MAC of whoever this is: given, or the configured machine, or what the store learnt (the
   * address DHCP handed out, the serial seen in option 97).
   */
  macOf(q: ClientQuery): string | undefined {
    if (q.mac) return q.mac
    const cfg = this.deps.getConfig()
    const bySerial = q.serial ? findMachine(cfg, 'serial', q.serial) : undefined
    if (bySerial) return bySerial.mac
    const row = (q.ip ? this.read((s) => s.machineByIp(q.ip!)) : undefined) ?? (q.serial ? this.read((s) => s.machineBySerial(q.serial!)) : undefined)
    return row?.mac ?? (q.ip ? findMachine(cfg, 'ip', q.ip)?.mac : undefined)
  }

  /** The store row of whoever this is, if recorded. */
  row(q: ClientQuery): MachineRow | undefined {
    const mac = this.macOf(q)
    return mac ? this.read((s) => s.machine(mac)) : undefined
  }

  /** The unknown rule (`server.unknown`), decided here only: is a client bootlab does not know answered? */
  answersUnknown(): boolean {
    return this.deps.getConfig().server.unknown === 'discover'
  }

  /** Known machines are always answered; unknown ones under `unknown: discover`. */
  answers(q: ClientQuery): boolean {
    return this.configured(q) !== undefined || this.answersUnknown()
  }

  /** Which DHCP clients become machines: netboot clients (per the unknown rule) and configured MACs. */
  isMachine(client: { mac: string; class: string }): boolean {
    if (this.configured({ mac: client.mac })) return true
    return client.class !== 'plain' && client.class !== 'pxe-other' && this.answersUnknown()
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
    }
  }

  private loaderChecked = 0
  private arm64: 'ipxe' | 'grub' = 'ipxe'

  /** arm64 UEFI loader, from what firmware/ holds (checked at most every 5 s: bootFor must stay cheap) */
  arm64Loader(): 'ipxe' | 'grub' {
    const now = Date.now()
    if (now - this.loaderChecked > 5_000) {
      this.loaderChecked = now
      const fw = this.deps.getConfig().server.paths.firmware
      this.arm64 = !existsSync(join(fw, DEFAULT_FILES.arm64Ipxe)) && existsSync(join(fw, DEFAULT_FILES.arm64Grub)) ? 'grub' : 'ipxe'
    }
    return this.arm64
  }

  // ---- TFTP -------------------------------------------------------------------------------------

  /** The firmware folders a Pi's `<serial>/…` requests are served from, first match wins. */
  piFirmwareDirs(machine: MachineConfig | undefined): string[] {
    // later: tftproot/<serial>/ first, and `firmware: v1.38` picks firmware/rpi4/v1.38
    void machine
    return [join(this.deps.getConfig().server.paths.firmware, 'rpi4')]
  }

  /** The TFTP resolver's Pi prefix hook: the serial's firmware set, or null (unknown under `ignore`). */
  piFirmware(serial: string): PiFirmware | null {
    const machine = this.configured({ serial })
    if (!machine && !this.answersUnknown()) return null
    return { firmwareDir: this.piFirmwareDirs(machine)[0]!, ...(machine ? { machine: machine.name } : {}) }
  }

  /** The generated files of a Pi, keyed by path (its arch's table; rpi4 for unknown Pis). */
  piFiles(machine: MachineConfig | undefined): Readonly<Record<string, PiFile>> {
    return PI_FILES_BY_ARCH[machine?.arch ?? 'rpi4'] ?? PI4_FILES
  }

  /** The TFTP resolver's generated-file hook: per-Pi files under `<serial>/`, grub/grub.cfg; null passes on. */
  async tftpFile(ctx: TftpFileRequest): Promise<string | Buffer | null> {
    if (ctx.serial) {
      const machine = this.configured({ serial: ctx.serial })
      if (!machine && !this.answersUnknown()) return null
      const gen = Object.hasOwn(this.piFiles(machine), ctx.path) ? this.piFiles(machine)[ctx.path] : undefined
      if (gen) return gen({ serial: ctx.serial, machine, firmwareDir: this.piFirmwareDirs(machine)[0]!, config: this.deps.getConfig() })
    }
    if (ctx.path.startsWith('grub/grub.cfg')) {
      const grub = this.deps.grubCfg?.()
      return grub ? await grub({ client: ctx.client, path: ctx.path }) : null
    }
    return null
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
    const p = this.deps.getConfig().profiles[mc.profile]
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
