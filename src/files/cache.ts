// Whole files kept in memory while they are in demand: the same start4.elf for fifty Pis over TFTP,
// the same kernel and initrd for a rack of them over HTTP. An entry is valid only for the exact
// (path, size, mtime, inode) it was read with, so a changed file is read again; the total is capped
// (least recently used first out) and an entry nobody asked for within `idleMs` is dropped, so an
// idle server gives the memory back.
import { readFile, stat } from 'node:fs/promises'

interface CacheEntry { key: string; data: Buffer; usedAt: number }

export interface FileCacheOptions {
  /** an entry unused this long is dropped (default 120 s; 0: never) */
  idleMs?: number
}

export class FileCache {
  private readonly entries = new Map<string, CacheEntry>()
  private readonly loading = new Map<string, Promise<Buffer | null>>()
  private total = 0
  private readonly idleMs: number
  private sweeper: NodeJS.Timeout | null = null
  hits = 0
  misses = 0
  constructor(readonly maxFileBytes: number, readonly maxTotalBytes: number, o: FileCacheOptions = {}) {
    this.idleMs = o.idleMs ?? 120_000
  }

  get bytes(): number { return this.total }

  /** The file's bytes if it is small enough to cache (loading it once), else null. */
  async get(path: string, size: number, mtimeMs: number): Promise<Buffer | null> {
    if (size > this.maxFileBytes || this.maxTotalBytes <= 0) return null
    const st = await stat(path)
    const key = `${st.size}:${st.mtimeMs}:${st.ino}`
    if (st.size !== size || st.mtimeMs !== mtimeMs) return null
    const hit = this.entries.get(path)
    if (hit && hit.key === key) {
      this.entries.delete(path)
      this.entries.set(path, hit) // LRU order
      hit.usedAt = Date.now()
      this.hits++
      return hit.data
    }
    const pending = this.loading.get(`${path}\0${key}`)
    if (pending) return await pending
    this.misses++
    const p = this.load(path, key, size).finally(() => this.loading.delete(`${path}\0${key}`))
    this.loading.set(`${path}\0${key}`, p)
    return await p
  }

  /** Drops the entries unused for `idleMs` (also done on a timer while the cache holds anything). */
  sweep(now = Date.now()): void {
    for (const [p, e] of this.entries) if (now - e.usedAt >= this.idleMs) this.drop(p)
    if (this.entries.size === 0 && this.sweeper) { clearInterval(this.sweeper); this.sweeper = null }
  }

  private async load(path: string, key: string, size: number): Promise<Buffer | null> {
    const data = await readFile(path)
    const after = await stat(path)
    if (data.length !== size || `${after.size}:${after.mtimeMs}:${after.ino}` !== key) return null // changed while reading
    this.drop(path)
    this.entries.set(path, { key, data, usedAt: Date.now() })
    this.total += data.length
    for (const [p, e] of this.entries) {
      if (this.total <= this.maxTotalBytes) break
      this.entries.delete(p)
      this.total -= e.data.length
    }
    if (this.idleMs > 0 && !this.sweeper && this.entries.size > 0) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(1000, this.idleMs / 2))
      this.sweeper.unref()
    }
    return data
  }

  private drop(path: string): void {
    const old = this.entries.get(path)
    if (old) { this.entries.delete(path); this.total -= old.data.length }
  }
}
