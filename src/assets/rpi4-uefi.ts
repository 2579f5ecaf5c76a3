// `bootlab fetch rpi4-uefi`: the pftf Raspberry Pi 4 UEFI release zip, checked, unpacked into
// firmware/rpi4-uefi/<version>/, with firmware/rpi4-uefi/current pointing at the chosen one.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fetchVerified, locate, isHex64, FetchError, type FetchContext } from './download.js'
import { extractZip } from './zip.js'
import { downloadsDir, readAssetsFile, readLink, switchLink, swapDir, tmpName, writeAssetsFile, type AssetRoots } from './layout.js'

export const PFTF_RELEASES = 'https://github.com/pftf/RPi4/releases/download'

/**
 * Releases bootlab knows. pftf publishes no checksums (its CI prints them only into the build log),
 * so every entry is trust-on-first-use (null): the first fetch records the zip's SHA-256 in
 * state_dir/assets.json and later fetches of that version must match it. A hash here is a pin.
 */
export const PFTF_KNOWN: Record<string, string | null> = {
  'v1.33': null, 'v1.34': null, 'v1.35': null, 'v1.36': null, 'v1.37': null, 'v1.38': null,
  'v1.39': null, 'v1.40': null, 'v1.41': null, 'v1.42': null, 'v1.43': null, 'v1.44': null,
  'v1.50': null,
}
export const PFTF_DEFAULT = 'v1.50'

/** Files a pftf release must contain (directories end with "/"). */
export const PFTF_REQUIRED = ['RPI_EFI.fd', 'start4.elf', 'fixup4.dat', 'config.txt', 'bcm2711-rpi-4-b.dtb', 'overlays/']

export const VERSION_RE = /^v\d{1,2}\.\d{1,3}(-rc\d{0,2})?$/

/** "1.38" or "v1.38" → "v1.38" (how releases and folders are named); null when not a version. */
export function pftfVersionName(v: string): string | null {
  const m = /^v?(\d{1,2}\.\d{1,3}(-rc\d{0,2})?)$/.exec(v)
  return m ? `v${m[1]}` : null
}

export function pftfZipName(version: string): string {
  return `RPi4_UEFI_Firmware_${version}.zip`
}

/** firmware/rpi4-uefi/<version> for a machine's `firmware:` pin, else firmware/rpi4-uefi/current. */
export function rpi4UefiDir(firmwareRoot: string, version?: string): string {
  return join(firmwareRoot, 'rpi4-uefi', version === undefined ? 'current' : (pftfVersionName(version) ?? version))
}

/** The version `current` points at, or null. */
export function rpi4UefiCurrent(firmwareRoot: string): string | null {
  return readLink(join(firmwareRoot, 'rpi4-uefi', 'current'))
}

/** Missing required files of an unpacked release folder (empty when complete). */
export function pftfMissing(dir: string): string[] {
  return PFTF_REQUIRED.filter((f) => !existsSync(join(dir, f)))
}

export interface Rpi4UefiOptions {
  version: string
  sha256?: string
  from?: string
  /** leave `current` where it is (fetch a version for pinned machines only) */
  keepCurrent?: boolean
}

export interface FetchOutcome {
  asset: string
  version: string
  sha256: string
  trust: string
  installed: string
  notes: string[]
}

export async function fetchRpi4Uefi(roots: AssetRoots, opts: Rpi4UefiOptions, ctx: FetchContext): Promise<FetchOutcome> {
  const version = pftfVersionName(opts.version)
  if (!version) throw new FetchError(`"${opts.version}" is not a pftf version such as ${PFTF_DEFAULT}`)
  const o = { ...opts, version }
  if (o.sha256 !== undefined && !isHex64(o.sha256)) throw new FetchError('--sha256 must be 64 hex digits')
  const name = pftfZipName(o.version)
  const state = readAssetsFile(roots)
  const known = Object.hasOwn(PFTF_KNOWN, o.version)
  const pinned = o.sha256?.toLowerCase() ?? (known ? PFTF_KNOWN[o.version] ?? undefined : undefined)
  const recorded = state.tofu[name]
  if (!known && pinned === undefined) {
    throw new FetchError(`${o.version} is not a release bootlab knows (${Object.keys(PFTF_KNOWN).join(', ')}); give its SHA-256 with --sha256 HEX`)
  }
  const expected = pinned ?? recorded
  const notes: string[] = []
  const zipPath = join(downloadsDir(roots), name)
  const got = await fetchVerified({
    location: locate(`${PFTF_RELEASES}/${o.version}/${name}`, name, o.from),
    name, dest: zipPath, maxBytes: 64 * 1024 * 1024,
    ...(expected ? { sha256: expected } : {}),
  }, ctx)
  const trust = pinned ? 'pinned' : recorded ? 'tofu-verified' : 'tofu-recorded'
  if (trust === 'tofu-recorded') notes.push(`pftf publishes no checksums: recorded SHA-256 ${got.sha256} for ${name} (trust on first use); later fetches must match it`)

  const base = join(roots.firmware, 'rpi4-uefi')
  mkdirSync(base, { recursive: true })
  const staged = tmpName(base, o.version)
  mkdirSync(staged)
  try {
    extractZip(readFileSync(zipPath), staged)
    const missing = pftfMissing(staged)
    if (missing.length) throw new FetchError(`${name} is not a pftf RPi4 release: missing ${missing.join(', ')}`)
    swapDir(staged, join(base, o.version))
  } catch (err) {
    rmSync(staged, { recursive: true, force: true })
    throw err
  }
  if (!o.keepCurrent) switchLink(join(base, 'current'), o.version)

  if (trust === 'tofu-recorded') state.tofu[name] = got.sha256
  state.records[`rpi4-uefi/${o.version}`] = {
    asset: 'rpi4-uefi', version: o.version, sha256: got.sha256, trust,
    source: o.from ? `${o.from}/${name}` : `${PFTF_RELEASES}/${o.version}/${name}`,
    fetched_at: new Date().toISOString(), files: [`rpi4-uefi/${o.version}/`], root: 'firmware',
  }
  writeAssetsFile(roots, state)
  return { asset: 'rpi4-uefi', version: o.version, sha256: got.sha256, trust, installed: join(base, o.version), notes }
}
