// GET/HEAD /files/<root>/<path>: kernels, initrds, ISOs, firmware, iPXE binaries. Files up to
// CACHE_MAX_FILE are served from one shared copy in memory (src/files/cache.ts: a rack of Pis asks
// for the same kernel and initrd at once), larger ones stream from disk, with Range (single range), HEAD, ETag, Last-Modified and conditional
// requests. Jailed (src/net/jail.ts): no `..`, no absolute paths, no NUL, backslashes or control
// characters, and symlinks must resolve inside their root (realpath check).
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Router, type Request, type Response } from 'express'
import type { Logger } from '../log.js'
import { checkSegment, JailError, resolveInRoot } from '../net/jail.js'
import { clientIp } from './client-ip.js'
import { FileCache } from '../files/cache.js'

/**
 * read-ahead per streamed download: 256 KiB (64 KiB cost a 200-Pi storm twice the time in syscalls
 * and callbacks); 256 connections at most (connection-limit.ts) hold 64 MiB at worst
 */
export const FILE_CHUNK = 256 * 1024
/** files up to this size are served from memory, at most CACHE_MAX_TOTAL of them at once */
export const CACHE_MAX_FILE = 64 * 1024 * 1024
export const CACHE_MAX_TOTAL = 128 * 1024 * 1024
/** a write from a cached file: no allocation, the socket holds a view of the shared copy */
const WRITE_CHUNK = 1024 * 1024

export interface ServedFile {
  ip: string
  /** '/images/ubuntu/linux' */
  path: string
  method: string
  status: number
  bytes: number
}

export interface FilesRouterDeps {
  /** first path segment → directory, e.g. { images: '/srv/images', firmware: '/srv/firmware' } (a function: read per request) */
  roots: Record<string, string> | (() => Record<string, string>)
  log: Logger
  /** called when a GET transfer starts (status 200 or 206) */
  onServed?: (f: ServedFile) => void
  /** idle timeout of a transfer; default 60 s */
  idleTimeoutMs?: number
  /** in-memory copies of files in demand; default one of CACHE_MAX_FILE / CACHE_MAX_TOTAL; null: always stream */
  cache?: FileCache | null
}

/** Writes `data` with backpressure; rejects when the connection closes first. */
async function sendBuffer(res: Response, data: Buffer): Promise<void> {
  for (let o = 0; o < data.length; o += WRITE_CHUNK) {
    if (res.destroyed) throw new Error('connection closed')
    if (res.write(data.subarray(o, Math.min(o + WRITE_CHUNK, data.length)))) continue
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        res.off('drain', onDrain)
        res.off('close', onClose)
        if (err) reject(err); else resolve()
      }
      const onDrain = (): void => done()
      const onClose = (): void => done(new Error('connection closed'))
      res.on('drain', onDrain)
      res.on('close', onClose)
    })
  }
  await new Promise<void>((resolve) => res.end(resolve))
}

/** Decodes and checks the segments of a request path; throws JailError for anything suspicious. */
function safeSegments(rawPath: string): string[] {
  const parts = rawPath.split('/').filter((s, i) => !(i === 0 && s === ''))
  const out: string[] = []
  for (const p of parts) {
    let d: string
    try {
      d = decodeURIComponent(p)
    } catch {
      throw new JailError('bad encoding')
    }
    if (d === '' || d === '.') throw new JailError('bad path segment')
    checkSegment(d)
    out.push(d)
  }
  if (out.length === 0) throw new JailError('empty path')
  return out
}

