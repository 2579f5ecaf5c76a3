// Test artefacts for the asset fetchers: zips shaped like a pftf release, a file server on
// 127.0.0.1 with Range support that can cut a response half way, Debian archive pieces.
import http from 'node:http'
import { createHash } from 'node:crypto'
import { deflateRawSync, crc32 as zcrc } from 'node:zlib'
import { readFileSync, statSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

export interface ZipSpec {
  name: string
  data?: Buffer
  method?: 0 | 8
  /** unix mode in the external attributes (e.g. 0o120777 for a symlink) */
  mode?: number
  /** override the size the central directory declares */
  declaredSize?: number
  /** override the CRC the central directory declares */
  crc?: number
}

/** A zip written by hand so tests can make it lie (names, sizes, CRCs, modes). */
export function makeZip(entries: ZipSpec[]): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0)
    const method = e.name.endsWith('/') ? 0 : (e.method ?? 8)
    const body = method === 8 ? deflateRawSync(data) : data
    const crc = e.crc ?? (zcrc as (b: Buffer) => number)(data)
    const size = e.declaredSize ?? data.length
    const name = Buffer.from(e.name, 'utf8')
    const lh = Buffer.alloc(30)
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x800, 6); lh.writeUInt16LE(method, 8)
    lh.writeUInt32LE(crc >>> 0, 14); lh.writeUInt32LE(body.length, 18); lh.writeUInt32LE(size, 22); lh.writeUInt16LE(name.length, 26)
    locals.push(lh, name, body)
    const ch = Buffer.alloc(46)
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE((3 << 8) | 20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0x800, 8); ch.writeUInt16LE(method, 10)
    ch.writeUInt32LE(crc >>> 0, 16); ch.writeUInt32LE(body.length, 20); ch.writeUInt32LE(size, 24); ch.writeUInt16LE(name.length, 28)
    const mode = e.mode ?? (e.name.endsWith('/') ? 0o040755 : 0o100644)
    ch.writeUInt32LE((mode << 16) >>> 0, 38); ch.writeUInt32LE(offset, 42)
    centrals.push(ch, name)
    offset += 30 + name.length + body.length
  }
  const cd = Buffer.concat(centrals)
  const eocd = Buffer.alloc(22)
  eocd.writeUInt32LE(0x06054b50, 0); eocd.writeUInt16LE(entries.length, 8); eocd.writeUInt16LE(entries.length, 10)
  eocd.writeUInt32LE(cd.length, 12); eocd.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, cd, eocd])
}

/** A zip with the file set of a pftf RPi4 release; `tag` makes the content differ between versions. */
export function pftfZip(tag: string): Buffer {
  const blob = (n: number, seed: string): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => seed.charCodeAt(i % seed.length) ^ (i & 0xff)))
  return makeZip([
    { name: 'RPI_EFI.fd', data: blob(300_000, `efi-${tag}`) },
    { name: 'start4.elf', data: blob(200_000, `start-${tag}`) },
    { name: 'fixup4.dat', data: blob(5000, 'fixup') },
    { name: 'config.txt', data: Buffer.from('arm_64bit=1\narmstub=RPI_EFI.fd\n') },
    { name: 'bcm2711-rpi-4-b.dtb', data: blob(50_000, 'dtb4b') },
    { name: 'bcm2711-rpi-400.dtb', data: blob(50_000, 'dtb400') },
    { name: 'bcm2711-rpi-cm4.dtb', data: blob(50_000, 'dtbcm4') },
    { name: 'overlays/', method: 0 },
    { name: 'overlays/miniuart-bt.dtbo', data: blob(2000, 'bt') },
    { name: 'overlays/upstream-pi4.dtbo', data: blob(2000, 'up') },
    { name: 'Readme.md', data: Buffer.from(`pftf ${tag}\n`) },
  ])
}

export interface RequestSeen { path: string; range: string | undefined }

export interface FileServer {
  url: string
  seen: RequestSeen[]
  /** the first GET of this path sends half the body, then drops the connection */
  cutOnce(path: string): void
  close(): Promise<void>
}

/** Serves files of `root` on 127.0.0.1 (GET, Range "bytes=N-"), for the fetch tests only. */
export async function startFileServer(root: string): Promise<FileServer> {
  const seen: RequestSeen[] = []
  const cut = new Set<string>()
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    seen.push({ path, range: req.headers.range })
    const file = join(root, path)
    if (path.includes('..') || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end(); return }
    const data = readFileSync(file)
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    const start = m ? Number(m[1]) : 0
    if (start >= data.length && m) { res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end(); return }
    const body = data.subarray(start)
    res.writeHead(m ? 206 : 200, { 'content-length': body.length, 'accept-ranges': 'bytes', ...(m ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}) })
    if (cut.delete(path)) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20))
      return
    }
    res.end(body)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    cutOnce: (p) => { cut.add(p) },
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }),
  }
}

