// Debian packages without apt: InRelease (OpenPGP-signed, checked with gpgv against Debian's
// keyring) → Packages (SHA-256 from InRelease) → .deb (SHA-256 from Packages), or a pinned .deb
// hash instead of the signature. Unpacked with dpkg-deb -x, or ar + tar when dpkg-deb is absent.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { fetchVerified, locate, FetchError, type FetchContext } from './download.js'
import { safeRelativePath } from './zip.js'

const run = promisify(execFile)

export const DEBIAN_MIRROR = 'https://deb.debian.org/debian'
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'

export interface DebianSource {
  suite: string
  component: string
  /** --from URL|DIR: a mirror with Debian's layout (dists/…, pool/…) */
  from?: string
  /** OpenPGP keyring for InRelease (default: Debian's archive keyring) */
  keyring?: string
  /** pinned SHA-256 of the .deb: no signature check (Packages only names the file) */
  sha256?: string
}

export interface DebPackage {
  name: string
  version: string
  filename: string
  sha256: string
  size: number
}

export interface FetchedDeb extends DebPackage {
  path: string
  trust: 'signed' | 'pinned'
  source: string
}

/** Fields of one RFC 822-style stanza. Continuation lines are appended with "\n". */
export function parseStanza(text: string): Map<string, string> {
  const m = new Map<string, string>()
  let key: string | null = null
  for (const line of text.split('\n')) {
    if (/^\s/.test(line) && key) { m.set(key, `${m.get(key)}\n${line.trim()}`); continue }
    const i = line.indexOf(':')
    if (i <= 0) continue
    key = line.slice(0, i)
    m.set(key, line.slice(i + 1).trim())
  }
  return m
}

/** The SHA256 list of a Release file: path → { sha256, size }. */
export function releaseHashes(release: string): Map<string, { sha256: string; size: number }> {
  const out = new Map<string, { sha256: string; size: number }>()
  const block = parseStanza(release).get('SHA256') ?? ''
  for (const line of block.split('\n')) {
    const m = /^([0-9a-f]{64})\s+(\d+)\s+(\S+)$/.exec(line.trim())
    if (m) out.set(m[3]!, { sha256: m[1]!, size: Number(m[2]) })
  }
  return out
}

/** The newest stanza for `name` in a Packages file. */
export function findPackage(packages: string, name: string): DebPackage | null {
  let best: DebPackage | null = null
  for (const stanza of packages.split(/\n\s*\n/)) {
    const f = parseStanza(stanza)
    if (f.get('Package') !== name) continue
    const filename = f.get('Filename') ?? ''
    const sha256 = f.get('SHA256') ?? ''
    const size = Number(f.get('Size'))
    if (!safeRelativePath(filename) || !/^[0-9a-f]{64}$/.test(sha256) || !Number.isSafeInteger(size)) continue
    const p: DebPackage = { name, version: f.get('Version') ?? '', filename, sha256, size }
    if (!best || compareVersions(p.version, best.version) > 0) best = p
  }
  return best
}

/** dpkg's version order: epoch, then upstream version, then Debian revision (after the last "-"). */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [number, string, string] => {
    const i = v.indexOf(':')
    const epoch = i > 0 ? Number(v.slice(0, i)) || 0 : 0
    const rest = i > 0 ? v.slice(i + 1) : v
    const d = rest.lastIndexOf('-')
    return d > 0 ? [epoch, rest.slice(0, d), rest.slice(d + 1)] : [epoch, rest, '']
  }
  const [ea, ua, ra] = split(a)
  const [eb, ub, rb] = split(b)
  return ea !== eb ? ea - eb : compareFragment(ua, ub) || compareFragment(ra, rb)
}

/** dpkg's verrevcmp: alternating non-digit runs (~ first, then end, letters, others) and numbers. */
function compareFragment(a: string, b: string): number {
  const order = (c: string | undefined): number => (c === undefined || /\d/.test(c) ? 0 : c === '~' ? -1 : /[A-Za-z]/.test(c) ? c.charCodeAt(0) : c.charCodeAt(0) + 256)
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    while ((i < a.length && !/\d/.test(a[i]!)) || (j < b.length && !/\d/.test(b[j]!))) {
      const d = order(a[i]) - order(b[j])
      if (d !== 0) return d
      i++; j++
    }
    let na = ''
    let nb = ''
    while (i < a.length && /\d/.test(a[i]!)) na += a[i++]
    while (j < b.length && /\d/.test(b[j]!)) nb += b[j++]
    const d = Number(na || 0) - Number(nb || 0)
    if (d !== 0) return d
  }
  return 0
}

async function which(cmd: string): Promise<boolean> {
  try { await run('sh', ['-c', `command -v ${cmd}`]); return true } catch { return false }
}

/** Checks an InRelease file with gpgv and returns only the signed text. */
export async function verifyInRelease(path: string, keyring: string): Promise<string> {
  if (!existsSync(keyring)) throw new FetchError(`keyring ${keyring} not found (install debian-archive-keyring, or pin the package with --sha256)`)
  if (!(await which('gpgv'))) throw new FetchError('gpgv is not installed (apt-get install gpgv), or pin the package with --sha256')
  const out = `${path}.verified`
  rmSync(out, { force: true })
  try {
    await run('gpgv', ['--keyring', keyring, '--output', out, path], { timeout: 30_000 })
  } catch (err) {
    rmSync(out, { force: true })
    const e = err as { stderr?: string }
    throw new FetchError(`the signature of ${path} does not verify with ${keyring}: ${(e.stderr ?? String(err)).trim().split('\n').slice(-2).join(' ')}`)
  }
  const text = readFileSync(out, 'utf8')
  rmSync(out, { force: true })
  return text
}

