// A bootlab data tree for the Pi tests: firmware/rpi4-uefi/<version>/ sets laid out like the pftf
// release zip (with a synthetic RPI_EFI.fd shaped like pftf's, test/uefi/helpers.ts), the `current`
// pointer, a legacy firmware/rpi4/, firmware/rpi5/ device trees, and images for a Pi 5 profile.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { syntheticRpiEfi } from '../uefi/helpers.js'

/** the config.txt of a pftf release before v1.42 (device tree at 0x1f0000) */
export const OLD_PFTF_CONFIG = 'arm_64bit=1\nenable_uart=1\nenable_gic=1\narmstub=RPI_EFI.fd\ndisable_commandline_tags=1\ndevice_tree_address=0x1f0000\ndevice_tree_end=0x200000\ndtoverlay=miniuart-bt\n'

export interface PiTree {
  dir: string
  firmware: string
  tftproot: string
  images: string
  /** per set: the bytes of its files */
  sets: Record<'v1.41' | 'v1.38' | 'legacy', { start4: Buffer; fixup4: Buffer; dtb: Buffer; efi: Buffer }>
  rpi5: { dtb: Buffer; overlayMap: Buffer }
  kernel: Buffer
  initrd: Buffer
}

function set(dir: string, config: string | null): PiTree['sets']['v1.41'] {
  mkdirSync(join(dir, 'overlays'), { recursive: true })
  const files = { start4: randomBytes(150_000), fixup4: randomBytes(5_000), dtb: randomBytes(50_000), efi: syntheticRpiEfi() }
  writeFileSync(join(dir, 'start4.elf'), files.start4)
  writeFileSync(join(dir, 'fixup4.dat'), files.fixup4)
  writeFileSync(join(dir, 'bcm2711-rpi-4-b.dtb'), files.dtb)
  writeFileSync(join(dir, 'RPI_EFI.fd'), files.efi)
  writeFileSync(join(dir, 'overlays', 'miniuart-bt.dtbo'), 'overlay')
  if (config !== null) writeFileSync(join(dir, 'config.txt'), config)
  return files
}

/** Builds the tree under `dir`; `current` points at v1.41 unless `legacyOnly`. */
export function piTree(dir: string, o: { legacyOnly?: boolean } = {}): PiTree {
  const firmware = join(dir, 'firmware')
  const tftproot = join(dir, 'tftproot')
  const images = join(dir, 'images')
  mkdirSync(tftproot, { recursive: true })
  mkdirSync(join(images, 'ubuntu'), { recursive: true })
  const sets = {
    // v1.41 shipped the old device tree address although its firmware wants the new one (pftf/RPi4#274)
    'v1.41': set(join(firmware, 'rpi4-uefi', 'v1.41'), OLD_PFTF_CONFIG),
    'v1.38': set(join(firmware, 'rpi4-uefi', 'v1.38'), null),
    legacy: set(join(firmware, 'rpi4'), OLD_PFTF_CONFIG.replace('0x1f0000', '0x2f0000')),
  }
  if (!o.legacyOnly) symlinkSync('v1.41', join(firmware, 'rpi4-uefi', 'current'))
  mkdirSync(join(firmware, 'rpi5', 'overlays'), { recursive: true })
  const rpi5 = { dtb: randomBytes(80_000), overlayMap: randomBytes(3_000) }
  writeFileSync(join(firmware, 'rpi5', 'bcm2712-rpi-5-b.dtb'), rpi5.dtb)
  writeFileSync(join(firmware, 'rpi5', 'overlays', 'overlay_map.dtb'), rpi5.overlayMap)
  const kernel = randomBytes(400_000)
  const initrd = randomBytes(300_000)
  writeFileSync(join(images, 'ubuntu', 'vmlinuz'), kernel)
  writeFileSync(join(images, 'ubuntu', 'initrd'), initrd)
  return { dir, firmware, tftproot, images, sets, rpi5, kernel, initrd }
}

/**
 * A Pi 5 DHCPDISCOVER crafted from the captured Pi 4 one (no Pi 5 capture is public): option 97's
 * fourcc "RPi4" becomes "RPi5"; optionally another MAC (chaddr and option 97's low MAC bytes) and
 * serial, so it does not collide with the Pi 4 of the capture.
 */
export function pi5Discover(pi4: Buffer, o: { mac?: string; serial?: string } = {}): Buffer {
  const out = Buffer.from(pi4)
  const at = out.indexOf(Buffer.from([97, 17, 0, 0x52, 0x50, 0x69, 0x34]))
  if (at < 0) throw new Error('option 97 with RPi4 not found in the vector')
  out[at + 6] = 0x35
  if (o.mac) {
    const mac = Buffer.from(o.mac.replace(/:/g, ''), 'hex')
    mac.copy(out, 28)
    mac.subarray(2).copy(out, at + 11)
  }
  if (o.serial) out.writeUInt32LE(parseInt(o.serial, 16), at + 15)
  return out
}
