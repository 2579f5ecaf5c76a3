// Streamed netascii (issue 13 item 9): the encoder gives the same bytes however the input is cut,
// the file source converts only what the transfer reaches, seeks back through checkpoints, and its
// size pass agrees with the conversion. A byte-by-byte reference implementation is the oracle.
import t from 'tap'
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NetasciiEncoder, NetasciiFileSource, NetasciiSizes, netasciiSize, toNetascii } from '../../src/tftp/netascii.js'

/** RFC 1350 netascii the slow obvious way: LF → CR LF unless after CR; CR → CR NUL unless before LF */
function reference(input: Buffer): Buffer {
  const out: number[] = []
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!
    if (c === 0x0a && (i === 0 || input[i - 1] !== 0x0d)) out.push(0x0d, 0x0a)
    else if (c === 0x0d && input[i + 1] !== 0x0a) out.push(0x0d, 0x00)
    else out.push(c)
  }
  return Buffer.from(out)
}

let seed = 12345
const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
function text(n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) { const r = rnd(); b[i] = r < 0.15 ? 0x0d : r < 0.3 ? 0x0a : 0x61 + Math.floor(rnd() * 26) }
  return b
}

t.test('encoder: any cut of the input gives the reference bytes', async (t) => {
  for (const s of ['', '\n', '\r', '\r\n', '\n\r', 'a\r', '\r\r\n\n', 'x\ny\r\nz\rw']) t.same(toNetascii(Buffer.from(s, 'latin1')), reference(Buffer.from(s, 'latin1')), JSON.stringify(s))
  for (let round = 0; round < 200; round++) {
    const input = text(1 + Math.floor(rnd() * 300))
    const enc = new NetasciiEncoder()
    const parts: Buffer[] = []
    for (let pos = 0; pos < input.length;) {
      const n = 1 + Math.floor(rnd() * 8)
      const end = Math.min(input.length, pos + n)
      parts.push(enc.push(input.subarray(pos, end), end === input.length))
      pos = end
    }
    const got = Buffer.concat(parts)
    if (!got.equals(reference(input))) { t.fail(`round ${round}: ${input.toString('hex')}`); return }
  }
  t.pass('200 random inputs cut at random places')
})

t.test('file source: streamed conversion, forward and backward, size from the streaming pass', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-netascii-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const input = text(20000)
  const want = reference(input)
  const path = join(dir, 'f.txt')
  await writeFile(path, input)
  const fh = await open(path, 'r')
  const size = await netasciiSize(fh, input.length, 97)
  t.equal(size, want.length, 'size pass')
  const src = new NetasciiFileSource(fh, size, input.length, 97)
  t.teardown(() => src.close())
  const blk = 512
  const got = Buffer.alloc(size)
  // forward in windows of 4 blocks, going back one window now and then (a retransmission)
  let base = 0
  let rounds = 0
  while (base < size) {
    const len = Math.min(4 * blk, size - base)
    await src.ensure(base, len)
    src.slice(base, len).copy(got, base)
    t.ok((src as unknown as { buf: Buffer }).buf.length <= len + 2 * 97 + 2, 'holds about one window, not the file')
    if (++rounds % 3 === 0 && base >= 4 * blk) {
      const back = base - 4 * blk
      await src.ensure(back, 4 * blk)
      if (!src.slice(back, 4 * blk).equals(want.subarray(back, back + 4 * blk))) t.fail(`seek back to ${back}`)
    }
    base += len
  }
  t.ok(got.equals(want), 'every byte as the reference converts it')
})

t.test('sizes: one computation per file version for concurrent requests', async (t) => {
  const sizes = new NetasciiSizes(2)
  let calls = 0
  const compute = async (): Promise<number> => { calls++; return 7 }
  t.same(await Promise.all([sizes.get('a', compute), sizes.get('a', compute), sizes.get('a', compute)]), [7, 7, 7])
  t.equal(calls, 1)
  await sizes.get('b', compute)
  await sizes.get('c', compute)
  await sizes.get('a', compute)
  t.equal(calls, 4, 'bounded: the oldest was forgotten')
})