async function decompress(path: string): Promise<string> {
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path), { maxOutputLength: 512 * 1024 * 1024 }).toString('utf8')
  if (path.endsWith('.xz')) {
    const { stdout } = await run('xz', ['-dc', path], { maxBuffer: 512 * 1024 * 1024, encoding: 'buffer', timeout: 120_000 })
    return stdout.toString('utf8')
  }
  return readFileSync(path, 'utf8')
}

/** Finds, downloads and verifies one package of `arch` (e.g. "all", "arm64") from the suite. */
export async function fetchDeb(pkg: string, arch: string, src: DebianSource, cacheDir: string, ctx: FetchContext): Promise<FetchedDeb> {
  const dir = join(cacheDir, 'debian', src.suite)
  mkdirSync(dir, { recursive: true })
  const get = (rel: string, dest: string, maxBytes: number, expect?: { sha256: string; size: number }) =>
    fetchVerified({ location: locate(`${DEBIAN_MIRROR}/${rel}`, rel, src.from), name: rel, dest, maxBytes, ...(expect ?? {}) }, ctx)

  const inRelease = join(dir, 'InRelease')
  rmSync(inRelease, { force: true })
  await get(`dists/${src.suite}/InRelease`, inRelease, 4 * 1024 * 1024)
  let release: string
  const signed = !src.sha256
  if (signed) {
    release = await verifyInRelease(inRelease, src.keyring ?? DEBIAN_KEYRING)
    const f = parseStanza(release)
    if (f.get('Suite') !== src.suite && f.get('Codename') !== src.suite) throw new FetchError(`InRelease is for ${f.get('Codename') ?? f.get('Suite')}, not ${src.suite}`)
    // a mirror replaying an old signed InRelease (with known-bad packages) is caught by Valid-Until where the archive sets it
    const until = f.get('Valid-Until')
    if (until && !(Date.parse(until) > Date.now())) throw new FetchError(`InRelease of ${src.suite} expired (Valid-Until: ${until}): the mirror is stale or replaying an old file`)
  } else {
    release = readFileSync(inRelease, 'utf8')
  }
  const hashes = releaseHashes(release)
  const xz = await which('xz')
  const candidates = [...(xz ? ['Packages.xz'] : []), 'Packages.gz'].map((f) => `${src.component}/binary-${arch}/${f}`)
  const listed = candidates.find((c) => hashes.has(c))
  if (!listed) throw new FetchError(`InRelease of ${src.suite} lists no ${candidates.join(' or ')}`)
  const pkgsPath = join(dir, listed.replace(/\//g, '_'))
  await get(`dists/${src.suite}/${listed}`, pkgsPath, 256 * 1024 * 1024, signed ? hashes.get(listed)! : undefined)
  const found = findPackage(await decompress(pkgsPath), pkg)
  if (!found) throw new FetchError(`no package ${pkg} for ${arch} in ${src.suite}/${src.component}`)
  const debPath = join(dir, found.filename.split('/').pop()!)
  const expect = src.sha256 ? { sha256: src.sha256.toLowerCase(), size: undefined } : { sha256: found.sha256, size: found.size }
  await fetchVerified({
    location: locate(`${DEBIAN_MIRROR}/${found.filename}`, found.filename, src.from), name: found.filename, dest: debPath,
    maxBytes: 256 * 1024 * 1024, sha256: expect.sha256, ...(expect.size !== undefined ? { size: expect.size } : {}),
  }, ctx)
  return { ...found, path: debPath, trust: signed ? 'signed' : 'pinned', source: src.from ?? DEBIAN_MIRROR }
}

/** Members of an ar archive (a .deb): name → [offset, size]. */
export function arMembers(path: string): Map<string, [number, number]> {
  const fd = openSync(path, 'r')
  try {
    const magic = Buffer.alloc(8)
    readSync(fd, magic, 0, 8, 0)
    if (magic.toString('latin1') !== '!<arch>\n') throw new FetchError(`${path} is not a Debian package (ar archive)`)
    const out = new Map<string, [number, number]>()
    let pos = 8
    const hdr = Buffer.alloc(60)
    for (let i = 0; i < 16; i++) {
      if (readSync(fd, hdr, 0, 60, pos) < 60) break
      const name = hdr.toString('latin1', 0, 16).trim().replace(/\/$/, '')
      const size = Number(hdr.toString('latin1', 48, 58).trim())
      if (!Number.isSafeInteger(size) || size < 0) throw new FetchError(`${path}: bad ar member header`)
      out.set(name, [pos + 60, size])
      pos += 60 + size + (size % 2)
    }
    return out
  } finally {
    closeSync(fd)
  }
}

/** Unpacks a .deb's data into `dest` (an empty folder): dpkg-deb -x, else ar + tar. */
export async function unpackDeb(deb: string, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true })
  if (await which('dpkg-deb')) {
    await run('dpkg-deb', ['-x', deb, dest], { timeout: 120_000 })
    return
  }
  const members = arMembers(deb)
  const data = [...members.keys()].find((n) => /^data\.tar(\.(xz|gz|zst|bz2))?$/.test(n))
  if (!data) throw new FetchError(`${deb} has no data.tar member`)
  const [off, size] = members.get(data)!
  const buf = Buffer.alloc(size)
  const fd = openSync(deb, 'r')
  try { readSync(fd, buf, 0, size, off) } finally { closeSync(fd) }
  const tarFile = join(dest, `.${data}`)
  writeFileSync(tarFile, buf)
  try {
    // GNU tar refuses members with ".." and strips leading "/"; callers pick files with fileInside()
    await run('tar', ['-x', '--no-same-owner', '--no-same-permissions', '-f', tarFile, '-C', dest], { timeout: 120_000 })
  } finally {
    rmSync(tarFile, { force: true })
  }
}
