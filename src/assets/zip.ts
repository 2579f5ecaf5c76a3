// A small, strict zip reader for release archives (hostile input): central directory only,
// stored and deflate entries, CRC-32 checked, names jailed (no "..", absolute paths, backslashes,
// symlinks), caps on entry count, per-entry and total size. No zip64, no encryption, no spanning.
import { inflateRawSync } from 'node:zlib'
import * as zlib from 'node:zlib'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ZipLimits {
  maxEntries: number
  /** uncompressed bytes, all entries together */
  maxTotalBytes: number
  /** uncompressed bytes of one entry */
  maxEntryBytes: number
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 2000, maxTotalBytes: 256 * 1024 * 1024, maxEntryBytes: 64 * 1024 * 1024 }

export interface ZipEntry {
  /** normalised relative path; directories end with "/" */
  name: string
  isDir: boolean
  method: number
  compressedSize: number
  size: number
  crc32: number
  localOffset: number
}

export class ZipError extends Error {
  constructor(message: string) { super(message); this.name = 'ZipError' }
}

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

export function crc32(buf: Buffer): number {
  const native = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32
  if (typeof native === 'function') return native(buf) >>> 0
  let c = 0xffffffff
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** A safe relative path, or null: no "..", ".", empty or absolute parts, no backslash, NUL or drive letter. */
export function safeRelativePath(name: string): string | null {
  if (name.length === 0 || name.length > 1024) return null
  if (/[\\\0]/.test(name) || name.startsWith('/') || /^[A-Za-z]:/.test(name)) return null
  const isDir = name.endsWith('/')
  const parts = (isDir ? name.slice(0, -1) : name).split('/')
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return null
  return parts.join('/') + (isDir ? '/' : '')
}

function findEocd(buf: Buffer): number {
  const min = Math.max(0, buf.length - (22 + 0xffff))
  for (let i = buf.length - 22; i >= min; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) return i
  }
  throw new ZipError('not a zip archive (no end of central directory)')
}

/** Lists the entries (validated) without inflating anything. */
export function readZipEntries(buf: Buffer, limits: ZipLimits = DEFAULT_ZIP_LIMITS): ZipEntry[] {
  if (buf.length < 22) throw new ZipError('not a zip archive (too short)')
  const eocd = findEocd(buf)
  const disk = buf.readUInt16LE(eocd + 4)
  const cdDisk = buf.readUInt16LE(eocd + 6)
  const count = buf.readUInt16LE(eocd + 10)
  const cdSize = buf.readUInt32LE(eocd + 12)
  const cdOffset = buf.readUInt32LE(eocd + 16)
  if (disk !== 0 || cdDisk !== 0 || buf.readUInt16LE(eocd + 8) !== count) throw new ZipError('multi-disk zip archives are not supported')
  if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) throw new ZipError('zip64 archives are not supported')
  if (count > limits.maxEntries) throw new ZipError(`too many entries (${count} > ${limits.maxEntries})`)
  if (cdOffset + cdSize > eocd) throw new ZipError('central directory out of bounds')
  const entries: ZipEntry[] = []
  const seen = new Set<string>()
  let total = 0
  let p = cdOffset
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || buf.readUInt32LE(p) !== 0x02014b50) throw new ZipError(`bad central directory entry ${i}`)
    const madeBy = buf.readUInt16LE(p + 4)
    const flags = buf.readUInt16LE(p + 8)
    const method = buf.readUInt16LE(p + 10)
    const crc = buf.readUInt32LE(p + 16)
    const csize = buf.readUInt32LE(p + 20)
    const usize = buf.readUInt32LE(p + 24)
    const nameLen = buf.readUInt16LE(p + 28)
    const extraLen = buf.readUInt16LE(p + 30)
    const commentLen = buf.readUInt16LE(p + 32)
    const external = buf.readUInt32LE(p + 38)
    const localOffset = buf.readUInt32LE(p + 42)
    const end = p + 46 + nameLen + extraLen + commentLen
    if (end > cdOffset + cdSize) throw new ZipError(`central directory entry ${i} out of bounds`)
    const raw = buf.subarray(p + 46, p + 46 + nameLen).toString(flags & 0x800 ? 'utf8' : 'latin1')
    p = end
    if (flags & 0x1) throw new ZipError(`${raw}: encrypted entries are not supported`)
    if (method !== 0 && method !== 8) throw new ZipError(`${raw}: compression method ${method} is not supported`)
    if (csize === 0xffffffff || usize === 0xffffffff || localOffset === 0xffffffff) throw new ZipError(`${raw}: zip64 entries are not supported`)
    const name = safeRelativePath(raw)
    if (name === null) throw new ZipError(`unsafe entry name ${JSON.stringify(raw)}`)
    const unixMode = (madeBy >> 8) === 3 ? external >>> 16 : 0
    const fileType = unixMode & 0o170000
    if (fileType !== 0 && fileType !== 0o100000 && fileType !== 0o040000) throw new ZipError(`${name}: symbolic links and special files are not extracted`)
    const isDir = name.endsWith('/')
    if (isDir && usize !== 0) throw new ZipError(`${name}: a directory with content`)
    const key = name.replace(/\/$/, '').toLowerCase()
    if (seen.has(key) && !isDir) throw new ZipError(`${name}: entry appears twice`)
    seen.add(key)
    if (usize > limits.maxEntryBytes) throw new ZipError(`${name}: ${usize} bytes is larger than the limit of ${limits.maxEntryBytes}`)
    total += usize
    if (total > limits.maxTotalBytes) throw new ZipError(`the archive unpacks to more than ${limits.maxTotalBytes} bytes`)
    if (localOffset + 30 > cdOffset) throw new ZipError(`${name}: local header out of bounds`)
    entries.push({ name, isDir, method, compressedSize: csize, size: usize, crc32: crc, localOffset })
  }
  return entries
}

