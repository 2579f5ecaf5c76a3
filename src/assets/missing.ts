// Which files the configured machines and profiles need that are not on disk, each with the
// command that fetches it. Used by `bootlab check`, `bootlab images` and (via app.ts) `serve`.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Config, Machine } from '../config/types.js'
import { DEFAULT_FILES } from '../dhcp/index.js'
import { PFTF_REQUIRED, pftfMissing } from './rpi4-uefi.js'
import { RPI5_FILES } from './rpi5.js'
import { rpi4FirmwareSet, rpi5FirmwareSet } from '../machines/pi-firmware.js'

export interface MissingAsset {
  /** what is missing, in words */
  what: string
  /** absolute path that is missing */
  path: string
  /** the command that puts it there (or what to do when bootlab cannot fetch it) */
  fetch: string
  /** machines and profiles that need it */
  needed_by: string[]
}

const UBUNTU_PATH = /^ubuntu-(\d\d\.\d\d)\/(?:(amd64|arm64)\/|ubuntu-\d\d\.\d\d-live-server-(amd64|arm64)\.iso$)/

/** The command that fetches an images/ path bootlab knows, or advice to copy it. */
export function fetchHintForImage(rel: string): string {
  const m = UBUNTU_PATH.exec(rel)
  if (m) return `bootlab fetch ubuntu ${m[1]} --arch ${m[2] ?? m[3]}`
  return `copy the file to the images folder as ${rel}`
}

/** images/ paths a profile names: kernel, initrds, and /files/images/… URLs in its command line. */
export function profileImagePaths(p: { kernel?: string | undefined; initrd?: string[] | undefined; cmdline?: string | undefined }): string[] {
  const out: string[] = []
  if (p.kernel) out.push(p.kernel)
  for (const i of p.initrd ?? []) out.push(i)
  for (const m of (p.cmdline ?? '').matchAll(/\/files\/images\/([^\s"';]+)/g)) {
    if (!m[1]!.includes('{')) out.push(decodeURIComponent(m[1]!))
  }
  return out
}

export function missingAssets(cfg: Config): MissingAsset[] {
  const fw = cfg.server.paths.firmware
  const found = new Map<string, MissingAsset>()
  const need = (what: string, path: string, fetch: string, by: string, known = false): void => {
    const have = found.get(path)
    if (have) { if (!have.needed_by.includes(by)) have.needed_by.push(by); return }
    if (!known && existsSync(path)) return
    found.set(path, { what, path, fetch, needed_by: [by] })
  }
  const proxy = cfg.server.dhcp.mode === 'proxy'
  const arm64Loader = (by: string): void => {
    // the DHCP policy picks iPXE, else GRUB; GRUB ignores proxyDHCP offers, so in proxy mode only iPXE will do
    if (!proxy && existsSync(join(fw, DEFAULT_FILES.arm64Grub))) return
    need('arm64 UEFI iPXE', join(fw, DEFAULT_FILES.arm64Ipxe), proxy ? 'bootlab fetch ipxe' : 'bootlab fetch ipxe (or: bootlab fetch grub-arm64)', by)
  }
  const byArch = (m: Machine): void => {
    const by = `machine ${m.name}`
    const arch: string = m.arch
    if (arch === 'rpi4') {
      const set = rpi4FirmwareSet(fw, m.firmware)
      // nothing there at all: name the folder `bootlab fetch` fills, not the legacy one
      const dir = set.kind === 'legacy' && pftfMissing(set.dir).length ? join(fw, 'rpi4-uefi', 'current') : set.dir
      const cmd = m.firmware ? `bootlab fetch rpi4-uefi --version ${m.firmware}` : 'bootlab fetch rpi4-uefi'
      const absent = pftfMissing(dir)
      if (absent.length || found.has(dir)) need(`pftf RPi4 UEFI ${m.firmware ?? 'current'}${absent.length < PFTF_REQUIRED.length ? ` (no ${absent.join(', ')})` : ''}`, dir, cmd, by, true)
      arm64Loader(by)
    } else if (arch === 'rpi5') {
      for (const f of RPI5_FILES.slice(0, 1)) need(`Raspberry Pi 5 boot files: ${f}`, join(rpi5FirmwareSet(fw).dir, f), 'bootlab fetch rpi5-boot', by)
    } else if (arch === 'arm64') {
      arm64Loader(by)
    } else if (arch === 'x86_64') {
      need('x86-64 UEFI iPXE', join(fw, DEFAULT_FILES.x64Ipxe), 'bootlab fetch ipxe', by)
    } else if (arch === 'bios') {
      need('BIOS iPXE', join(fw, DEFAULT_FILES.bios), 'bootlab fetch ipxe', by)
    }
  }
  const profilesUsed = new Map<string, string[]>()
  for (const m of Object.values(cfg.machines)) {
    byArch(m)
    if (m.profile) profilesUsed.set(m.profile, [...(profilesUsed.get(m.profile) ?? []), m.name])
  }
  if (cfg.server.unknown === 'discover') profilesUsed.set(cfg.server.unknown_profile, [...(profilesUsed.get(cfg.server.unknown_profile) ?? []), '(unknown machines)'])
  for (const [name, users] of profilesUsed) {
    const p = cfg.profiles[name]
    if (!p) continue
    const by = `profile ${name} (${users.join(', ')})`
    for (const rel of profileImagePaths(p)) need(`${name}: ${rel}`, join(cfg.server.paths.images, ...rel.split('/')), fetchHintForImage(rel), by)
  }
  return [...found.values()]
}

export function formatMissing(m: MissingAsset): string {
  return `missing ${m.path} (${m.what}; needed by ${m.needed_by.join(', ')}): ${m.fetch}`
}

/** For `serve` at start (and after a reload): one warning per missing file; returns how many. */
export function logMissingAssets(cfg: Config, log: { warn(obj: object, msg: string): void }): number {
  const missing = missingAssets(cfg)
  for (const m of missing) log.warn({ path: m.path, needed_by: m.needed_by, fetch: m.fetch }, `missing boot file: ${m.what} (run: ${m.fetch})`)
  return missing.length
}
