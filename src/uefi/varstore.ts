// Reader and writer of the EDK2 variable store inside a firmware image, following
// MdeModulePkg/Include/Guid/VariableFormat.h and MdeModulePkg/Universal/Variable/RuntimeDxe:
//
//   VARIABLE_STORE_HEADER (28 bytes): Signature GUID (gEfiVariableGuid or
//     gEfiAuthenticatedVariableGuid), Size (store incl. this header), Format 0x5A, State 0xFE.
//   records, each at a 4-byte boundary (HEADER_ALIGNMENT), name and data unpadded:
//     VARIABLE_HEADER (32 bytes): StartId 0x55AA, State, Reserved, Attributes, NameSize,
//       DataSize, VendorGuid
//     AUTHENTICATED_VARIABLE_HEADER (60 bytes): StartId, State, Reserved, Attributes,
//       MonotonicCount, TimeStamp (EFI_TIME), PubKeyIndex, NameSize, DataSize, VendorGuid
//   free space (0xFF) up to Size.
//
// Writes go as EDK2's UpdateVariable does them on flash: the old copy is marked
// VAR_IN_DELETED_TRANSITION, the new one is appended with State VAR_ADDED, the old one is then
// marked VAR_DELETED (state bits are only ever cleared). When the new record does not fit, the
// store is reclaimed first (live records compacted, as Reclaim() does). Nothing outside the store
// (firmware volume header, fault-tolerant write areas, the rest of the image) is changed, and the
// input buffer is never modified: every edit returns a new image.
import { AUTH_VARIABLE_STORE_GUID, VARIABLE_STORE_GUID, guidFromBytes, guidToBytes, normaliseGuid } from './guid.js'
import { UefiStoreError, findNvFirmwareVolume, type NvFirmwareVolume } from './firmware-volume.js'

export { UefiStoreError } from './firmware-volume.js'

export const VARIABLE_DATA = 0x55aa
export const VAR_IN_DELETED_TRANSITION = 0xfe
export const VAR_DELETED = 0xfd
export const VAR_HEADER_VALID_ONLY = 0x7f
export const VAR_ADDED = 0x3f
const VAR_LIVE_IN_TRANSITION = VAR_ADDED & VAR_IN_DELETED_TRANSITION

export const ATTR = {
  NON_VOLATILE: 0x1,
  BOOTSERVICE_ACCESS: 0x2,
  RUNTIME_ACCESS: 0x4,
  HARDWARE_ERROR_RECORD: 0x8,
  AUTHENTICATED_WRITE_ACCESS: 0x10,
  TIME_BASED_AUTHENTICATED_WRITE_ACCESS: 0x20,
  APPEND_WRITE: 0x40,
} as const
/** NV+BS+RT: what pftf's ConfigDxe forms and the UEFI global variables use */
export const ATTR_NV_BS_RT = ATTR.NON_VOLATILE | ATTR.BOOTSERVICE_ACCESS | ATTR.RUNTIME_ACCESS
const ATTR_AUTHENTICATED = ATTR.AUTHENTICATED_WRITE_ACCESS | ATTR.TIME_BASED_AUTHENTICATED_WRITE_ACCESS

const STORE_HEADER_SIZE = 28
const STORE_FORMATTED = 0x5a
const STORE_HEALTHY = 0xfe
const PLAIN_HEADER_SIZE = 32
const AUTH_HEADER_SIZE = 60
const HEADER_ALIGNMENT = 4
/**
 * Largest record (header + name + data) bootlab writes: PcdMaxVariableSize of pftf's RPi4.dsc
 * (0x2000); the firmware's SetVariable would refuse larger ones too.
 */
export const MAX_WRITTEN_VARIABLE_SIZE = 0x2000
/** longest variable name bootlab writes, in characters */
export const MAX_NAME_CHARS = 256

export type StoreFormat = 'authenticated' | 'plain'

export interface AuthFields {
  monotonicCount: bigint
  /** the EFI_TIME, 16 bytes as stored */
  timestamp: Buffer
  pubKeyIndex: number
}

export interface VariableRecord {
  /** offset of the record header in the image */
  offset: number
  state: number
  attributes: number
  guid: string
  name: string
  data: Buffer
  /** authenticated stores only */
  auth?: AuthFields
  /** the copy the firmware uses (FindVariableEx): State VAR_ADDED, or the only in-transition copy */
  live: boolean
}

export interface VariableStore {
  volume: NvFirmwareVolume
  format: StoreFormat
  /** offset of VARIABLE_STORE_HEADER in the image */
  storeOffset: number
  /** its Size field: header + records + free space */
  storeSize: number
  /** every record in order, deleted copies included */
  records: VariableRecord[]
  /** offset in the image where free space starts */
  freeOffset: number
  /** free space that is not all 0xFF: the firmware would reclaim the store at boot */
  dirtyTail: boolean
}

