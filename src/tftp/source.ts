// Where a transfer's bytes come from: memory (generated files, cached hot files) or a file streamed
// from disk in large read-ahead chunks (netascii files: netascii.ts). A session asks `ensure()` for the
// byte range of the window it is about to send, then takes the blocks with `slice()`.
import { open, type FileHandle } from 'node:fs/promises'
import { NetasciiFileSource, netasciiSize, type NetasciiSizes } from './netascii.js'
import { readAt } from './read.js'

export interface ByteSource {
  readonly size: number
  /** true when `slice(offset, length)` can be called now without loading */
  has(offset: number, length: number): boolean
  /** loads at least [offset, offset+length) */
  ensure(offset: number, length: number): Promise<void>
  slice(offset: number, length: number): Buffer
  close(): Promise<void>
}

export class MemorySource implements ByteSource {
  constructor(private readonly data: Buffer) {}
  get size(): number { return this.data.length }
  has(): boolean { return true }
  async ensure(): Promise<void> {}
  slice(offset: number, length: number): Buffer { return this.data.subarray(offset, offset + length) }
  async close(): Promise<void> {}
}

/** Streams a file: keeps one read-ahead chunk; a retransmission before it re-reads from disk. */
export class FileSource implements ByteSource {
  private buf: Buffer = Buffer.alloc(0)
  private bufStart = 0
  private closed = false
  constructor(private readonly fh: FileHandle, readonly size: number, private readonly chunk: number) {}

  /** the open descriptor, for the native data path (src/tftp/fast-path.ts), which reads with pread */
  get fd(): number { return this.fh.fd }

  has(offset: number, length: number): boolean {
    return offset >= this.bufStart && offset + length <= this.bufStart + this.buf.length
  }

  async ensure(offset: number, length: number): Promise<void> {
    if (this.has(offset, length)) return
    if (this.closed) throw new Error('source closed')
    const want = Math.min(Math.max(length, this.chunk), this.size - offset)
    // a fresh buffer each time: blocks of the previous chunk may still be queued in the socket
    const buf = await readAt(this.fh, offset, Math.max(0, want))
    if (buf.length < Math.min(length, this.size - offset)) throw new Error('file shrank during transfer')
    this.buf = buf
    this.bufStart = offset
  }

  slice(offset: number, length: number): Buffer {
    const start = offset - this.bufStart
    return this.buf.subarray(start, start + length)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.fh.close()
  }
}

export { toNetascii } from './netascii.js'

export async function openFileSource(path: string, chunk: number): Promise<FileSource> {
  const fh = await open(path, 'r')
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' })
    return new FileSource(fh, st.size, chunk)
  } catch (err) {
    await fh.close()
    throw err
  }
}

/** A file in netascii, converted as the transfer goes; its converted size from `sizes` (one scan per file version). */
export async function openNetasciiSource(path: string, chunk: number, sizes: NetasciiSizes): Promise<NetasciiFileSource> {
  const fh = await open(path, 'r')
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' })
    const size = await sizes.get(`${path}:${st.size}:${st.mtimeMs}:${st.ino}`, async () => {
      const scan = await open(path, 'r')
      try { return await netasciiSize(scan, st.size, chunk) } finally { await scan.close() }
    })
    return new NetasciiFileSource(fh, size, st.size, chunk)
  } catch (err) {
    await fh.close()
    throw err
  }
}
