// `bootlab fetch ubuntu 24.04 --arch arm64|amd64`: the netboot kernel + initrd and the live-server
// ISO, verified against the release's SHA256SUMS (and its signature when a keyring is given).
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fetchVerified, locate, FetchError, type FetchContext } from './download.js'
import { downloadsDir, fileInside, installFile, readAssetsFile, writeAssetsFile, type AssetRoots } from './layout.js'
import type { FetchOutcome } from './rpi4-uefi.js'

const run = promisify(execFile)

export const UBUNTU_RELEASES = ['24.04'] as const
export type UbuntuArch = 'amd64' | 'arm64'

/** amd64 images live on releases.ubuntu.com, arm64 on cdimage.ubuntu.com. */
export function ubuntuBase(release: string, arch: UbuntuArch): string {
  return arch === 'amd64' ? `https://releases.ubuntu.com/${release}` : `https://cdimage.ubuntu.com/releases/${release}/release`
}

/** Folder under images/ (what profiles name: `ubuntu-24.04/arm64/linux`). */
export function ubuntuDir(release: string): string {
  return `ubuntu-${release}`
}

export function ubuntuIsoName(release: string, arch: UbuntuArch): string {
  return `${ubuntuDir(release)}/ubuntu-${release}-live-server-${arch}.iso`
}

/** name → sha256 from a SHA256SUMS file ("<hex> *<name>" or "<hex>  <name>"). */
export function parseSha256Sums(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *]([A-Za-z0-9._+-]+)$/.exec(line.trim())
    if (m) out.set(m[2]!, m[1]!)
  }
  return out
}

/** The newest point release of `<kind>` listed, e.g. ubuntu-24.04.3-netboot-arm64.tar.gz. */
export function newestListed(sums: Map<string, string>, release: string, kind: 'netboot' | 'live-server', arch: UbuntuArch): string | null {
  const ext = kind === 'netboot' ? 'tar\\.gz' : 'iso'
  const re = new RegExp(`^ubuntu-${release.replace('.', '\\.')}(?:\\.(\\d+))?-${kind}-${arch}\\.${ext}$`)
  let best: { name: string; point: number } | null = null
  for (const name of sums.keys()) {
    const m = re.exec(name)
    if (!m) continue
    const point = Number(m[1] ?? 0)
    if (!best || point > best.point) best = { name, point }
  }
  return best?.name ?? null
}

export interface UbuntuOptions {
  release: string
  arch: UbuntuArch
  from?: string
  /** OpenPGP keyring holding Ubuntu's CD image signing key: SHA256SUMS.gpg is then checked */
  keyring?: string
  /** skip the live-server ISO (kernel and initrd only) */
  noIso?: boolean
}

export async function fetchUbuntu(roots: AssetRoots, o: UbuntuOptions, ctx: FetchContext): Promise<FetchOutcome> {
  if (!(UBUNTU_RELEASES as readonly string[]).includes(o.release)) throw new FetchError(`Ubuntu ${o.release} is not supported (${UBUNTU_RELEASES.join(', ')})`)
  const base = ubuntuBase(o.release, o.arch)
  const cache = join(downloadsDir(roots), ubuntuDir(o.release), o.arch)
  mkdirSync(cache, { recursive: true })
  const notes: string[] = []
  const sumsPath = join(cache, 'SHA256SUMS')
  rmSync(sumsPath, { force: true })
  await fetchVerified({ location: locate(`${base}/SHA256SUMS`, 'SHA256SUMS', o.from), name: 'SHA256SUMS', dest: sumsPath, maxBytes: 1024 * 1024 }, ctx)
  let trust: 'sums' | 'signed' = 'sums'
  if (o.keyring) {
    const sig = join(cache, 'SHA256SUMS.gpg')
    rmSync(sig, { force: true })
    await fetchVerified({ location: locate(`${base}/SHA256SUMS.gpg`, 'SHA256SUMS.gpg', o.from), name: 'SHA256SUMS.gpg', dest: sig, maxBytes: 64 * 1024 }, ctx)
    try {
      await run('gpgv', ['--keyring', o.keyring, sig, sumsPath], { timeout: 30_000 })
    } catch (err) {
      throw new FetchError(`SHA256SUMS: the signature does not verify with ${o.keyring}: ${String((err as { stderr?: string }).stderr ?? err).trim().split('\n').pop()}`)
    }
    trust = 'signed'
  } else {
    notes.push('SHA256SUMS was fetched over HTTPS but its signature was not checked (give --keyring with Ubuntu\'s CD image key to check it)')
  }
  const sums = parseSha256Sums(readFileSync(sumsPath, 'utf8'))
  const tarName = newestListed(sums, o.release, 'netboot', o.arch)
  if (!tarName) throw new FetchError(`SHA256SUMS lists no netboot tarball for ${o.release} ${o.arch}`)
  const version = /^ubuntu-([\d.]+)-/.exec(tarName)![1]!
  const tarPath = join(cache, tarName)
  await fetchVerified({ location: locate(`${base}/${tarName}`, tarName, o.from), name: tarName, dest: tarPath, maxBytes: 1024 * 1024 * 1024, sha256: sums.get(tarName)! }, ctx)

  const dir = ubuntuDir(o.release)
  const work = mkdtempSync(join(cache, '.unpack-'))
  const files: string[] = []
  try {
    // GNU tar strips leading "/" and refuses ".."; the two files are picked as regular files inside `work`
    await run('tar', ['-x', '--no-same-owner', '--no-same-permissions', '-z', '-f', tarPath, '-C', work], { timeout: 300_000 })
    for (const f of ['linux', 'initrd']) {
      const src = fileInside(work, `${o.arch}/${f}`) ?? fileInside(work, `./${f}`)
      if (!src) throw new FetchError(`${tarName} has no ${o.arch}/${f}`)
      const rel = `${dir}/${o.arch}/${f}`
      installFile(src, join(roots.images, rel))
      files.push(rel)
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  if (!o.noIso) {
    const isoName = newestListed(sums, o.release, 'live-server', o.arch)
    if (!isoName) throw new FetchError(`SHA256SUMS lists no live-server ISO for ${o.release} ${o.arch}`)
    const rel = ubuntuIsoName(o.release, o.arch)
    // downloaded next to its final name (a 3 GB copy is not made twice); `<name>.part` until verified
    await fetchVerified({ location: locate(`${base}/${isoName}`, isoName, o.from), name: isoName, dest: join(roots.images, rel), maxBytes: 16 * 1024 * 1024 * 1024, sha256: sums.get(isoName)! }, ctx)
    files.push(rel)
  }
  const state = readAssetsFile(roots)
  state.records[`ubuntu-${o.release}-${o.arch}`] = {
    asset: `ubuntu-${o.release}-${o.arch}`, version, sha256: sums.get(tarName)!, trust, source: o.from ?? base,
    fetched_at: new Date().toISOString(), files, root: 'images',
  }
  writeAssetsFile(roots, state)
  return { asset: `ubuntu-${o.release}-${o.arch}`, version, sha256: sums.get(tarName)!, trust, installed: join(roots.images, dir), notes }
}
