// One download: resumable (HTTP Range), bounded (timeouts, redirects, bytes), verified before it is
// moved to its final name. A failure leaves at most `<dest>.part` (resumed next time), never `dest`.
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { lstat, rename, rm, stat, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import http from 'node:http'
import https from 'node:https'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Progress } from './progress.js'

/** Where a file comes from: a URL, or a file in a local folder (offline LANs). */
export type Location = { url: string } | { file: string }

export class FetchError extends Error {
  constructor(message: string, readonly retryable = false) {
    super(message)
    this.name = 'FetchError'
  }
}

export interface FetchLimits {
  /** no byte for this long: the attempt fails (ms) */
  idleTimeoutMs: number
  maxRedirects: number
  /** tries per file; each retry resumes where the last one stopped */
  attempts: number
}

export const DEFAULT_LIMITS: FetchLimits = { idleTimeoutMs: 30_000, maxRedirects: 5, attempts: 4 }

export interface FetchRequest {
  location: Location
  /** shown in progress lines and errors */
  name: string
  /** the verified file is renamed to this path */
  dest: string
  /** larger files are refused (the announced size and the bytes received both count) */
  maxBytes: number
  /** expected SHA-256 (hex); a mismatch deletes the download and throws */
  sha256?: string
  /** expected size in bytes */
  size?: number
}

export interface FetchResult { sha256: string; size: number }

export interface FetchContext {
  progress: Progress
  limits?: Partial<FetchLimits>
  /** backoff before a retry (tests pass 0) */
  retryDelayMs?: number
  userAgent?: string
}

export function isHex64(s: string): boolean {
  return /^[0-9a-f]{64}$/i.test(s)
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  await pipeline(createReadStream(path), h)
  return h.digest('hex')
}

/** `<from>/<name>` when the user gave --from URL|DIR, else the upstream URL. */
export function locate(upstreamUrl: string, name: string, from?: string): Location {
  if (!from) return { url: upstreamUrl }
  if (/^https?:\/\//i.test(from)) return { url: `${from.replace(/\/+$/, '')}/${name.split('/').map(encodeURIComponent).join('/')}` }
  return { file: join(from, ...name.split('/')) }
}

export function describe(l: Location): string {
  return 'url' in l ? l.url : l.file
}

/** Counts bytes, enforces the cap and reports progress. */
class Meter extends Transform {
  constructor(private done: number, private readonly max: number, private readonly onBytes: (n: number) => void) { super() }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.done += chunk.length
    if (this.done > this.max) { cb(new FetchError(`larger than the limit of ${this.max} bytes`)); return }
    this.onBytes(this.done)
    cb(null, chunk)
  }
}

async function sizeOf(path: string): Promise<number> {
  try { return (await stat(path)).size } catch { return 0 }
}

interface Opened { res: http.IncomingMessage; offset: number; total: number | null }

/** GET with Range from `offset`; follows at most maxRedirects redirects, never https → http. */
function open(url: string, offset: number, limits: FetchLimits, userAgent: string, hops = 0): Promise<Opened> {
  return new Promise((resolve, reject) => {
    let u: URL
    try { u = new URL(url) } catch { reject(new FetchError(`not a URL: ${url}`)); return }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') { reject(new FetchError(`only http and https URLs are fetched: ${url}`)); return }
    const headers: Record<string, string> = { 'user-agent': userAgent, 'accept-encoding': 'identity' }
    if (offset > 0) headers.range = `bytes=${offset}-`
    const req = (u.protocol === 'https:' ? https : http).get(u, { headers }, (res) => {
      const status = res.statusCode ?? 0
      if ([301, 302, 303, 307, 308].includes(status)) {
        res.resume()
        const loc = res.headers.location
        if (!loc) { reject(new FetchError(`${url}: redirect without a Location`)); return }
        if (hops >= limits.maxRedirects) { reject(new FetchError(`${url}: more than ${limits.maxRedirects} redirects`)); return }
        const next = new URL(loc, u)
        if (u.protocol === 'https:' && next.protocol !== 'https:') { reject(new FetchError(`${url}: refusing a redirect from https to ${next.protocol}`)); return }
        open(next.href, offset, limits, userAgent, hops + 1).then(resolve, reject)
        return
      }
      if (status === 206 && offset > 0) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''))
        if (!m || Number(m[1]) !== offset) { res.resume(); reject(new FetchError(`${url}: the server answered the range request with another range`, true)); return }
        resolve({ res, offset, total: m[3] === '*' ? null : Number(m[3]) })
        return
      }
      if (status === 200) {
        const len = res.headers['content-length']
        resolve({ res, offset: 0, total: len !== undefined && /^\d+$/.test(len) ? Number(len) : null })
        return
      }
      res.resume()
      if (status === 416 && offset > 0) { resolve({ res, offset: -1, total: null }); return }
      reject(new FetchError(`${url}: HTTP ${status}`, status >= 500 || status === 429))
    })
    req.setTimeout(limits.idleTimeoutMs, () => req.destroy(new FetchError(`${url}: no data for ${limits.idleTimeoutMs / 1000} s`, true)))
    req.on('error', (err) => reject(err instanceof FetchError ? err : new FetchError(`${url}: ${err.message}`, true)))
  })
}

