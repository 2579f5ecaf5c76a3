// The lease table on disk: a JSON snapshot (`<path>`, replaced atomically: temp file, fsync, rename,
// directory fsync) and a journal next to it (`<path>.journal`, one JSON line per changed lease,
// written with O_DSYNC so a save is one write that returns when the line is on disk). Loading reads
// the snapshot and replays the journal; the journal is folded into a new snapshot when it grows past
// twice the last snapshot (and at the first save after loading, which also drops a line torn by a crash).
// Snapshot and journal carry a generation number: a journal whose generation is not the snapshot's
// (a crash between writing the new snapshot and starting the new journal) is stale and ignored.
// The journal is created full of NUL bytes and the lines overwrite them in place: the file's size
// never changes, so a synced write is the data block alone (no inode update); its text ends at the
// first NUL.
import { close as closeCb, constants as fsc, open as openCb, write as writeCb } from 'node:fs'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { isGone, isLease, type Lease, type LeaseChange, type LeaseStore } from './leases.js'

/** journal lines kept before a rewrite: at least this many, or twice the last snapshot */
const MIN_JOURNAL_LINES = 256
/** room made in the journal per line it may take (a line is ~130 bytes; a long hostname makes it longer) */
const JOURNAL_BYTES_PER_LINE = 256
const MAX_JOURNAL_BYTES = 8 << 20

interface SnapshotDoc { version?: number; generation?: number; leases?: unknown }

async function readIfExists(path: string): Promise<string | null> {
  try { return await readFile(path, 'utf8') } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

/** writes all of `buf` at `position` of the file */
function writeAt(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number): void => {
      writeCb(fd, buf, off, buf.length - off, position + off, (err, n) => {
        if (err) reject(err)
        else if (off + n < buf.length) step(off + n)
        else resolve()
      })
    }
    step(0)
  })
}

/** makes a rename in `dir` durable */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY)
  try { await fh.sync() } finally { await fh.close() }
}

function openForSyncedWrites(path: string): Promise<number> {
  return new Promise((resolve, reject) => openCb(path, fsc.O_WRONLY | fsc.O_DSYNC, (err, fd) => (err ? reject(err) : resolve(fd))))
}

export class JsonFileLeaseStore implements LeaseStore {
  readonly journalPath: string
  private generation = 0
  private fd: number | null = null
  private journalLines = 0
  /** where the next journal line goes, and the journal's (fixed) size */
  private journalOffset = 0
  private journalBytes = 0
  /** leases in the last snapshot: the journal may grow to twice that before the next rewrite */
  private snapshotSize = 0
  /** the next save rewrites the snapshot (after loading, after a failed write) */
  private rewrite = true

  constructor(readonly path: string) {
    this.journalPath = `${path}.journal`
  }

  /** The leases as last saved: the snapshot with the journal replayed. Writes nothing. */
  async load(): Promise<Lease[]> {
    const text = await readIfExists(this.path)
    const byIp = new Map<string, Lease>()
    let generation = 0
    if (text !== null) {
      const doc = JSON.parse(text) as SnapshotDoc
      if (doc.version !== 1 || !Array.isArray(doc.leases)) throw new Error(`${this.path}: not a bootlab lease file`)
      generation = typeof doc.generation === 'number' ? doc.generation : 0
      for (const l of doc.leases) if (isLease(l)) byIp.set(l.ip, l)
    }
    const raw = await readIfExists(this.journalPath)
    const journal = raw === null ? null : raw.slice(0, raw.includes('\0') ? raw.indexOf('\0') : raw.length)
    if (journal !== null) {
      const lines = journal.split('\n')
      let head: unknown
      try { head = JSON.parse(lines[0] ?? '') } catch { head = null }
      if (typeof head === 'object' && head !== null && (head as { generation?: unknown }).generation === generation) {
        for (const line of lines.slice(1)) {
          if (line === '') continue
          let rec: unknown
          try { rec = JSON.parse(line) } catch { continue } // a line torn by a crash
          if (typeof rec !== 'object' || rec === null || typeof (rec as { ip?: unknown }).ip !== 'string') continue
          const r = rec as LeaseChange
          if (isGone(r)) byIp.delete(r.ip)
          else if (isLease(r)) byIp.set(r.ip, r)
        }
      }
    }
    this.generation = generation
    this.rewrite = true
    return [...byIp.values()]
  }

  async save(changes: LeaseChange[], all: () => Lease[]): Promise<void> {
    try {
      if (this.rewrite || this.fd === null) {
        await this.writeSnapshot(all())
        return
      }
      const buf = Buffer.from(changes.map((c) => JSON.stringify(c)).join('\n') + '\n')
      if (this.journalOffset + buf.length > this.journalBytes) {
        // no room left: the changes go into a new snapshot instead
        await this.writeSnapshot(all())
        return
      }
      await writeAt(this.fd, buf, this.journalOffset)
      this.journalOffset += buf.length
      this.journalLines += changes.length
      if (this.journalLines > this.maxJournalLines()) this.rewrite = true
    } catch (err) {
      this.rewrite = true
      this.closeJournal()
      throw err
    }
  }

  private maxJournalLines(): number {
    return Math.max(MIN_JOURNAL_LINES, 2 * this.snapshotSize)
  }

  /** Closes the journal (the files stay as they are; load() reads them back). */
  async close(): Promise<void> {
    this.closeJournal()
  }

  private closeJournal(): void {
    if (this.fd === null) return
    closeCb(this.fd, () => { /* nothing left to write */ })
    this.fd = null
  }

  /** New snapshot (next generation), then a new, empty journal of that generation. */
  private async writeSnapshot(leases: Lease[]): Promise<void> {
    this.closeJournal()
    const dir = dirname(this.path)
    await mkdir(dir, { recursive: true })
    const generation = this.generation + 1
    const tmp = `${this.path}.${process.pid}.tmp`
    const fh = await open(tmp, 'w', 0o644)
    try {
      await fh.writeFile(JSON.stringify({ version: 1, generation, leases }) + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    try { await rename(tmp, this.path) } catch (err) { await unlink(tmp).catch(() => {}); throw err }
    // the new snapshot must be durable before the old journal goes: a crash that kept the old
    // snapshot and the new (empty) journal would lose what the old journal held
    await fsyncDir(dir)
    this.generation = generation
    this.snapshotSize = leases.length
    // the journal of the previous generation is now stale; replace it with an empty one, its room
    // filled with NULs
    const head = Buffer.from(JSON.stringify({ generation, file: basename(this.path) }) + '\n')
    const size = Math.min(MAX_JOURNAL_BYTES, head.length + this.maxJournalLines() * JOURNAL_BYTES_PER_LINE)
    const journal = Buffer.alloc(size)
    head.copy(journal)
    const jtmp = `${this.journalPath}.${process.pid}.tmp`
    const jh = await open(jtmp, 'w', 0o644)
    try {
      await jh.writeFile(journal)
      await jh.sync()
    } finally {
      await jh.close()
    }
    try { await rename(jtmp, this.journalPath) } catch (err) { await unlink(jtmp).catch(() => {}); throw err }
    await fsyncDir(dir)
    this.fd = await openForSyncedWrites(this.journalPath)
    this.journalOffset = head.length
    this.journalBytes = size
    this.journalLines = 0
    this.rewrite = false
  }
}