/** The bytes of one entry: bounded inflate, size and CRC-32 checked. */
export function readZipEntry(buf: Buffer, e: ZipEntry): Buffer {
  const h = e.localOffset
  if (buf.readUInt32LE(h) !== 0x04034b50) throw new ZipError(`${e.name}: bad local header`)
  const nameLen = buf.readUInt16LE(h + 26)
  const extraLen = buf.readUInt16LE(h + 28)
  const start = h + 30 + nameLen + extraLen
  const end = start + e.compressedSize
  if (end > buf.length) throw new ZipError(`${e.name}: data out of bounds`)
  const data = buf.subarray(start, end)
  let out: Buffer
  if (e.method === 0) {
    if (e.compressedSize !== e.size) throw new ZipError(`${e.name}: stored entry with two sizes`)
    out = Buffer.from(data)
  } else {
    try {
      // a declared size of 0 must still inflate to nothing; maxOutputLength caps a lying header
      out = inflateRawSync(data, { maxOutputLength: Math.max(1, e.size) })
    } catch (err) {
      throw new ZipError(`${e.name}: cannot inflate (${(err as Error).message})`)
    }
  }
  if (out.length !== e.size) throw new ZipError(`${e.name}: ${out.length} bytes, the directory says ${e.size}`)
  if (crc32(out) !== e.crc32) throw new ZipError(`${e.name}: CRC-32 mismatch`)
  return out
}

/** Extracts every entry under `dest` (an empty directory the caller made). Returns the file names. */
export function extractZip(buf: Buffer, dest: string, limits: ZipLimits = DEFAULT_ZIP_LIMITS): string[] {
  const entries = readZipEntries(buf, limits)
  const files: string[] = []
  for (const e of entries) {
    const target = join(dest, ...e.name.replace(/\/$/, '').split('/'))
    if (e.isDir) { mkdirSync(target, { recursive: true }); continue }
    const data = readZipEntry(buf, e)
    mkdirSync(join(target, '..'), { recursive: true })
    writeFileSync(target, data, { flag: 'wx', mode: 0o644 })
    files.push(e.name)
  }
  return files
}
