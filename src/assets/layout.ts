// Where fetched assets live, how they are put in place (atomically), and the record of what was
// fetched (state_dir/assets.json: versions, hashes, sources, trust-on-first-use pins).
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative, sep } from 'node:path'

export interface AssetRoots {
  /** server.paths.firmware */
  firmware: string
  /** server.paths.images */
  images: string
  /** server.state_dir */
  stateDir: string
}

export function downloadsDir(r: AssetRoots): string {
  return join(r.stateDir, 'downloads')
}

export interface AssetRecord {
  /** e.g. "rpi4-uefi", "ipxe", "grub-arm64", "ubuntu-24.04-arm64", "rpi5-boot" */
  asset: string
  version: string
  /** SHA-256 of what was downloaded (zip, deb, tarball) */
  sha256: string
  /** how the hash was trusted: pinned (manifest or --sha256), signed (Debian Release), sums (SHA256SUMS), tofu */
  trust: 'pinned' | 'signed' | 'sums' | 'tofu-recorded' | 'tofu-verified' | 'none'
  source: string
  fetched_at: string
  /** installed paths, relative to the firmware or images folder */
  files: string[]
  /** where `files` are: "firmware" or "images" */
  root: 'firmware' | 'images'
}

export interface AssetsFile {
  records: Record<string, AssetRecord>
  /** trust on first use: upstream file name → SHA-256 seen the first time */
  tofu: Record<string, string>
}

function recordsPath(r: AssetRoots): string {
  return join(r.stateDir, 'assets.json')
}

export function readAssetsFile(r: AssetRoots): AssetsFile {
  try {
    const j = JSON.parse(readFileSync(recordsPath(r), 'utf8')) as Partial<AssetsFile>
    return { records: j.records ?? {}, tofu: j.tofu ?? {} }
  } catch {
    return { records: {}, tofu: {} }
  }
}

export function writeAssetsFile(r: AssetRoots, f: AssetsFile): void {
  writeFileAtomic(recordsPath(r), JSON.stringify(f, null, 2) + '\n')
}

export function tmpName(dir: string, name: string): string {
  return join(dir, `.${name}.tmp-${randomBytes(4).toString('hex')}`)
}

export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = tmpName(dirname(path), basename(path))
  writeFileSync(tmp, data, { mode })
  renameSync(tmp, path)
}

/** Copies a file next to `dest` under a temporary name, then renames it over `dest`. */
export function installFile(src: string, dest: string): void {
  mkdirSync(dirname(dest), { recursive: true })
  const tmp = tmpName(dirname(dest), basename(dest))
  try {
    cpSync(src, tmp, { dereference: true })
    renameSync(tmp, dest)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
}

/** Moves a file into place: rename, or copy + rename across file systems. */
export function moveFile(src: string, dest: string): void {
  mkdirSync(dirname(dest), { recursive: true })
  try {
    renameSync(src, dest)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err
    installFile(src, dest)
    rmSync(src, { force: true })
  }
}

/**
 * Replaces directory `dest` with the finished directory `staged` (same parent): the old one is
 * renamed aside first, so a reader sees the old tree or the new one, never a mix for long.
 */
export function swapDir(staged: string, dest: string): void {
  const old = existsSync(dest) ? tmpName(dirname(dest), `${basename(dest)}.old`) : null
  if (old) renameSync(dest, old)
  try {
    renameSync(staged, dest)
  } catch (err) {
    if (old) renameSync(old, dest)
    throw err
  }
  if (old) rmSync(old, { recursive: true, force: true })
}

/** Points symlink `link` at `target` (relative) atomically: a new link under a temporary name, renamed over. */
export function switchLink(link: string, target: string): void {
  const tmp = tmpName(dirname(link), basename(link))
  symlinkSync(target, tmp)
  try {
    renameSync(tmp, link)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
}

export function readLink(link: string): string | null {
  try { return lstatSync(link).isSymbolicLink() ? readlinkSync(link) : null } catch { return null }
}

/**
 * The real path of `rel` inside `root` when it is a regular file there (symlinks allowed only
 * when they stay inside `root`), else null. Used to pick files out of unpacked packages.
 */
export function fileInside(root: string, rel: string): string | null {
  try {
    const realRoot = realpathSync(root)
    const real = realpathSync(join(root, rel))
    if (real !== realRoot && !real.startsWith(realRoot + sep)) return null
    return lstatSync(real).isFile() ? real : null
  } catch {
    return null
  }
}

export function relTo(root: string, path: string): string {
  return relative(root, path).split(sep).join('/')
}