function etagFor(size: number, mtimeMs: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`
}

type RangeResult = { start: number; end: number } | 'unsatisfiable' | undefined

/** A single `bytes=` range; multiple ranges or garbage → undefined (whole file, as RFC 9110 allows). */
function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m) return undefined
  const [, a, b] = m
  if (a === '' && b === '') return undefined
  let start: number
  let end: number
  if (a === '') {
    const n = Number(b)
    if (n === 0) return 'unsatisfiable'
    start = Math.max(0, size - n)
    end = size - 1
  } else {
    start = Number(a)
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
    if (b !== '' && Number(b) < start) return undefined
  }
  if (start >= size || size === 0) return 'unsatisfiable'
  return { start, end }
}

function notModified(req: Request, etag: string, mtimeMs: number): boolean {
  const inm = req.headers['if-none-match']
  if (inm !== undefined) return inm.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*')
  const ims = req.headers['if-modified-since']
  if (ims !== undefined) {
    const t = Date.parse(ims)
    return !Number.isNaN(t) && Math.floor(mtimeMs / 1000) * 1000 <= t
  }
  return false
}

export function createFilesRouter(deps: FilesRouterDeps): Router {
  const router = Router()
  const idle = deps.idleTimeoutMs ?? 60_000
  const cache = deps.cache === undefined ? new FileCache(CACHE_MAX_FILE, CACHE_MAX_TOTAL) : deps.cache

  async function handle(req: Request, res: Response): Promise<void> {
    let file: string
    try {
      const segs = safeSegments(req.path)
      const roots = typeof deps.roots === 'function' ? deps.roots() : deps.roots
      const root = Object.hasOwn(roots, segs[0]!) ? roots[segs[0]!] : undefined
      if (root === undefined || segs.length < 2) throw new JailError('no such root')
      file = await resolveInRoot(root, segs.slice(1))
    } catch (err) {
      if (!(err instanceof JailError) && (err as NodeJS.ErrnoException).code === undefined) throw err
      if (err instanceof JailError) deps.log.debug({ path: req.path, why: err.message }, 'file request refused')
      res.status(404).type('text/plain').send('not found\n')
      return
    }
    const st = await stat(file).catch(() => undefined)
    if (!st || !st.isFile()) {
      res.status(404).type('text/plain').send('not found\n')
      return
    }
    const etag = etagFor(st.size, st.mtimeMs)
    res.set({
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Last-Modified': st.mtime.toUTCString(),
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-cache',
    })
    if (notModified(req, etag, st.mtimeMs)) {
      res.status(304).end()
      return
    }
    let range = parseRange(req.headers.range, st.size)
    const ifRange = req.headers['if-range']
    if (range !== undefined && ifRange !== undefined && ifRange !== etag && ifRange !== st.mtime.toUTCString()) range = undefined
    if (range === 'unsatisfiable') {
      res.status(416).set('Content-Range', `bytes */${st.size}`).end()
      return
    }
    const start = range?.start ?? 0
    const end = range?.end ?? st.size - 1
    const length = st.size === 0 ? 0 : end - start + 1
    res.status(range ? 206 : 200)
    res.set('Content-Length', String(length))
    if (range) res.set('Content-Range', `bytes ${start}-${end}/${st.size}`)
    if (req.method === 'HEAD' || length === 0) {
      res.end()
      return
    }
    res.setTimeout(idle, () => res.destroy())
    const relPath = '/' + safeSegments(req.path).join('/')
    const ip = clientIp(req) ?? ''
    try {
      deps.onServed?.({ ip, path: relPath, method: req.method, status: res.statusCode, bytes: length })
    } catch (err) {
      deps.log.error({ err: (err as Error).message }, 'files: onServed hook failed')
    }
    try {
      const data = await cache?.get(file, st.size, st.mtimeMs)
      if (data) await sendBuffer(res, data.subarray(start, end + 1))
      else await pipeline(createReadStream(file, { start, end, highWaterMark: FILE_CHUNK }), res)
    } catch (err) {
      deps.log.debug({ path: relPath, err: (err as Error).message }, 'file transfer aborted')
      if (!res.destroyed) res.destroy()
    }
  }

  router.get('/*path', (req, res, next) => handle(req, res).catch(next))
  return router
}
