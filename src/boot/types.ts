// Config shapes this area codes against. They mirror what src/config's zod schema produces after
// validation (structural typing: the loader's types are assignable to these).

import type { ARCHES } from '../config/schema.js'
import type { UefiSettings } from '../uefi/pftf.js'

/** one declaration: the config schema's list */
export type Arch = (typeof ARCHES)[number]
export type LocalBootMethod = 'exit' | 'sanboot' | 'grub-chain'

export interface CloudInitTemplates {
  user_data?: string
  meta_data?: string
  vendor_data?: string
  network_config?: string
}

export interface Profile {
  description?: string
  /** path under images/ or an http(s) URL */
  kernel?: string
  /** [] when absent */
  initrd: string[]
  /** liquid template */
  cmdline?: string
  boot?: 'local'
  /** URL template */
  chain?: string
  /** raw iPXE template */
  ipxe?: string
  /** raw grub.cfg template */
  grub?: string
  /** absolute paths of template files */
  cloud_init?: CloudInitTemplates
  /** profile to boot after a successful deployment */
  then?: string
}

export interface MachineConfig {
  name: string
  /** lowercase aa:bb:cc:dd:ee:ff */
  mac: string
  /** 8 lowercase hex digits */
  serial?: string
  arch: Arch
  ip?: string
  profile?: string
  local_boot?: LocalBootMethod
  cycle_on_assign: boolean
  power?: { switch: string; port: string }
  vars: Record<string, string>
  /** pftf UEFI settings for this Pi 4's own RPI_EFI.fd */
  uefi?: UefiSettings
  /** pftf firmware version pin (firmware/rpi4-uefi/<version>/) */
  firmware?: string
}

export interface ServerConfig {
  advertise?: string
  http: { port: number; listen: string }
  unknown: 'ignore' | 'discover'
  unknown_profile: string
  state_dir: string
  paths: { images: string; firmware: string; tftproot: string }
  api_token_file?: string
}

export interface Config {
  server: ServerConfig
  switches: Record<string, unknown>
  profiles: Record<string, Profile>
  machines: Record<string, MachineConfig>
}

/** What kind of boot a profile describes (exactly one of kernel / boot / chain / ipxe is set). */
export type ProfileKind = 'kernel' | 'local' | 'chain' | 'ipxe'

export function profileKind(p: Profile): ProfileKind {
  if (p.kernel !== undefined) return 'kernel'
  if (p.boot === 'local') return 'local'
  if (p.chain !== undefined) return 'chain'
  if (p.ipxe !== undefined) return 'ipxe'
  throw new Error('profile has none of kernel, boot, chain, ipxe')
}
