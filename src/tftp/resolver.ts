// File resolution for TFTP: the server asks a TftpResolver for every requested name. The layered
// resolver answers, in order: generated files (a hook) → Raspberry Pi prefix `<8 hex serial>/<path>`
// mapped to that machine's firmware set (a hook) → each root directory (tftproot/, firmware/).
// Every disk lookup is jailed to its root (src/net/jail.ts): `..`, backslashes, NUL, control
// characters and symlinks resolving outside the root are refused (AccessDenied → TFTP error 2).
import { EventEmitter } from 'node:events'
import { realpath, stat } from 'node:fs/promises'
import { JailError, resolveInRealRoot, segmentProblem } from '../net/jail.js'

export interface ClientInfo { address: string; port: number }

export type Resolved =
  /** generated in memory (e.g. a per-machine config.txt) */
  | { kind: 'bytes'; data: Buffer; layer: string }
  /** a regular file on disk, already jailed; size and mtime as seen at resolution */
  | { kind: 'file'; path: string; size: number; mtimeMs: number; layer: string }

export interface TftpResolver {
  /** null → file not found (TFTP error 1); throw AccessDenied → access violation (error 2) */
  resolve(name: string, client: ClientInfo): Promise<Resolved | null>
}

export class AccessDenied extends Error {
  constructor(message: string) { super(message); this.name = 'AccessDenied' }
}

/** What the generated-file hook and the Pi prefix hook are told about a request. */
export interface RequestContext {
  client: ClientInfo
  /** the requested name, normalised (no leading slash, no empty or "." components) */
  name: string
  /** Raspberry Pi serial (8 lowercase hex digits) when the name starts with `<serial>/`, else null */
  serial: string | null
  /** the name without the Pi prefix (equal to `name` when there is none) */
  path: string
}

export interface PiPrefixTarget {
  /** directory holding this machine's firmware set, e.g. firmware/rpi4 */
  firmwareDir: string
  /** machine name, when the serial belongs to a known machine (for the event only) */
  machine?: string | undefined
}

export interface PiPrefixSeen {
  serial: string
  client: ClientInfo
  machine: string | null
  /** whether the piPrefix hook mapped the serial to a firmware set */
  mapped: boolean
  /** the first file asked under this prefix */
  file: string
}

/** A file on disk chosen by the generated-file hook: `path` (a normalised relative name) jailed to `root`. */
export interface FileRef { root: string; path: string }

export type Generated = Buffer | string | FileRef | null

export interface LayeredResolverOptions {
  /** generated files, or a file on disk the hook chose (jailed here); null passes the request on */
  generated?: (ctx: RequestContext) => Generated | Promise<Generated>
  /** maps a Pi serial to its firmware set; null → not mapped (the next layers still apply) */
  piPrefix?: (serial: string, ctx: RequestContext) => PiPrefixTarget | null | Promise<PiPrefixTarget | null>
  /** directories tried in order with the full name, e.g. [tftproot, firmware] */
  roots: string[]
}

export interface ResolverEvents {
  /** a `<serial>/…` request from a client address not seen with that serial before */
  'tftp.pi_prefix': [PiPrefixSeen]
}

const PI_PREFIX = /^([0-9a-fA-F]{8})\/(.+)$/

/** Normalises a requested name or throws AccessDenied. A leading "/" means the root (as tftpd-hpa -s). */
export function normaliseName(raw: string): string {
  const parts: string[] = []
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue
    const why = segmentProblem(part)
    if (why !== null) throw new AccessDenied(why)
    parts.push(part)
  }
  if (parts.length === 0) throw new AccessDenied('empty file name')
  return parts.join('/')
}

/**
 * Looks `rel` (a normalised name) up under `root`; null if absent or not a regular file. Throws
 * AccessDenied when the real path (after symlinks) leaves the root.
 */
export async function jailedLookup(root: string, rel: string): Promise<{ path: string; size: number; mtimeMs: number } | null> {
  let realRoot: string
  try { realRoot = await realpath(root) } catch { return null }
  let real: string
  try {
    real = await resolveInRealRoot(realRoot, rel.split('/'))
  } catch (err) {
    if (err instanceof JailError) throw new AccessDenied(err.message)
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    if (code === 'ELOOP') throw new AccessDenied('symlink loop')
    throw err
  }
  const st = await stat(real)
  if (!st.isFile()) return null
  return { path: real, size: st.size, mtimeMs: st.mtimeMs }
}

export class LayeredResolver extends EventEmitter<ResolverEvents> implements TftpResolver {
  /** serial → client addresses already announced (bounded) */
  private readonly seen = new Map<string, string>()

  constructor(private readonly o: LayeredResolverOptions) { super() }

  async resolve(rawName: string, client: ClientInfo): Promise<Resolved | null> {
    const name = normaliseName(rawName)
    const m = PI_PREFIX.exec(name)
    const serial = m ? m[1]!.toLowerCase() : null
    const ctx: RequestContext = { client, name, serial, path: m ? m[2]! : name }

    // the prefix is looked up (and announced) first, so a generated file still pairs serial and client
    let target: PiPrefixTarget | null = null
    if (serial !== null && this.o.piPrefix) {
      target = await this.o.piPrefix(serial, ctx)
      this.announce(serial, client, target, name)
    }
    if (this.o.generated) {
      const g = await this.o.generated(ctx)
      if (typeof g === 'string' || Buffer.isBuffer(g)) return { kind: 'bytes', data: typeof g === 'string' ? Buffer.from(g) : g, layer: 'generated' }
      if (g !== null) {
        const hit = await jailedLookup(g.root, normaliseName(g.path))
        if (hit) return { kind: 'file', ...hit, layer: 'generated' }
      }
    }
    if (target) {
      const hit = await jailedLookup(target.firmwareDir, ctx.path)
      if (hit) return { kind: 'file', ...hit, layer: 'pi-prefix' }
    }
    for (const root of this.o.roots) {
      const hit = await jailedLookup(root, name)
      if (hit) return { kind: 'file', ...hit, layer: root }
    }
    return null
  }

  private announce(serial: string, client: ClientInfo, target: PiPrefixTarget | null, file: string): void {
    if (this.seen.get(serial) === client.address) return
    if (this.seen.size >= 4096) this.seen.clear()
    this.seen.set(serial, client.address)
    this.emit('tftp.pi_prefix', { serial, client, machine: target?.machine ?? null, mapped: target !== null, file })
  }
}
