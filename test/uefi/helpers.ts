// A synthetic RPI_EFI.fd shaped like pftf's (edk2-platforms Platform/RaspberryPi/RPi4/RPi4.fdf):
// a 0x1f0000-byte flash image, TF-A at 0, FVMAIN_COMPACT at 0x20000, the NvData firmware volume
// at 0x1d0000 (FvLength 0x20000: variable store 0xe000 incl. the 0x48-byte volume header, event
// log at 0x1de000, fault-tolerant write working block at 0x1df000, spare at 0x1e0000).
import { createHash } from 'node:crypto'
import { guidToBytes } from '../../src/uefi/guid.js'

export const RPI = {
  size: 0x1f0000,
  nvOffset: 0x1d0000,
  nvLength: 0x20000,
  storeOffset: 0x1d0048,
  storeSize: 0xdfb8,
  ftwWorking: 0x1df000,
  /** the checksum written in RPi4.fdf's DATA block */
  fdfChecksum: 0xf919,
}

/** deterministic filler bytes, so the code regions are not blank */
function filler(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len)
  let x = seed >>> 0
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

function fvHeader(guid: string, length: number, attributes: number, blocks: number, blockSize: number): Buffer {
  const h = Buffer.alloc(0x48)
  guidToBytes(guid).copy(h, 0x10)
  h.writeBigUInt64LE(BigInt(length), 0x20)
  h.write('_FVH', 0x28, 'latin1')
  h.writeUInt32LE(attributes, 0x2c)
  h.writeUInt16LE(0x48, 0x30)
  h.writeUInt8(2, 0x37)
  h.writeUInt32LE(blocks, 0x38)
  h.writeUInt32LE(blockSize, 0x3c)
  let sum = 0
  for (let i = 0; i < 0x48; i += 2) sum = (sum + h.readUInt16LE(i)) & 0xffff
  h.writeUInt16LE((0x10000 - sum) & 0xffff, 0x32)
  return h
}

export function syntheticRpiEfi(): Buffer {
  const img = Buffer.alloc(RPI.size, 0xff)
  filler(0x20000, 1).copy(img, 0)
  // FVMAIN_COMPACT: an ordinary firmware volume (EFI_FIRMWARE_FILE_SYSTEM2_GUID) the scanner must skip
  const main = Buffer.concat([fvHeader('8c8ce578-8a3d-4f1c-9935-896185c32dd3', 0x1b0000, 0x0004feff, 0x1b0000 / 0x40, 0x40), filler(0x100000, 2)])
  main.copy(img, 0x20000)
  fvHeader('fff12b8d-7696-4c8b-a985-2747075b4f50', RPI.nvLength, 0x0004feff, 0x20, 0x1000).copy(img, RPI.nvOffset)
  const store = Buffer.alloc(28)
  guidToBytes('aaf32c78-947b-439a-a180-2e144ec37792').copy(store, 0)
  store.writeUInt32LE(RPI.storeSize, 16)
  store.writeUInt8(0x5a, 20)
  store.writeUInt8(0xfe, 21)
  store.copy(img, RPI.storeOffset)
  // EFI_FAULT_TOLERANT_WORKING_BLOCK_HEADER as RPi4.fdf writes it
  const ftw = Buffer.alloc(32)
  guidToBytes('9e58292b-7c68-497d-a0ce-6500fd9f1b95').copy(ftw, 0)
  ftw.writeUInt32LE(0x642caf2c, 16)
  ftw.writeUInt32LE(0xfffffffe, 20)
  ftw.writeBigUInt64LE(0xfe0n, 24)
  ftw.copy(img, RPI.ftwWorking)
  return img
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}
