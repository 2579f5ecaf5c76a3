// A writer for the "newc" cpio format (the one the Linux kernel unpacks as an initramfs).
// Entries are written in the order given; parents must come before their children.
import { gzipSync } from 'node:zlib'

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number }

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`)
  return n.toString(16).padStart(8, '0')
}

function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4)
}

function header(fields: { ino: number; mode: number; nlink: number; size: number; rdevMajor?: number; rdevMinor?: number; name: string }): Buffer {
  const name = Buffer.from(fields.name + '\0', 'utf8')
  const h = '070701' +
    hex8(fields.ino) + hex8(fields.mode) + hex8(0) /* uid */ + hex8(0) /* gid */ +
    hex8(fields.nlink) + hex8(0) /* mtime: fixed, so the archive is reproducible */ + hex8(fields.size) +
    hex8(0) + hex8(0) /* dev major/minor */ + hex8(fields.rdevMajor ?? 0) + hex8(fields.rdevMinor ?? 0) +
    hex8(name.length) + hex8(0) /* check */
  const head = Buffer.concat([Buffer.from(h, 'ascii'), name])
  return Buffer.concat([head, pad4(head.length)])
}

/** Serialises entries to an uncompressed newc archive, ending with the TRAILER!!! record. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = []
  let ino = 1
  const seen = new Set<string>()
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '')
    if (name === '' || name.split('/').includes('..')) throw new Error(`bad cpio path: ${e.path}`)
    if (seen.has(name)) throw new Error(`duplicate cpio path: ${name}`)
    seen.add(name)
    switch (e.type) {
      case 'dir':
        parts.push(header({ ino: ino++, mode: S_IFDIR | (e.mode ?? 0o755), nlink: 2, size: 0, name }))
        break
      case 'file':
        parts.push(header({ ino: ino++, mode: S_IFREG | (e.mode ?? 0o644), nlink: 1, size: e.data.length, name }))
        parts.push(e.data, pad4(e.data.length))
        break
      case 'symlink': {
        const target = Buffer.from(e.target, 'utf8')
        parts.push(header({ ino: ino++, mode: S_IFLNK | 0o777, nlink: 1, size: target.length, name }))
        parts.push(target, pad4(target.length))
        break
      }
      case 'chardev':
        parts.push(header({ ino: ino++, mode: S_IFCHR | (e.mode ?? 0o600), nlink: 1, size: 0, rdevMajor: e.major, rdevMinor: e.minor, name }))
        break
    }
  }
  parts.push(header({ ino: 0, mode: 0, nlink: 1, size: 0, name: 'TRAILER!!!' }))
  return Buffer.concat(parts)
}

/** A gzip-compressed newc archive, as an initrd. */
export function initramfs(entries: CpioEntry[]): Buffer {
  return gzipSync(cpioNewc(entries), { level: 6 })
}
