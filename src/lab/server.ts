// The server under test: whatever answers the lab guests' DHCP, TFTP and HTTP requests. The lab
// describes the guests and the files they need; the server decides how it hands them out, and
// reports each phone-home it receives. Implementations: dnsmasq + a small Node HTTP server (the
// reference, src/lab/dnsmasq-server.ts) and, once merged, bootlab itself.
import type { EventEmitter } from 'node:events'
import type { Logger } from '../log.js'
import type { GuestArch, GrubArm64 } from './artefacts.js'
import type { LabNetwork, ServerAttachment } from './network.js'

/** uefi-arm64: AAVMF → GRUB's network image; uefi-arm64-ipxe: AAVMF → iPXE (Debian trixie's ipxe-arm64.efi) */
export type GuestKind = 'bios' | 'uefi-x64' | 'uefi-arm64' | 'uefi-arm64-ipxe'

export interface LabGuest {
  /** short name, [a-z0-9-] */
  name: string
  mac: string
  kind: GuestKind
  arch: GuestArch
  /** kernel and initrd files on this machine */
  kernel: string
  initrd: string
  /**
   * what the lab needs on the kernel command line (console=…); the server appends
   * `bootlab.phone_home=<url>` with a URL it will receive a POST on
   */
  cmdline: string
}

export interface LabLoaders {
  /** x86-64 UEFI iPXE, handed to firmware that PXE-boots with option 93 = 7 or 9 */
  ipxeEfiX64: string
  /** GRUB's arm64 network image and its module directory (arch 11); absent when no arm64 guest */
  grubArm64?: GrubArm64
  /** arm64 iPXE (served as ipxe/snp-arm64.efi: bootlab then hands it to every arm64 UEFI client) */
  ipxeArm64?: string
}

export interface LabServerContext {
  net: LabNetwork
  /** the server's namespace, interface and address on the lab bridge */
  at: ServerAttachment
  /** addresses the server may lease (full DHCP mode: nothing else on the lab segment hands out addresses) */
  pool: { start: string; end: string }
  guests: LabGuest[]
  loaders: LabLoaders
  /** a scratch directory of this run for configs, roots, state; removed by the caller */
  workDir: string
  log?: Logger
}

export interface PhoneHome {
  /** the guest it came from, when the server can tell */
  guest: string | null
  /** client address */
  from: string
  path: string
  body: string
  /** Date.now() when it arrived */
  at: number
}

export interface LabServerEvents {
  'phone-home': [PhoneHome]
  /** one line of the server's own output, for diagnostics */
  log: [string]
}

export interface LabServer extends EventEmitter<LabServerEvents> {
  readonly name: string
  /** starts serving inside ctx.at.ns (processes via ctx.net.spawn, so cleanup can kill them); resolves when ready */
  start(ctx: LabServerContext): Promise<void>
  /** stops everything start() started; safe to call twice */
  stop(): Promise<void>
}
