// bootlab fetch ipxe / grub-arm64 from a Debian-shaped archive served on 127.0.0.1: InRelease signed
// with a throwaway key (gpgv checks it), Packages hashes, .debs built with dpkg-deb.
import t from 'tap'
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildDeb, releaseText, sha256, startFileServer, throwawayGpg, writePackages, bootlab, tmpDir } from './helpers.js'
import { unpackDeb, compareVersions, findPackage } from '../../src/assets/debian.js'

const tmp = (p: string): string => tmpDir(t, p)

const mirror = tmp('bootlab-mirror-')
const gpg = throwawayGpg('bootlab test archive')
t.teardown(() => gpg.cleanup())
const stranger = throwawayGpg('someone else')
t.teardown(() => stranger.cleanup())

const IPXE = {
  'usr/lib/ipxe/ipxe-amd64.efi': 'x64-native', 'usr/lib/ipxe/snponly.efi': 'x64-snp', 'usr/lib/ipxe/undionly.kpxe': 'bios-undi',
  'usr/lib/ipxe/ipxe-arm64.efi': 'arm64-full', 'usr/lib/ipxe/ipxe.iso': 'iso',
}
const ipxeName = 'pool/main/i/ipxe/ipxe_1.21.1+git20250101-1_all.deb'
mkdirSync(join(mirror, 'pool/main/i/ipxe'), { recursive: true })
const ipxeDeb = buildDeb(join(mirror, ipxeName), 'ipxe', '1.21.1+git20250101-1', 'all', IPXE)
const grubName = 'pool/main/g/grub2/grub-efi-arm64-bin_2.12-9_arm64.deb'
mkdirSync(join(mirror, 'pool/main/g/grub2'), { recursive: true })
const grubDeb = buildDeb(join(mirror, grubName), 'grub-efi-arm64-bin', '2.12-9', 'arm64', {
  'usr/lib/grub/arm64-efi/monolithic/grubnetaa64.efi': 'grub-net-image', 'usr/lib/grub/arm64-efi/normal.mod': 'mod-normal', 'usr/lib/grub/arm64-efi/linux.mod': 'mod-linux',
})
const dists = join(mirror, 'dists/trixie')
const all = writePackages(join(dists, 'main/binary-all'), [{ pkg: 'ipxe', version: '1.21.1+git20250101-1', arch: 'all', deb: ipxeDeb, filename: ipxeName }])
const arm = writePackages(join(dists, 'main/binary-arm64'), [{ pkg: 'grub-efi-arm64-bin', version: '2.12-9', arch: 'arm64', deb: grubDeb, filename: grubName }])
const listed: Record<string, Buffer> = {}
for (const [n, b] of Object.entries(all)) listed[`main/binary-all/${n}`] = b
for (const [n, b] of Object.entries(arm)) listed[`main/binary-arm64/${n}`] = b
writeFileSync(join(dists, 'Release'), releaseText('trixie', listed))
gpg.clearsign(join(dists, 'Release'), join(dists, 'InRelease'))

const server = await startFileServer(mirror)
t.teardown(() => server.close())

t.test('ipxe: InRelease signature → Packages hash → .deb hash; files land where the DHCP defaults point', async (t) => {
  const state = tmp('bootlab-state-')
  const r = await bootlab('fetch', 'ipxe', '--state-dir', state, '--from', server.url, '--keyring', gpg.keyring)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, new RegExp(`fetched ipxe 1\\.21\\.1\\+git20250101-1 \\(sha256 ${sha256(ipxeDeb)}, signed\\)`))
  const fw = join(state, 'firmware', 'ipxe')
  t.equal(readFileSync(join(fw, 'ipxe.efi'), 'utf8'), 'x64-native')
  t.equal(readFileSync(join(fw, 'snponly.efi'), 'utf8'), 'x64-snp')
  t.equal(readFileSync(join(fw, 'undionly.kpxe'), 'utf8'), 'bios-undi')
  t.equal(readFileSync(join(fw, 'snp-arm64.efi'), 'utf8'), 'arm64-full')
  t.same(readdirSync(fw).sort(), ['ipxe.efi', 'snp-arm64.efi', 'snponly.efi', 'undionly.kpxe'], 'nothing else, no temporary names')
  const paths = server.seen.map((s) => s.path)
  t.ok(paths.includes('/dists/trixie/InRelease') && paths.includes('/dists/trixie/main/binary-all/Packages.xz') && paths.includes(`/${ipxeName}`))
  const img = await bootlab('images', '--state-dir', state)
  t.equal(img.code, 0, img.stderr)
  t.match(img.stdout, /ipxe\/ipxe\.efi .* ipxe 1\.21\.1\+git20250101-1 \[signed\]/)
})

t.test('an InRelease signed by another key is refused; nothing is installed', async (t) => {
  const state = tmp('bootlab-state-')
  const r = await bootlab('fetch', 'ipxe', '--state-dir', state, '--from', server.url, '--keyring', stranger.keyring)
  t.equal(r.code, 8)
  t.match(r.stderr, /signature of .*InRelease does not verify/)
  t.notOk(existsSync(join(state, 'firmware')))
})