const hex = (n: number): string => `0x${n.toString(16)}`
const align = (n: number): number => (n + HEADER_ALIGNMENT - 1) & ~(HEADER_ALIGNMENT - 1)

export function describeAttributes(a: number): string {
  const names: [number, string][] = [[ATTR.NON_VOLATILE, 'NV'], [ATTR.BOOTSERVICE_ACCESS, 'BS'], [ATTR.RUNTIME_ACCESS, 'RT'],
    [ATTR.HARDWARE_ERROR_RECORD, 'HR'], [ATTR.AUTHENTICATED_WRITE_ACCESS, 'AW'], [ATTR.TIME_BASED_AUTHENTICATED_WRITE_ACCESS, 'AT'], [ATTR.APPEND_WRITE, 'AP']]
  const parts = names.filter(([bit]) => (a & bit) !== 0).map(([, n]) => n)
  const rest = a & ~0x7f
  if (rest) parts.push(hex(rest))
  return parts.join('|') || '0'
}

function decodeName(raw: Buffer): string | null {
  if (raw.length < 2 || raw.length % 2 !== 0 || raw.readUInt16LE(raw.length - 2) !== 0) return null
  const s = raw.subarray(0, raw.length - 2).toString('utf16le')
  return s.includes('\0') ? null : s
}

export function encodeName(name: string): Buffer {
  return Buffer.from(name + '\0', 'utf16le')
}

function recordKey(guid: string, name: string): string {
  return `${guid}:${name}`
}

/** Parses the variable store of `image` (a whole firmware image or a *_VARS file). */
export function readVariableStore(image: Buffer): VariableStore {
  const volume = findNvFirmwareVolume(image)
  const storeOffset = volume.offset + volume.headerLength
  const at = `variable store at ${hex(storeOffset)}`
  if (storeOffset + STORE_HEADER_SIZE > volume.offset + volume.length) throw new UefiStoreError(`${at}: no room for the store header`)
  const signature = guidFromBytes(image, storeOffset)
  const format: StoreFormat | null = signature === AUTH_VARIABLE_STORE_GUID ? 'authenticated' : signature === VARIABLE_STORE_GUID ? 'plain' : null
  if (!format) throw new UefiStoreError(`${at}: unknown signature ${signature} (neither gEfiVariableGuid nor gEfiAuthenticatedVariableGuid)`)
  const storeSize = image.readUInt32LE(storeOffset + 16)
  const fmt = image.readUInt8(storeOffset + 20)
  const state = image.readUInt8(storeOffset + 21)
  if (fmt !== STORE_FORMATTED) throw new UefiStoreError(`${at}: not formatted (Format ${hex(fmt)}, expected 0x5a)`)
  if (state !== STORE_HEALTHY) throw new UefiStoreError(`${at}: not healthy (State ${hex(state)}, expected 0xfe)`)
  if (storeSize < STORE_HEADER_SIZE || storeOffset + storeSize > volume.offset + volume.length) {
    throw new UefiStoreError(`${at}: Size ${hex(storeSize)} does not fit the ${hex(volume.length)}-byte volume`)
  }
  if (storeOffset % HEADER_ALIGNMENT !== 0) throw new UefiStoreError(`${at}: not 4-byte aligned`)
  const end = storeOffset + storeSize
  const headerSize = format === 'authenticated' ? AUTH_HEADER_SIZE : PLAIN_HEADER_SIZE
  const records: VariableRecord[] = []
  let pos = align(storeOffset + STORE_HEADER_SIZE)
  while (pos + headerSize <= end && image.readUInt16LE(pos) === VARIABLE_DATA) {
    const rstate = image.readUInt8(pos + 2)
    const attributes = image.readUInt32LE(pos + 4)
    const sizes = format === 'authenticated' ? pos + 36 : pos + 8
    let nameSize = image.readUInt32LE(sizes)
    let dataSize = image.readUInt32LE(sizes + 4)
    // as NameSizeOfVariable/DataSizeOfVariable: a header never completed counts as empty
    if (rstate === 0xff || nameSize === 0xffffffff || dataSize === 0xffffffff) { nameSize = 0; dataSize = 0 }
    const guid = guidFromBytes(image, sizes + 8)
    const nameAt = pos + headerSize
    if (nameAt + nameSize + dataSize > end) {
      throw new UefiStoreError(`${at}: the variable record at ${hex(pos)} (name ${nameSize} bytes, data ${dataSize} bytes) runs past the end of the store; the store is corrupt`)
    }
    const name = decodeName(image.subarray(nameAt, nameAt + nameSize))
    const completed = rstate === VAR_ADDED || rstate === VAR_LIVE_IN_TRANSITION
    if (completed && name === null) throw new UefiStoreError(`${at}: the variable record at ${hex(pos)} has a malformed name`)
    const rec: VariableRecord = {
      offset: pos, state: rstate, attributes, guid, name: name ?? '',
      data: Buffer.from(image.subarray(nameAt + nameSize, nameAt + nameSize + dataSize)), live: false,
    }
    if (format === 'authenticated') {
      rec.auth = { monotonicCount: image.readBigUInt64LE(pos + 8), timestamp: Buffer.from(image.subarray(pos + 16, pos + 32)), pubKeyIndex: image.readUInt32LE(pos + 32) }
    }
    records.push(rec)
    pos = align(nameAt + nameSize + dataSize)
  }
  markLive(records)
  const freeOffset = Math.min(pos, end)
  let dirtyTail = false
  for (let i = freeOffset; i < end; i++) if (image[i] !== 0xff) { dirtyTail = true; break }
  return { volume, format, storeOffset, storeSize, records, freeOffset, dirtyTail }
}

