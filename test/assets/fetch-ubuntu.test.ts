// bootlab fetch ubuntu 24.04 against a release folder served on 127.0.0.1: SHA256SUMS (optionally
// signed with a throwaway key), a netboot tarball built with tar, a stand-in ISO.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sha256, startFileServer, throwawayGpg, bootlab, tmpDir } from './helpers.js'
import { newestListed, parseSha256Sums } from '../../src/assets/ubuntu.js'

const tmp = (p: string): string => tmpDir(t, p)

const rel = tmp('bootlab-ubuntu-')
const build = tmp('bootlab-netboot-')
mkdirSync(join(build, 'arm64', 'grub'), { recursive: true })
writeFileSync(join(build, 'arm64', 'linux'), 'kernel-24.04.3')
writeFileSync(join(build, 'arm64', 'initrd'), 'initrd-24.04.3')
writeFileSync(join(build, 'arm64', 'grub', 'grub.cfg'), 'menuentry x {}')
execFileSync('tar', ['-czf', join(rel, 'ubuntu-24.04.3-netboot-arm64.tar.gz'), '-C', build, 'arm64'])
const iso = Buffer.alloc(300_000, 7)
writeFileSync(join(rel, 'ubuntu-24.04.3-live-server-arm64.iso'), iso)
const sums = (isoHash: string): string => [
  `${'e'.repeat(64)} *ubuntu-24.04.2-netboot-arm64.tar.gz`,
  `${sha256(readFileSync(join(rel, 'ubuntu-24.04.3-netboot-arm64.tar.gz')))} *ubuntu-24.04.3-netboot-arm64.tar.gz`,
  `${isoHash} *ubuntu-24.04.3-live-server-arm64.iso`,
  `${'f'.repeat(64)} *ubuntu-24.04.3-desktop-arm64.iso`,
].join('\n') + '\n'
writeFileSync(join(rel, 'SHA256SUMS'), sums(sha256(iso)))
const gpg = throwawayGpg('bootlab test cdimage')
t.teardown(() => gpg.cleanup())
gpg.detachSign(join(rel, 'SHA256SUMS'), join(rel, 'SHA256SUMS.gpg'))
const server = await startFileServer(rel)
t.teardown(() => server.close())

t.test('kernel, initrd and ISO of the newest point release, checked against signed SHA256SUMS', async (t) => {
  const state = tmp('bootlab-state-')
  const r = await bootlab('fetch', 'ubuntu', '24.04', '--arch', 'arm64', '--state-dir', state, '--from', server.url, '--keyring', gpg.keyring)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /fetched ubuntu-24\.04-arm64 24\.04\.3 .*signed/)
  const img = join(state, 'images', 'ubuntu-24.04')
  t.equal(readFileSync(join(img, 'arm64', 'linux'), 'utf8'), 'kernel-24.04.3')
  t.equal(readFileSync(join(img, 'arm64', 'initrd'), 'utf8'), 'initrd-24.04.3')
  t.same(readFileSync(join(img, 'ubuntu-24.04-live-server-arm64.iso')), iso, 'under the name the example profile uses')
  t.same(readdirSync(img).sort(), ['arm64', 'ubuntu-24.04-live-server-arm64.iso'])
})

t.test('without a keyring the sums are used unsigned, and that is said; --no-iso skips the ISO', async (t) => {
  const state = tmp('bootlab-state-')
  const r = await bootlab('fetch', 'ubuntu', '24.04', '--arch', 'arm64', '--no-iso', '--state-dir', state, '--from', server.url)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /signature was not checked/)
  t.notOk(existsSync(join(state, 'images', 'ubuntu-24.04', 'ubuntu-24.04-live-server-arm64.iso')))
  t.ok(existsSync(join(state, 'images', 'ubuntu-24.04', 'arm64', 'linux')))
})

t.test('an ISO that does not match SHA256SUMS is not put in place; a bad signature stops everything', async (t) => {
  const other = tmp('bootlab-ubuntu2-')
  for (const f of ['ubuntu-24.04.3-netboot-arm64.tar.gz', 'ubuntu-24.04.3-live-server-arm64.iso']) writeFileSync(join(other, f), readFileSync(join(rel, f)))
  writeFileSync(join(other, 'SHA256SUMS'), sums('0'.repeat(64)))
  const state = tmp('bootlab-state-')
  const r = await bootlab('fetch', 'ubuntu', '24.04', '--arch', 'arm64', '--state-dir', state, '--from', other)
  t.equal(r.code, 8)
  t.match(r.stderr, /ubuntu-24\.04\.3-live-server-arm64\.iso: SHA-256 mismatch/)
  t.same(readdirSync(join(state, 'images', 'ubuntu-24.04')), ['arm64'], 'no ISO and no partial ISO')
  writeFileSync(join(other, 'SHA256SUMS.gpg'), readFileSync(join(rel, 'SHA256SUMS.gpg')))
  const signed = await bootlab('fetch', 'ubuntu', '24.04', '--arch', 'arm64', '--state-dir', tmp('bootlab-state-'), '--from', other, '--keyring', gpg.keyring)
  t.equal(signed.code, 8)
  t.match(signed.stderr, /SHA256SUMS: the signature does not verify/)
  const bad = await bootlab('fetch', 'ubuntu', '22.04', '--arch', 'arm64', '--state-dir', state, '--from', other)
  t.equal(bad.code, 8)
  t.match(bad.stderr, /not supported/)
})

t.test('SHA256SUMS parsing picks the newest point release', async (t) => {
  const m = parseSha256Sums(`${'a'.repeat(64)} *ubuntu-24.04-netboot-amd64.tar.gz\n${'b'.repeat(64)} *ubuntu-24.04.10-netboot-amd64.tar.gz\n${'c'.repeat(64)}  ubuntu-24.04.9-netboot-amd64.tar.gz\nnot a line\n`)
  t.equal(m.size, 3)
  t.equal(newestListed(m, '24.04', 'netboot', 'amd64'), 'ubuntu-24.04.10-netboot-amd64.tar.gz')
  t.equal(newestListed(m, '24.04', 'netboot', 'arm64'), null)
})
