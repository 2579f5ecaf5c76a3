// Positional reads that fill the buffer (fs reads may return less than asked).
import type { FileHandle } from 'node:fs/promises'

/** Up to `want` bytes at `pos` (fewer only at the end of the file), in a new buffer. */
export async function readAt(fh: FileHandle, pos: number, want: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(want)
  let got = 0
  while (got < want) {
    const { bytesRead } = await fh.read(buf, got, want - got, pos + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return buf.subarray(0, got)
}