function markLive(records: VariableRecord[]): void {
  const added = new Map<string, VariableRecord>()
  const inTransition = new Map<string, VariableRecord>()
  for (const r of records) {
    const k = recordKey(r.guid, r.name)
    if (r.state === VAR_ADDED && !added.has(k)) added.set(k, r)
    else if (r.state === VAR_LIVE_IN_TRANSITION) inTransition.set(k, r)
  }
  for (const r of added.values()) r.live = true
  for (const [k, r] of inTransition) if (!added.has(k)) r.live = true
}

/** The variables the firmware sees, in store order. */
export function liveVariables(store: VariableStore): VariableRecord[] {
  return store.records.filter((r) => r.live)
}

export function findVariable(store: VariableStore, guid: string, name: string): VariableRecord | undefined {
  const g = normaliseGuid(guid)
  return store.records.find((r) => r.live && r.guid === g && r.name === name)
}

export type VariableEdit =
  | { op: 'set'; guid: string; name: string; data: Buffer; /** default: the existing copy's, else NV|BS|RT */ attributes?: number }
  | { op: 'delete'; guid: string; name: string }

export interface EditResult {
  image: Buffer
  /** false when every edit was already in place (the returned image equals the input) */
  changed: boolean
  /** the store was compacted to make room */
  reclaimed: boolean
}

function serialiseRecord(format: StoreFormat, state: number, attributes: number, guid: string, name: Buffer, data: Buffer, auth?: AuthFields): Buffer {
  const headerSize = format === 'authenticated' ? AUTH_HEADER_SIZE : PLAIN_HEADER_SIZE
  const b = Buffer.alloc(headerSize + name.length + data.length)
  b.writeUInt16LE(VARIABLE_DATA, 0)
  b.writeUInt8(state, 2)
  b.writeUInt8(0, 3)
  b.writeUInt32LE(attributes >>> 0, 4)
  let p = 8
  if (format === 'authenticated') {
    b.writeBigUInt64LE(auth?.monotonicCount ?? 0n, 8)
    ;(auth?.timestamp ?? Buffer.alloc(16)).copy(b, 16, 0, 16)
    b.writeUInt32LE(auth?.pubKeyIndex ?? 0, 32)
    p = 36
  }
  b.writeUInt32LE(name.length, p)
  b.writeUInt32LE(data.length, p + 4)
  guidToBytes(guid).copy(b, p + 8)
  name.copy(b, headerSize)
  data.copy(b, headerSize + name.length)
  return b
}

function checkSet(e: Extract<VariableEdit, { op: 'set' }>, attributes: number): void {
  const what = `${e.guid}:${e.name}`
  if (e.data.length === 0) throw new UefiStoreError(`${what}: empty data (to remove a variable, delete it)`)
  if ((attributes & ATTR.NON_VOLATILE) === 0) throw new UefiStoreError(`${what}: attributes ${describeAttributes(attributes)} lack NV; only non-volatile variables live in the store`)
  if ((attributes & ATTR.BOOTSERVICE_ACCESS) === 0) throw new UefiStoreError(`${what}: attributes ${describeAttributes(attributes)} lack BS (UEFI requires it)`)
  if ((attributes & (ATTR_AUTHENTICATED | ATTR.HARDWARE_ERROR_RECORD | ATTR.APPEND_WRITE | ~0x7f)) !== 0) {
    throw new UefiStoreError(`${what}: bootlab does not write authenticated, hardware-error or append variables (attributes ${describeAttributes(attributes)})`)
  }
}

