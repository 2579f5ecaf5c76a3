// RFC 1350 netascii, streamed: LF → CR LF, CR → CR NUL (CR LF already in the file is kept as it
// is). A file is converted chunk by chunk as the transfer needs it, never whole in memory and never
// in one long run on the event loop; its converted size (for tsize and the last block) comes from one
// streaming pass, shared by concurrent requests for the same file version.
import type { FileHandle } from 'node:fs/promises'
import type { ByteSource } from './source.js'
import { readAt } from './read.js'

const CR = 0x0d
const LF = 0x0a
const CRLF = Buffer.from([CR, LF])
const CRNUL = Buffer.from([CR, 0])

interface EncoderState { prev: number; heldCR: boolean }

/** Converts a byte stream chunk by chunk; the result is the same however the input is cut. */
export class NetasciiEncoder {
  /** the raw byte before the next one to convert (-1 at the start) */
  private prev = -1
  /** the previous chunk ended in CR: whether it becomes CR NUL depends on the next byte */
  private heldCR = false

  get state(): EncoderState { return { prev: this.prev, heldCR: this.heldCR } }
  set state(s: EncoderState) { this.prev = s.prev; this.heldCR = s.heldCR }

  push(chunk: Buffer, eof: boolean): Buffer {
    let data = this.heldCR ? Buffer.concat([Buffer.from([CR]), chunk]) : chunk
    this.heldCR = false
    if (!eof && data.length > 0 && data[data.length - 1] === CR) {
      data = data.subarray(0, data.length - 1)
      this.heldCR = true
    }
    const out: Buffer[] = []
    let from = 0
    let nlf = data.indexOf(LF)
    let ncr = data.indexOf(CR)
    while (nlf >= 0 || ncr >= 0) {
      const i = nlf < 0 ? ncr : ncr < 0 ? nlf : Math.min(nlf, ncr)
      if (data[i] === LF) {
        const before = i === 0 ? this.prev : data[i - 1]
        if (before !== CR) { out.push(data.subarray(from, i), CRLF); from = i + 1 }
        nlf = data.indexOf(LF, i + 1)
      } else {
        // a CR at the very end is here only at eof (otherwise it was held back)
        if (i + 1 >= data.length || data[i + 1] !== LF) { out.push(data.subarray(from, i), CRNUL); from = i + 1 }
        ncr = data.indexOf(CR, i + 1)
      }
    }
    if (data.length > 0) this.prev = data[data.length - 1]!
    if (from === 0) return data // nothing to convert: no copy
    out.push(data.subarray(from))
    return Buffer.concat(out)
  }
}

/** A whole buffer in netascii (generated files, small). */
export function toNetascii(input: Buffer): Buffer {
  return new NetasciiEncoder().push(input, true)
}

/** The converted size of `rawSize` bytes of `fh`, in one streaming pass. */
export async function netasciiSize(fh: FileHandle, rawSize: number, chunk: number): Promise<number> {
  const enc = new NetasciiEncoder()
  let size = 0
  for (let pos = 0; pos < rawSize;) {
    const raw = await readAt(fh, pos, Math.min(chunk, rawSize - pos))
    if (raw.length === 0) throw new Error('file shrank while reading')
    pos += raw.length
    size += enc.push(raw, pos >= rawSize).length
  }
  return size
}

/**
 * Converted sizes by file version ("path:size:mtime:ino"), computed once for concurrent requests
 * (twenty Pis asking for the same file scan it once). Bounded; the oldest entry goes first.
 */
export class NetasciiSizes {
  private readonly known = new Map<string, Promise<number>>()
  constructor(private readonly maxEntries = 256) {}

  get(version: string, compute: () => Promise<number>): Promise<number> {
    let p = this.known.get(version)
    if (!p) {
      p = compute()
      p.catch(() => this.known.delete(version))
      this.known.set(version, p)
      if (this.known.size > this.maxEntries) this.known.delete(this.known.keys().next().value!)
    }
    return p
  }
}

interface Checkpoint { raw: number; conv: number; state: EncoderState }

/**
 * A file served in netascii: converts the raw chunks the transfer reaches, keeps the converted
 * bytes from the lowest offset still asked for, and records a checkpoint (raw offset, converted
 * offset, encoder state) at every raw chunk so a retransmission further back restarts from the
 * nearest one, not from the beginning.
 */
export class NetasciiFileSource implements ByteSource {
  private readonly enc = new NetasciiEncoder()
  private readonly checkpoints: Checkpoint[] = [{ raw: 0, conv: 0, state: { prev: -1, heldCR: false } }]
  private rawPos = 0
  private buf: Buffer = Buffer.alloc(0)
  private bufStart = 0
  private closed = false

  /** `size`: the converted size (netasciiSize); `rawSize`: the file's size when it was computed */
  constructor(private readonly fh: FileHandle, readonly size: number, private readonly rawSize: number, private readonly chunk: number) {}

  private get bufEnd(): number { return this.bufStart + this.buf.length }

  has(offset: number, length: number): boolean {
    return offset >= this.bufStart && offset + length <= this.bufEnd
  }

  async ensure(offset: number, length: number): Promise<void> {
    if (this.has(offset, length)) return
    if (this.closed) throw new Error('source closed')
    const want = Math.min(offset + length, this.size)
    if (offset < this.bufStart || offset > this.bufEnd) this.seek(offset)
    while (this.bufEnd < want) {
      if (this.rawPos >= this.rawSize) throw new Error('file changed during transfer')
      const last = this.checkpoints[this.checkpoints.length - 1]!
      if (this.rawPos > last.raw) this.checkpoints.push({ raw: this.rawPos, conv: this.bufEnd, state: this.enc.state })
      const raw = await readAt(this.fh, this.rawPos, Math.min(this.chunk, this.rawSize - this.rawPos))
      if (raw.length === 0) throw new Error('file shrank during transfer')
      this.rawPos += raw.length
      const out = this.enc.push(raw, this.rawPos >= this.rawSize)
      const keepFrom = Math.max(this.bufStart, Math.min(offset, this.bufEnd))
      this.buf = Buffer.concat([this.buf.subarray(keepFrom - this.bufStart), out])
      this.bufStart = keepFrom
    }
  }

  /** Restarts conversion at the last checkpoint at or before `offset`. */
  private seek(offset: number): void {
    let cp = this.checkpoints[0]!
    for (const c of this.checkpoints) if (c.conv <= offset) cp = c
    this.rawPos = cp.raw
    this.enc.state = cp.state
    this.buf = Buffer.alloc(0)
    this.bufStart = cp.conv
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