t.test('a .deb that does not match Packages is refused; --sha256 pins the .deb instead of the signature', async (t) => {
  const other = tmp('bootlab-mirror2-')
  // same archive, but the pool file was swapped for another build
  for (const f of ['dists/trixie/InRelease', 'dists/trixie/main/binary-all/Packages.xz', 'dists/trixie/main/binary-all/Packages.gz']) {
    mkdirSync(join(other, f, '..'), { recursive: true })
    writeFileSync(join(other, f), readFileSync(join(mirror, f)))
  }
  mkdirSync(join(other, 'pool/main/i/ipxe'), { recursive: true })
  const evil = buildDeb(join(other, ipxeName), 'ipxe', '1.21.1+git20250101-1', 'all', { ...IPXE, 'usr/lib/ipxe/ipxe-amd64.efi': 'evil' })
  const state = tmp('bootlab-state-')
  const r = await bootlab('fetch', 'ipxe', '--state-dir', state, '--from', other, '--keyring', gpg.keyring)
  t.equal(r.code, 8)
  t.match(r.stderr, /fetch failed: pool\/main\/i\/ipxe\/ipxe_.*_all\.deb: (SHA-256 mismatch|\d+ bytes, expected \d+)/)
  t.notOk(existsSync(join(state, 'firmware', 'ipxe')))
  const pinned = await bootlab('fetch', 'ipxe', '--state-dir', state, '--from', other, '--sha256', sha256(evil), '--keyring', '/nonexistent')
  t.equal(pinned.code, 0, pinned.stderr)
  t.match(pinned.stdout, /pinned/)
  t.equal(readFileSync(join(state, 'firmware', 'ipxe', 'ipxe.efi'), 'utf8'), 'evil', 'the pinned build (the user vouched for it)')
})

t.test('an expired InRelease (Valid-Until in the past) or one for another suite is refused', async (t) => {
  for (const [name, text] of [['expired', releaseText('trixie', listed, 'Sat, 01 Nov 2025 10:00:00 UTC')], ['other suite', releaseText('bookworm', listed)]] as const) {
    const other = tmp('bootlab-mirror3-')
    mkdirSync(join(other, 'dists/trixie'), { recursive: true })
    writeFileSync(join(other, 'Release'), text)
    gpg.clearsign(join(other, 'Release'), join(other, 'dists/trixie/InRelease'))
    const r = await bootlab('fetch', 'ipxe', '--state-dir', tmp('bootlab-state-'), '--from', other, '--keyring', gpg.keyring)
    t.equal(r.code, 8, name)
    t.match(r.stderr, name === 'expired' ? /expired \(Valid-Until/ : /InRelease is for bookworm, not trixie/, name)
  }
})

t.test('grub-arm64: the network image and module folder from the arm64 Packages', async (t) => {
  const state = tmp('bootlab-state-')
  const r = await bootlab('fetch', 'grub-arm64', '--state-dir', state, '--from', server.url, '--keyring', gpg.keyring)
  t.equal(r.code, 0, r.stderr)
  const grub = join(state, 'firmware', 'grub')
  t.equal(readFileSync(join(grub, 'grubnetaa64.efi'), 'utf8'), 'grub-net-image')
  t.same(readdirSync(join(grub, 'arm64-efi')).sort(), ['linux.mod', 'normal.mod'])
})

t.test('without dpkg-deb the .deb is unpacked with ar + tar', async (t) => {
  const bin = tmp('bootlab-path-')
  for (const tool of ['sh', 'tar', 'xz']) symlinkSync((await import('node:child_process')).execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool))
  const out = tmp('bootlab-unpack-')
  const saved = process.env.PATH
  process.env.PATH = bin
  try {
    await unpackDeb(join(mirror, ipxeName), out)
  } finally {
    process.env.PATH = saved
  }
  t.equal(readFileSync(join(out, 'usr/lib/ipxe/ipxe-arm64.efi'), 'utf8'), 'arm64-full')
})

t.test('Packages parsing and version order', async (t) => {
  t.ok(compareVersions('1.21.1+git20250101-1', '1.21.1-1') > 0)
  t.ok(compareVersions('1:1.0', '2.0') > 0, 'epoch wins')
  t.ok(compareVersions('1.0~rc1', '1.0') < 0, 'tilde sorts first')
  t.equal(compareVersions('2.12-9', '2.12-9'), 0)
  t.ok(compareVersions('2.12-10', '2.12-9') > 0, 'revision compared as a number')
  t.ok(compareVersions('1.0a', '1.0') > 0 && compareVersions('1.0', '1.0+b1') < 0)
  const text = `Package: ipxe\nVersion: 1.0-1\nFilename: pool/a.deb\nSize: 1\nSHA256: ${'a'.repeat(64)}\n\nPackage: ipxe\nVersion: 1.2-1\nFilename: pool/b.deb\nSize: 1\nSHA256: ${'b'.repeat(64)}\n\nPackage: ipxe\nVersion: 9\nFilename: ../../etc/passwd\nSize: 1\nSHA256: ${'c'.repeat(64)}\n`
  t.equal(findPackage(text, 'ipxe')?.filename, 'pool/b.deb', 'newest safe stanza; a path leaving the mirror is ignored')
})