async function attemptUrl(url: string, part: string, req: FetchRequest, limits: FetchLimits, ctx: FetchContext, ua: string): Promise<void> {
  let have = await sizeOf(part)
  if (req.size !== undefined && have > req.size) { await rm(part, { force: true }); have = 0 }
  if (req.size !== undefined && have === req.size) return
  const o = await open(url, have, limits, ua)
  if (o.offset === -1) {
    // 416: what we have is not a prefix the server knows; start over
    await rm(part, { force: true })
    throw new FetchError(`${url}: the partial download does not match; starting over`, true)
  }
  if (o.total !== null && o.total > req.maxBytes) { o.res.destroy(); throw new FetchError(`${req.name}: ${o.total} bytes is larger than the limit of ${req.maxBytes}`) }
  if (o.total !== null && req.size !== undefined && o.total !== req.size) { o.res.destroy(); throw new FetchError(`${req.name}: the server says ${o.total} bytes, expected ${req.size}`) }
  const total = o.total ?? req.size ?? null
  ctx.progress.start(req.name, total, o.offset)
  o.res.setTimeout(limits.idleTimeoutMs, () => o.res.destroy(new FetchError(`${url}: no data for ${limits.idleTimeoutMs / 1000} s`, true)))
  try {
    await pipeline(o.res, new Meter(o.offset, req.maxBytes, (n) => ctx.progress.update(n)), createWriteStream(part, { flags: o.offset > 0 ? 'a' : 'w' }))
  } catch (err) {
    throw err instanceof FetchError ? err : new FetchError(`${req.name}: the transfer broke (${(err as Error).message})`, true)
  } finally {
    ctx.progress.stop()
  }
  const got = await sizeOf(part)
  if (total !== null && got !== total) throw new FetchError(`${req.name}: the transfer stopped at ${got} of ${total} bytes`, true)
}

async function copyLocal(file: string, part: string, req: FetchRequest, ctx: FetchContext): Promise<void> {
  let st
  try { st = await lstat(file) } catch { throw new FetchError(`${file}: no such file`) }
  if (!st.isFile()) throw new FetchError(`${file}: not a regular file`)
  if (st.size > req.maxBytes) throw new FetchError(`${file}: ${st.size} bytes is larger than the limit of ${req.maxBytes}`)
  ctx.progress.start(req.name, st.size, 0)
  try {
    await pipeline(createReadStream(file), new Meter(0, req.maxBytes, (n) => ctx.progress.update(n)), createWriteStream(part))
  } finally {
    ctx.progress.stop()
  }
}

/**
 * Downloads (or copies) one file to `<dest>.part`, resuming what an earlier attempt left, checks
 * size and SHA-256, then renames it to `dest`. Throws FetchError; on a hash mismatch nothing is left.
 */
export async function fetchVerified(req: FetchRequest, ctx: FetchContext): Promise<FetchResult> {
  const limits = { ...DEFAULT_LIMITS, ...ctx.limits }
  const ua = ctx.userAgent ?? 'bootlab-fetch'
  const part = `${req.dest}.part`
  await mkdir(dirname(req.dest), { recursive: true })
  if (req.sha256 !== undefined && await sizeOf(req.dest) > 0 && await sha256File(req.dest) === req.sha256.toLowerCase()) {
    return { sha256: req.sha256.toLowerCase(), size: await sizeOf(req.dest) }
  }
  if ('file' in req.location) {
    await rm(part, { force: true })
    await copyLocal(req.location.file, part, req, ctx)
  } else {
    let lastErr: unknown
    let ok = false
    for (let i = 0; i < limits.attempts && !ok; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, (ctx.retryDelayMs ?? 1000) * i))
      try {
        await attemptUrl(req.location.url, part, req, limits, ctx, ua)
        ok = true
      } catch (err) {
        lastErr = err
        if (!(err instanceof FetchError && err.retryable)) break
      }
    }
    if (!ok) throw lastErr instanceof FetchError ? lastErr : new FetchError(String(lastErr))
  }
  const size = await sizeOf(part)
  if (req.size !== undefined && size !== req.size) {
    await rm(part, { force: true })
    throw new FetchError(`${req.name}: ${size} bytes, expected ${req.size}`)
  }
  const sha256 = await sha256File(part)
  if (req.sha256 !== undefined && sha256 !== req.sha256.toLowerCase()) {
    await rm(part, { force: true })
    throw new FetchError(`${req.name}: SHA-256 mismatch: got ${sha256}, expected ${req.sha256.toLowerCase()} (from ${describe(req.location)}); nothing was installed`)
  }
  await rename(part, req.dest)
  return { sha256, size }
}
