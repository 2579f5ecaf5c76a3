// src/files/cache.ts: one copy per file version, capped, least recently used out, idle entries dropped.
import t from 'tap'
import { mkdtempSync, writeFileSync, statSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileCache } from '../src/files/cache.js'

const dir = mkdtempSync(join(tmpdir(), 'bootlab-cache-'))
function file(name: string, bytes: number, fill: number): { path: string; size: number; mtimeMs: number } {
  const path = join(dir, name)
  writeFileSync(path, Buffer.alloc(bytes, fill))
  const st = statSync(path)
  return { path, size: st.size, mtimeMs: st.mtimeMs }
}

t.test('one copy, shared by concurrent readers', async (t) => {
  const c = new FileCache(1000, 3000)
  const a = file('a', 500, 1)
  const [x, y] = await Promise.all([c.get(a.path, a.size, a.mtimeMs), c.get(a.path, a.size, a.mtimeMs)])
  t.equal(x, y, 'the same Buffer')
  t.equal(c.misses, 1)
  t.equal((await c.get(a.path, a.size, a.mtimeMs))?.[0], 1)
  t.equal(c.hits, 1)
  t.equal(c.bytes, 500)
})

t.test('too big, over the total, changed files', async (t) => {
  const c = new FileCache(1000, 1500)
  const big = file('big', 1001, 2)
  t.equal(await c.get(big.path, big.size, big.mtimeMs), null, 'over the per-file cap')
  const f1 = file('f1', 800, 3)
  const f2 = file('f2', 800, 4)
  await c.get(f1.path, f1.size, f1.mtimeMs)
  await c.get(f2.path, f2.size, f2.mtimeMs)
  t.equal(c.bytes, 800, 'the least recently used went out')
  const f3 = file('f2', 800, 5) // rewritten: a new version
  utimesSync(f3.path, new Date(), new Date(Date.now() + 5000))
  const st = statSync(f3.path)
  t.equal(await c.get(f3.path, st.size, f2.mtimeMs), null, 'a caller with a stale stat gets no bytes')
  t.equal((await c.get(f3.path, st.size, st.mtimeMs))?.[0], 5, 'the new version is read')
  t.equal(c.bytes, 800, 'and replaces the old one')
})

t.test('entries unused for idleMs are dropped', async (t) => {
  const c = new FileCache(1000, 3000, { idleMs: 60_000 })
  const a = file('i', 700, 6)
  await c.get(a.path, a.size, a.mtimeMs)
  c.sweep(Date.now() + 30_000)
  t.equal(c.bytes, 700, 'still in use')
  c.sweep(Date.now() + 61_000)
  t.equal(c.bytes, 0, 'given back')
})