/** Working state of one edit session on a private copy of the image. */
class StoreWriter {
  reclaimed = false
  changed = false
  private store: VariableStore

  constructor(readonly image: Buffer) {
    this.store = readVariableStore(image)
  }

  private get end(): number {
    return this.store.storeOffset + this.store.storeSize
  }

  private reread(): void {
    this.store = readVariableStore(this.image)
  }

  /**
   * Compacts the store to its live records, as Reclaim() does: in-transition survivors become
   * VAR_ADDED; the live copy of `drop` (the variable being rewritten) is left out.
   */
  private reclaim(drop?: VariableRecord): void {
    const s = this.store
    const start = align(s.storeOffset + STORE_HEADER_SIZE)
    this.image.fill(0xff, start, this.end)
    let pos = start
    for (const r of liveVariables(s)) {
      if (r === drop) continue
      const rec = serialiseRecord(s.format, VAR_ADDED, r.attributes, r.guid, encodeName(r.name), r.data, r.auth)
      rec.copy(this.image, pos)
      pos = align(pos + rec.length)
    }
    this.reclaimed = true
    this.changed = true
    this.reread()
  }

  private setState(r: VariableRecord, mask: number): void {
    this.image[r.offset + 2] = this.image[r.offset + 2]! & mask
  }

  private fits(length: number): boolean {
    return !this.store.dirtyTail && this.store.freeOffset + length <= this.end
  }

  set(e: Extract<VariableEdit, { op: 'set' }>): void {
    const guid = normaliseGuid(e.guid)
    if (!guid) throw new UefiStoreError(`not a GUID: ${e.guid}`)
    const what = `${guid}:${e.name}`
    if (e.name.length === 0 || e.name.length > MAX_NAME_CHARS || e.name.includes('\0')) throw new UefiStoreError(`bad variable name ${JSON.stringify(e.name)}`)
    const old = findVariable(this.store, guid, e.name)
    if (old && (old.attributes & ATTR_AUTHENTICATED) !== 0) {
      throw new UefiStoreError(`${what} is an authenticated variable; bootlab can delete it but not rewrite it`)
    }
    const attributes = e.attributes ?? old?.attributes ?? ATTR_NV_BS_RT
    checkSet(e, attributes)
    if (old && old.attributes !== attributes) {
      throw new UefiStoreError(`${what} exists with attributes ${describeAttributes(old.attributes)}, not ${describeAttributes(attributes)}; delete it first (as UEFI SetVariable requires)`)
    }
    if (old && old.data.equals(e.data)) return
    const rec = serialiseRecord(this.store.format, VAR_ADDED, attributes, guid, encodeName(e.name), e.data, old?.auth)
    if (rec.length > MAX_WRITTEN_VARIABLE_SIZE) throw new UefiStoreError(`${what}: the ${rec.length}-byte record exceeds ${MAX_WRITTEN_VARIABLE_SIZE} bytes`)
    if (this.fits(rec.length)) {
      if (old) this.setState(old, VAR_IN_DELETED_TRANSITION)
      rec.copy(this.image, this.store.freeOffset)
      if (old) this.setState(old, VAR_DELETED)
    } else {
      this.reclaim(old)
      if (!this.fits(rec.length)) {
        throw new UefiStoreError(`the variable store is full: the ${rec.length}-byte record for ${what} does not fit in the ${this.end - this.store.freeOffset} bytes free after reclaiming deleted records`)
      }
      rec.copy(this.image, this.store.freeOffset)
    }
    this.changed = true
    this.reread()
  }

  delete(e: Extract<VariableEdit, { op: 'delete' }>): void {
    const guid = normaliseGuid(e.guid)
    if (!guid) throw new UefiStoreError(`not a GUID: ${e.guid}`)
    const copies = this.store.records.filter((r) => r.guid === guid && r.name === e.name && (r.state === VAR_ADDED || r.state === VAR_LIVE_IN_TRANSITION))
    if (copies.length === 0) return
    for (const r of copies) this.setState(r, VAR_DELETED)
    this.changed = true
    this.reread()
  }
}

/**
 * Applies `edits` in order to a copy of `image`. Setting a variable to the value it has, or
 * deleting one that does not exist, changes nothing. Throws UefiStoreError when the image has no
 * usable store or an edit is refused; `image` is never modified.
 */
export function editVariables(image: Buffer, edits: VariableEdit[]): EditResult {
  const w = new StoreWriter(Buffer.from(image))
  for (const e of edits) {
    if (e.op === 'set') w.set(e)
    else w.delete(e)
  }
  return { image: w.changed ? w.image : image, changed: w.changed, reclaimed: w.reclaimed }
}