import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'

/** Builds a .deb with dpkg-deb from `files` (path inside the package → content). */
export function buildDeb(out: string, pkg: string, version: string, arch: string, files: Record<string, Buffer | string>): Buffer {
  const work = mkdtempSync(join(tmpdir(), 'bootlab-deb-'))
  try {
    mkdirSync(join(work, 'DEBIAN'))
    writeFileSync(join(work, 'DEBIAN', 'control'), `Package: ${pkg}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: test <t@example.invalid>\nDescription: test package\n`)
    for (const [p, data] of Object.entries(files)) {
      mkdirSync(join(work, p, '..'), { recursive: true })
      writeFileSync(join(work, p), data)
    }
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', work, out], { stdio: 'ignore' })
    return readFileSync(out)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

export interface DebInRepo { pkg: string; version: string; arch: string; deb: Buffer; filename: string }

/** Packages stanzas for the debs (plus a decoy package), as Packages, Packages.gz and Packages.xz. */
export function writePackages(dir: string, debs: DebInRepo[]): Record<string, Buffer> {
  const text = [
    'Package: decoy\nVersion: 1\nArchitecture: all\nFilename: pool/main/d/decoy/decoy_1_all.deb\nSize: 3\nSHA256: ' + '1'.repeat(64) + '\n',
    ...debs.map((d) => `Package: ${d.pkg}\nVersion: ${d.version}\nArchitecture: ${d.arch}\nMaintainer: test\nFilename: ${d.filename}\nSize: ${d.deb.length}\nSHA256: ${sha256(d.deb)}\nDescription: test\n multi-line\n`),
  ].join('\n')
  mkdirSync(dir, { recursive: true })
  const plain = Buffer.from(text)
  writeFileSync(join(dir, 'Packages'), plain)
  writeFileSync(join(dir, 'Packages.gz'), gzipSync(plain))
  execFileSync('xz', ['-k', '-f', join(dir, 'Packages')])
  return { Packages: plain, 'Packages.gz': gzipSync(plain), 'Packages.xz': readFileSync(join(dir, 'Packages.xz')) }
}

export function releaseText(codename: string, files: Record<string, Buffer>, validUntil?: string): string {
  return `Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: ${codename}\nDate: Sat, 01 Nov 2026 10:00:00 UTC\n${validUntil ? `Valid-Until: ${validUntil}\n` : ''}Architectures: all amd64 arm64\nComponents: main\nSHA256:\n${Object.entries(files).map(([p, b]) => ` ${sha256(b)} ${String(b.length).padStart(9)} ${p}`).join('\n')}\n`
}

export interface Gpg { home: string; keyring: string; clearsign(inFile: string, outFile: string): void; detachSign(inFile: string, outFile: string): void; cleanup(): void }

/** A throwaway OpenPGP key (ed25519) in its own GNUPGHOME; cleanup stops that home's agent. */
export function throwawayGpg(name: string): Gpg {
  const home = mkdtempSync(join(tmpdir(), 'bootlab-gpg-'))
  const gpg = (...args: string[]): void => { execFileSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { stdio: 'ignore' }) }
  gpg('--quick-gen-key', `${name} <test@example.invalid>`, 'ed25519', 'sign', 'never')
  const keyring = join(home, 'export.gpg')
  execFileSync('gpg', ['--homedir', home, '--batch', '--yes', '--output', keyring, '--export'], { stdio: 'ignore' })
  return {
    home, keyring,
    clearsign: (inFile, outFile) => gpg('--yes', '--digest-algo', 'SHA256', '--output', outFile, '--clearsign', inFile),
    detachSign: (inFile, outFile) => gpg('--yes', '--digest-algo', 'SHA256', '--output', outFile, '--detach-sign', inFile),
    cleanup: () => {
      try { execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore' }) } catch { /* no agent */ }
      rmSync(home, { recursive: true, force: true })
    },
  }
}

import { execFile } from 'node:child_process'

export interface Run { code: number; stdout: string; stderr: string }

/** Runs bootlab's CLI from the sources (asynchronously: the test's own server keeps answering). */
export function bootlab(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { timeout: 120_000, env: { ...process.env, BOOTLAB_FETCH_RETRY_MS: '0' } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }))
  })
}

/** A temporary folder removed when the test `t` ends. */
export function tmpDir(t: { teardown(fn: () => void): void }, prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}
