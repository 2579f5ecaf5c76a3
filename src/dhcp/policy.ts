// What bootlab hands each client: the interface the composition root implements from config (machines
// by MAC, unknown-machine policy, profile `boot: local`), and the default boot files per client class.
import type { ClassifiedClient } from './classify.js'

export interface BootDecision {
  /**
   * TFTP path (relative to the TFTP root) or http(s):// URL of what the client should load.
   * Omit for a Raspberry Pi (its bootloader fetches fixed names under its serial) or when the client
   * should get an address only.
   */
  bootFile?: string
  /** reply as UEFI HTTP boot (option 60 "HTTPClient"); bootFile must then be a URL */
  httpBoot?: boolean
  /** TFTP server (siaddr and option 66; option 54 stays the DHCP server); defaults to the DHCP server's address */
  tftpServer?: string
  /** PXE menu text for a Raspberry Pi (default "Raspberry Pi Boot"); used only for class 'rpi' */
  piMenuText?: string
}

export interface DhcpPolicy {
  /**
   * What to boot. null = do not answer this client (proxy mode), or answer with an address and no
   * boot options (full mode). Called for every DISCOVER/REQUEST/INFORM, so keep it cheap (no I/O).
   */
  bootFor(client: ClassifiedClient): BootDecision | null
  /** Full mode: the fixed address of this machine (`ip:` in config), or null. */
  reservationFor(mac: string): string | null
  /** Full mode: is this address some machine's reservation (so the pool never gives it to another)? */
  isReserved?(ip: string): boolean
  /**
   * Full mode: is this MAC a configured machine? Unknown clients share a capped part of the pool
   * and get nothing with `known_only`. Default: it has a reservation.
   */
  isKnown?(mac: string): boolean
}

export interface DefaultBootOptions {
  /** address clients are told for TFTP and HTTP */
  serverAddress: string
  httpPort: number
  /** second-stage loader for arm64 UEFI PXE: iPXE (default) or GRUB's network image */
  arm64Loader?: 'ipxe' | 'grub'
  /** x64 UEFI iPXE flavour: ipxe.efi (native drivers, default) or snponly.efi */
  x64Loader?: 'ipxe.efi' | 'snponly.efi'
}

/** Is this MAC a configured machine (DhcpPolicy.isKnown; without it, one with a reservation)? */
export function isKnownMachine(policy: DhcpPolicy, mac: string): boolean {
  return policy.isKnown?.(mac) ?? policy.reservationFor(mac) !== null
}

/** The default boot file paths, relative to the TFTP root / under `/files/firmware/` over HTTP. */
export const DEFAULT_FILES = {
  arm64Ipxe: 'ipxe/snp-arm64.efi',
  arm64Grub: 'grub/grubnetaa64.efi',
  x64Ipxe: 'ipxe/ipxe.efi',
  x64Snp: 'ipxe/snponly.efi',
  ia32Ipxe: 'ipxe/ipxe-i386.efi',
  bios: 'ipxe/undionly.kpxe',
} as const

export function httpBase(o: DefaultBootOptions): string {
  return `http://${o.serverAddress}${o.httpPort === 80 ? '' : `:${o.httpPort}`}`
}

/** iPXE expands ${…} in the file name itself, so the script URL carries the client's identity. */
export function ipxeScriptUrl(o: DefaultBootOptions): string {
  return `${httpBase(o)}/boot.ipxe?mac=\${mac}&buildarch=\${buildarch}&platform=\${platform}`
}

/**
 * DESIGN §2 defaults: Pi → PXE menu (no file); arm64 UEFI → arm64 iPXE (or GRUB); x64 UEFI → ipxe.efi
 * (or snponly.efi); BIOS → undionly.kpxe; UEFI HTTP boot → URL of the iPXE EFI binary; iPXE → the HTTP
 * boot script (no chainload loop). null for plain DHCP clients and architectures without a default.
 */
export function defaultBootDecision(client: ClassifiedClient, o: DefaultBootOptions): BootDecision | null {
  const x64 = o.x64Loader === 'snponly.efi' ? DEFAULT_FILES.x64Snp : DEFAULT_FILES.x64Ipxe
  switch (client.class) {
    case 'rpi': return {}
    case 'uefi-arm64': return { bootFile: o.arm64Loader === 'grub' ? DEFAULT_FILES.arm64Grub : DEFAULT_FILES.arm64Ipxe }
    case 'uefi-x64': return { bootFile: x64 }
    case 'uefi-ia32': return { bootFile: DEFAULT_FILES.ia32Ipxe }
    case 'bios': return { bootFile: DEFAULT_FILES.bios }
    case 'http-x64': return { bootFile: `${httpBase(o)}/files/firmware/${x64}`, httpBoot: true }
    case 'http-arm64': return { bootFile: `${httpBase(o)}/files/firmware/${DEFAULT_FILES.arm64Ipxe}`, httpBoot: true }
    case 'ipxe': return { bootFile: ipxeScriptUrl(o) }
    case 'pxe-other':
    case 'plain': return null
  }
}
