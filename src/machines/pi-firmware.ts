// Where a Raspberry Pi's firmware comes from (docs/pi.md):
//   Pi 4: firmware/rpi4-uefi/<version>/ — the machine's `firmware:` pin, else the `current`
//         pointer `bootlab fetch` switches — or the legacy firmware/rpi4/ when there is no
//         rpi4-uefi/current.
//   Pi 5: firmware/rpi5/ (device trees and overlays; `bootlab fetch rpi5-boot`).
// And the stock RPI_EFI.fd of a set, read once per file version (the per-machine image is
// generated from it by src/uefi).
import { realpathSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { sha256Hex, type StockFirmware } from '../uefi/index.js'
import { pftfVersionName } from '../assets/rpi4-uefi.js'

export interface FirmwareSet {
  /** the folder files are served from (symlinks resolved, so one boot sees one version) */
  dir: string
  /** pftf version ("v1.42") when known, null for the legacy folder and for Pi 5 */
  version: string | null
  kind: 'pftf' | 'legacy' | 'rpi5'
}

/** "1.38" or "v1.38" → "v1.38"; null when not a version (one rule, shared with `bootlab fetch`) */
export const pftfVersion = pftfVersionName

function real(path: string): string | null {
  try { return realpathSync(path) } catch { return null }
}

/** The Pi 4 firmware set for a machine's pin (or none). */
export function rpi4FirmwareSet(firmwareRoot: string, pin: string | undefined): FirmwareSet {
  const base = join(firmwareRoot, 'rpi4-uefi')
  if (pin !== undefined) {
    const v = pftfVersion(pin) ?? pin
    // as `bootlab fetch` names it (v1.38), or as unpacked by hand (1.38); a missing pin serves nothing
    const dir = real(join(base, v)) ?? real(join(base, v.slice(1))) ?? join(base, v)
    return { dir, version: pftfVersion(v), kind: 'pftf' }
  }
  const current = real(join(base, 'current'))
  if (current) return { dir: current, version: pftfVersion(basename(current)), kind: 'pftf' }
  return { dir: join(firmwareRoot, 'rpi4'), version: null, kind: 'legacy' }
}

export function rpi5FirmwareSet(firmwareRoot: string): FirmwareSet {
  return { dir: join(firmwareRoot, 'rpi5'), version: null, kind: 'rpi5' }
}

/** pftf's RPI_EFI.fd is 0x1f0000 bytes; anything far larger is not one */
const MAX_STOCK_BYTES = 16 * 1024 * 1024

/** Stock firmware images by (path, size, mtime): hashed once, at most a few kept. */
export class StockFirmwareCache {
  private readonly entries = new Map<string, StockFirmware>()

  constructor(private readonly max = 4) {}

  /** The stock image at `path`; null when absent. Throws when it is not a plausible image. */
  async get(path: string): Promise<StockFirmware | null> {
    let st
    try { st = await stat(path) } catch { return null }
    if (!st.isFile()) return null
    if (st.size > MAX_STOCK_BYTES) throw new Error(`${path} is ${st.size} bytes, not a pftf RPI_EFI.fd`)
    const key = `${path}\n${st.size}\n${st.mtimeMs}`
    const hit = this.entries.get(key)
    if (hit) return hit
    const bytes = await readFile(path)
    const entry = { bytes, sha256: sha256Hex(bytes) }
    this.entries.set(key, entry)
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!)
    return entry
  }
}
