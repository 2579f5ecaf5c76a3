// A machine's own RPI_EFI.fd: the stock pftf firmware with the machine's `uefi:` settings
// written into its variable store. The Pi loads RPI_EFI.fd over TFTP at every boot and reads its
// settings from it, so this file is how bootlab sets them without an SD card.
import { createHash } from 'node:crypto'
import { editVariables, type VariableEdit } from './varstore.js'
import { describeSettings, settingsEdits, type UefiSettings } from './pftf.js'

export interface StockFirmware {
  bytes: Buffer
  /** hex SHA-256 of `bytes` (the cache key; the caller usually has it from the asset manifest) */
  sha256: string
}

export interface GeneratedFirmware {
  bytes: Buffer
  sha256: string
  /** true when the image differs from the stock one */
  patched: boolean
  /** what was written, one line per setting (for the machine's timeline) */
  settings: string[]
}

function editKey(edits: VariableEdit[]): string {
  return JSON.stringify(edits.map((e) => e.op === 'set'
    ? ['set', e.guid, e.name, e.data.toString('hex'), e.attributes ?? null]
    : ['delete', e.guid, e.name]))
}

export function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

/**
 * Generated images, bounded in count and bytes (least recently used dropped first): keyed by the
 * stock image's hash and the settings, so machines with equal settings share one image and a new
 * firmware version gets new images. (RPI_EFI.fd is 1.9 MiB: the defaults hold 16 images.)
 */
export class RpiEfiCache {
  private readonly entries = new Map<string, GeneratedFirmware>()
  private bytes = 0

  constructor(readonly maxEntries = 16, readonly maxBytes = 64 * 1024 * 1024) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer')
    if (!(maxBytes > 0)) throw new RangeError('maxBytes must be positive')
  }

  get size(): number {
    return this.entries.size
  }

  /**
   * The image to serve for `settings`. No settings (or none that change anything): the stock
   * bytes, the same Buffer. Throws UefiStoreError when the stock image has no usable variable
   * store or the settings do not fit; serve nothing rather than the stock file then, since the
   * machine would boot with settings it was not meant to have.
   */
  generate(stock: StockFirmware, settings: UefiSettings | undefined): GeneratedFirmware {
    const edits = settings ? settingsEdits(settings) : []
    const lines = settings ? describeSettings(settings) : []
    if (edits.length === 0) return { bytes: stock.bytes, sha256: stock.sha256, patched: false, settings: lines }
    const key = `${stock.sha256}\n${editKey(edits)}`
    const hit = this.entries.get(key)
    if (hit) {
      this.entries.delete(key)
      this.entries.set(key, hit)
      return hit
    }
    const r = editVariables(stock.bytes, edits)
    const out: GeneratedFirmware = r.changed
      ? { bytes: r.image, sha256: sha256Hex(r.image), patched: true, settings: lines }
      : { bytes: stock.bytes, sha256: stock.sha256, patched: false, settings: lines }
    // an image larger than the whole budget is served but not kept
    if (out.bytes.length > this.maxBytes) return out
    this.entries.set(key, out)
    this.bytes += out.bytes.length
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [oldest, entry] = this.entries.entries().next().value!
      this.entries.delete(oldest)
      this.bytes -= entry.bytes.length
    }
    return out
  }

  clear(): void {
    this.entries.clear()
    this.bytes = 0
  }
}

const shared = new RpiEfiCache()

/** RPI_EFI.fd for a machine with `settings` (see RpiEfiCache.generate), from a process-wide cache. */
export function rpiEfiFor(stock: StockFirmware, settings: UefiSettings | undefined): Buffer {
  return shared.generate(stock, settings).bytes
}

/** The timeline line for a served RPI_EFI.fd: which settings it carried. */
export function describeServedUefi(settings: UefiSettings | undefined): string {
  const lines = settings ? describeSettings(settings) : []
  return lines.length ? `RPI_EFI.fd with UEFI settings: ${lines.join(', ')}` : 'RPI_EFI.fd as shipped (no uefi: settings)'
}
