// Finding the EDK2 variable firmware volume in a firmware image (PI spec vol. 3 §3.2.1,
// MdePkg/Include/Pi/PiFirmwareVolume.h): an EFI_FIRMWARE_VOLUME_HEADER whose FileSystemGuid is
// gEfiSystemNvDataFvGuid. The variable store starts HeaderLength bytes into it; the fault-tolerant
// write areas that follow the store inside the same volume are never touched by bootlab.
import { SYSTEM_NV_DATA_FV_GUID, guidFromBytes } from './guid.js'

export class UefiStoreError extends Error {
  override name = 'UefiStoreError'
}

/** EFI_FIRMWARE_VOLUME_HEADER up to and including FvBlockMap[0] and its terminating entry */
const FV_MIN_HEADER = 0x48
const FV_SIGNATURE_OFFSET = 0x28
const FV_SIGNATURE = Buffer.from('_FVH', 'latin1')
/** EFI_FVH_REVISION */
const FV_REVISION = 2

export interface NvFirmwareVolume {
  /** offset of the volume header in the image */
  offset: number
  /** FvLength: the volume, including the fault-tolerant write areas after the store */
  length: number
  /** HeaderLength: where the variable store header starts, relative to `offset` */
  headerLength: number
  attributes: number
}

const hex = (n: number): string => `0x${n.toString(16)}`

/** Sum of the header's 16-bit words; a valid header sums to 0 (mod 2^16). */
export function fvHeaderChecksum(image: Buffer, offset: number, headerLength: number): number {
  let sum = 0
  for (let i = 0; i < headerLength; i += 2) sum = (sum + image.readUInt16LE(offset + i)) & 0xffff
  return sum
}

function checkVolume(image: Buffer, offset: number): NvFirmwareVolume {
  const at = `firmware volume at ${hex(offset)}`
  if (offset + FV_MIN_HEADER > image.length) throw new UefiStoreError(`${at}: truncated header`)
  const length64 = image.readBigUInt64LE(offset + 0x20)
  const attributes = image.readUInt32LE(offset + 0x2c)
  const headerLength = image.readUInt16LE(offset + 0x30)
  const revision = image.readUInt8(offset + 0x37)
  if (revision !== FV_REVISION) throw new UefiStoreError(`${at}: header revision ${revision}, expected ${FV_REVISION}`)
  if (headerLength < FV_MIN_HEADER || headerLength % 2 !== 0) throw new UefiStoreError(`${at}: bad HeaderLength ${hex(headerLength)}`)
  if (length64 > BigInt(image.length - offset) || length64 <= BigInt(headerLength)) {
    throw new UefiStoreError(`${at}: FvLength ${hex(Number(length64 & 0xffffffffffffn))} does not fit the ${image.length}-byte file (truncated image?)`)
  }
  const length = Number(length64)
  if (offset + headerLength > image.length) throw new UefiStoreError(`${at}: header runs past the end of the file`)
  if (fvHeaderChecksum(image, offset, headerLength) !== 0) {
    throw new UefiStoreError(`${at}: header checksum is wrong (stored ${hex(image.readUInt16LE(offset + 0x32))}); the image is corrupt`)
  }
  // the block map is a list of {NumBlocks, Length} ending with {0, 0}, inside the header
  let terminated = false
  for (let p = offset + 0x38; p + 8 <= offset + headerLength; p += 8) {
    if (image.readUInt32LE(p) === 0 && image.readUInt32LE(p + 4) === 0) { terminated = true; break }
  }
  if (!terminated) throw new UefiStoreError(`${at}: block map is not terminated inside the header`)
  return { offset, length, headerLength, attributes }
}

/**
 * The one NvData firmware volume in `image`. Refuses an image with none (an all-zero
 * AAVMF_VARS.fd is an unformatted store: the firmware formats it at first boot), with more than
 * one, or whose volume header is corrupt.
 */
export function findNvFirmwareVolume(image: Buffer): NvFirmwareVolume {
  const candidates: number[] = []
  for (let i = image.indexOf(FV_SIGNATURE); i !== -1; i = image.indexOf(FV_SIGNATURE, i + 1)) {
    const start = i - FV_SIGNATURE_OFFSET
    // volumes are at least 8-byte aligned (EFI_FVB2_ALIGNMENT); the header must fit
    if (start < 0 || start % 8 !== 0 || start + FV_MIN_HEADER > image.length) continue
    if (guidFromBytes(image, start + 0x10) === SYSTEM_NV_DATA_FV_GUID) candidates.push(start)
  }
  if (candidates.length === 0) {
    const blank = image.length > 0 && (image.every((b) => b === 0) || image.every((b) => b === 0xff))
    throw new UefiStoreError(blank
      ? `no variable store: the ${image.length}-byte file is blank (all ${image[0] === 0 ? 'zeros' : '0xFF'}), an unformatted store the firmware formats at its first boot; boot it once, or use a *_VARS file that has a store`
      : 'no variable store: the file holds no EDK2 NvData firmware volume (gEfiSystemNvDataFvGuid)')
  }
  if (candidates.length > 1) {
    throw new UefiStoreError(`ambiguous: ${candidates.length} NvData firmware volumes (at ${candidates.map(hex).join(', ')})`)
  }
  return checkVolume(image, candidates[0]!)
}
