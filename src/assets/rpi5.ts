// `bootlab fetch rpi5-boot`: what a Raspberry Pi 5 needs besides a kernel (its GPU firmware is in
// the EEPROM): device trees and the overlay maps, from the boot/ folder of raspberrypi/firmware.
import { rpi5FirmwareSet } from '../machines/pi-firmware.js'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fetchVerified, locate, FetchError, type FetchContext } from './download.js'
import { installFile, readAssetsFile, tmpName, writeAssetsFile, type AssetRoots } from './layout.js'
import { safeRelativePath } from './zip.js'
import type { FetchOutcome } from './rpi4-uefi.js'

export const RPI_FIRMWARE_RAW = 'https://raw.githubusercontent.com/raspberrypi/firmware'
export const RPI5_DEFAULT_REF = 'stable'

/** Pi 5 / 500 / CM5 device trees and the overlay maps the firmware reads (boot/ of raspberrypi/firmware). */
export const RPI5_FILES = [
  'bcm2712-rpi-5-b.dtb', 'bcm2712d0-rpi-5-b.dtb', 'bcm2712-d-rpi-5-b.dtb', 'bcm2712-rpi-500.dtb',
  'bcm2712-rpi-cm5-cm5io.dtb', 'bcm2712-rpi-cm5-cm4io.dtb', 'bcm2712-rpi-cm5l-cm5io.dtb', 'bcm2712-rpi-cm5l-cm4io.dtb',
  'overlays/overlay_map.dtb', 'overlays/hat_map.dtb',
]

export interface Rpi5Options {
  /** branch, tag or commit of raspberrypi/firmware */
  ref: string
  /** extra overlays by name (`disable-bt-pi5` → overlays/disable-bt-pi5.dtbo) */
  overlays: string[]
  from?: string
}

/** firmware/rpi5/: where the booter serves a Pi 5's device trees and overlays from. */
export function rpi5BootDir(firmwareRoot: string): string {
  return rpi5FirmwareSet(firmwareRoot).dir
}

export async function fetchRpi5Boot(roots: AssetRoots, o: Rpi5Options, ctx: FetchContext): Promise<FetchOutcome> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.ref)) throw new FetchError(`"${o.ref}" is not a branch, tag or commit name`)
  for (const ov of o.overlays) if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(ov)) throw new FetchError(`"${ov}" is not an overlay name`)
  const files = [...RPI5_FILES, ...o.overlays.map((ov) => `overlays/${ov}.dtbo`)]
  const dest = rpi5BootDir(roots.firmware)
  mkdirSync(roots.firmware, { recursive: true })
  // everything is downloaded and checked in a staging folder first, then each file is renamed into
  // firmware/rpi5/ (files the user put there are kept)
  const staged = tmpName(roots.firmware, 'rpi5')
  const state = readAssetsFile(roots)
  // a commit or tag does not move: its file hashes are recorded on first use and checked later
  const fixed = /^[0-9a-f]{40}$/.test(o.ref) || /^\d/.test(o.ref)
  let trust: 'tofu-recorded' | 'tofu-verified' | 'none' = fixed ? 'tofu-verified' : 'none'
  const hashes: Record<string, string> = {}
  try {
    for (const f of files) {
      if (!safeRelativePath(f)) throw new FetchError(`bad file name ${f}`)
      const key = `raspberrypi/firmware@${o.ref}/boot/${f}`
      const recorded = fixed ? state.tofu[key] : undefined
      if (fixed && !recorded) trust = 'tofu-recorded'
      const got = await fetchVerified({
        location: locate(`${RPI_FIRMWARE_RAW}/${o.ref}/boot/${f}`, f, o.from), name: f, dest: join(staged, ...f.split('/')),
        maxBytes: 16 * 1024 * 1024, ...(recorded ? { sha256: recorded } : {}),
      }, ctx)
      hashes[key] = got.sha256
    }
    for (const f of files) installFile(join(staged, ...f.split('/')), join(dest, ...f.split('/')))
  } finally {
    rmSync(staged, { recursive: true, force: true })
  }
  if (fixed) Object.assign(state.tofu, hashes)
  state.records['rpi5-boot'] = {
    asset: 'rpi5-boot', version: o.ref, sha256: '', trust, source: o.from ?? `${RPI_FIRMWARE_RAW}/${o.ref}/boot`,
    fetched_at: new Date().toISOString(), files: files.map((f) => `rpi5/${f}`), root: 'firmware',
  }
  writeAssetsFile(roots, state)
  const notes = trust === 'none' ? [`${o.ref} is a branch: the files are not pinned (give --ref with a tag or commit to record and check their hashes)`] : []
  return { asset: 'rpi5-boot', version: o.ref, sha256: '', trust, installed: dest, notes }
}
