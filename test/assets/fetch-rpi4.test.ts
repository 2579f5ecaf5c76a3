// bootlab fetch rpi4-uefi against a file server on 127.0.0.1 that this test starts (no internet).
import t from 'tap'
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeZip, pftfZip, sha256, startFileServer, bootlab, tmpDir } from './helpers.js'


const served = tmpDir(t, 'bootlab-served-')
const server = await startFileServer(served)
t.teardown(() => server.close())
const publish = (version: string, tag = version): Buffer => {
  const z = pftfZip(tag)
  writeFileSync(join(served, `RPi4_UEFI_Firmware_${version}.zip`), z)
  return z
}
const freshState = (): string => tmpDir(t, 'bootlab-state-')

t.test('happy path: unpacked, current switched, hash recorded (TOFU), then checked on the next fetch', async (t) => {
  const zip = publish('v1.50')
  const state = freshState()
  const r = await bootlab('fetch', 'rpi4-uefi', '--state-dir', state, '--from', server.url)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, new RegExp(`fetched rpi4-uefi v1.50 \\(sha256 ${sha256(zip)}, tofu-recorded\\)`))
  t.match(r.stderr, /publishes no checksums: recorded SHA-256/)
  t.match(r.stderr, /fetch: RPi4_UEFI_Firmware_v1\.50\.zip: 100%/, 'plain progress lines when not a terminal')
  const fw = join(state, 'firmware')
  t.equal(readlinkSync(join(fw, 'rpi4-uefi', 'current')), 'v1.50')
  for (const f of ['RPI_EFI.fd', 'start4.elf', 'fixup4.dat', 'config.txt', 'bcm2711-rpi-4-b.dtb', 'overlays/upstream-pi4.dtbo']) t.ok(existsSync(join(fw, 'rpi4-uefi', 'v1.50', f)), f)
  const rec = JSON.parse(readFileSync(join(state, 'assets.json'), 'utf8')) as { tofu: Record<string, string> }
  t.equal(rec.tofu['RPi4_UEFI_Firmware_v1.50.zip'], sha256(zip))

  // the same version again: cached file matches the recorded hash, nothing downloaded
  const before = server.seen.length
  const again = await bootlab('fetch', 'rpi4-uefi', '--state-dir', state, '--from', server.url)
  t.equal(again.code, 0, again.stderr)
  t.match(again.stdout, /tofu-verified/)
  t.equal(server.seen.length, before, 'served from the verified download cache')

  // upstream file changes under the same name: refused against the recorded hash, old tree intact
  rmSync(join(state, 'downloads'), { recursive: true })
  publish('v1.50', 'tampered')
  const bad = await bootlab('fetch', 'rpi4-uefi', '--state-dir', state, '--from', server.url)
  t.equal(bad.code, 8)
  t.match(bad.stderr, /SHA-256 mismatch/)
  t.equal(readFileSync(join(fw, 'rpi4-uefi', 'v1.50', 'Readme.md'), 'utf8'), 'pftf v1.50\n', 'installed version untouched')
  t.notOk(existsSync(join(state, 'downloads', 'RPi4_UEFI_Firmware_v1.50.zip')), 'no unverified zip left')
  t.notOk(existsSync(join(state, 'downloads', 'RPi4_UEFI_Firmware_v1.50.zip.part')), 'no partial file left')
})

t.test('a download cut half way is resumed with Range', async (t) => {
  const zip = publish('v1.44')
  const state = freshState()
  server.cutOnce('/RPi4_UEFI_Firmware_v1.44.zip')
  const from = server.seen.length
  const r = await bootlab('fetch', 'rpi4-uefi', '--version', 'v1.44', '--state-dir', state, '--from', server.url)
  t.equal(r.code, 0, r.stderr)
  const reqs = server.seen.slice(from).filter((s) => s.path === '/RPi4_UEFI_Firmware_v1.44.zip')
  t.equal(reqs.length, 2, 'two requests')
  t.equal(reqs[0]!.range, undefined, 'first without Range')
  t.equal(reqs[1]!.range, `bytes=${Math.floor(zip.length / 2)}-`, 'second resumes where the first stopped')
  t.match(r.stdout, new RegExp(sha256(zip)))
  t.equal(readlinkSync(join(state, 'firmware', 'rpi4-uefi', 'current')), 'v1.44')
})

t.test('a wrong --sha256: clear error, exit 6, nothing in place', async (t) => {
  publish('v1.38')
  const state = freshState()
  const r = await bootlab('fetch', 'rpi4-uefi', '--version', 'v1.38', '--sha256', '0'.repeat(64), '--state-dir', state, '--from', server.url)
  t.equal(r.code, 8)
  t.match(r.stderr, /SHA-256 mismatch: got [0-9a-f]{64}, expected 0{64}/)
  t.notOk(existsSync(join(state, 'firmware', 'rpi4-uefi')), 'no firmware folder')
  t.same(readdirSync(join(state, 'downloads')), [], 'no download left')
})

t.test('an unknown version needs --sha256', async (t) => {
  const zip = publish('v9.99')
  const state = freshState()
  const r = await bootlab('fetch', 'rpi4-uefi', '--version', 'v9.99', '--state-dir', state, '--from', server.url)
  t.equal(r.code, 8)
  t.match(r.stderr, /v9\.99 is not a release bootlab knows .* give its SHA-256 with --sha256 HEX/)
  t.notOk(existsSync(join(state, 'firmware')))
  const ok = await bootlab('fetch', 'rpi4-uefi', '--version', 'v9.99', '--sha256', sha256(zip), '--keep-current', '--state-dir', state, '--from', server.url)
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /pinned/)
  t.ok(existsSync(join(state, 'firmware', 'rpi4-uefi', 'v9.99', 'RPI_EFI.fd')))
  t.notOk(existsSync(join(state, 'firmware', 'rpi4-uefi', 'current')), '--keep-current leaves current alone')
  const junk = await bootlab('fetch', 'rpi4-uefi', '--version', '../../etc', '--state-dir', state, '--from', server.url)
  t.equal(junk.code, 8)
  t.match(junk.stderr, /not a pftf version/)
})

t.test('--from DIR reads <DIR>/<upstream file name>; a zip that is not a pftf release is refused', async (t) => {
  const dir = tmpDir(t, 'bootlab-offline-')
  const zip = pftfZip('offline')
  writeFileSync(join(dir, 'RPi4_UEFI_Firmware_v1.42.zip'), zip)
  const state = freshState()
  const r = await bootlab('fetch', 'rpi4-uefi', '--version', '1.42', '--state-dir', state, '--from', dir)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /fetched rpi4-uefi v1\.42 /, '"1.42" means v1.42')
  t.match(r.stdout, new RegExp(sha256(zip)))
  t.equal(readFileSync(join(state, 'firmware', 'rpi4-uefi', 'v1.42', 'Readme.md'), 'utf8'), 'pftf offline\n')

  writeFileSync(join(dir, 'RPi4_UEFI_Firmware_v1.43.zip'), makeZip([{ name: 'RPI_EFI.fd', data: Buffer.from('x') }]))
  const bad = await bootlab('fetch', 'rpi4-uefi', '--version', 'v1.43', '--state-dir', state, '--from', dir)
  t.equal(bad.code, 8)
  t.match(bad.stderr, /not a pftf RPi4 release: missing start4\.elf/)
  t.notOk(existsSync(join(state, 'firmware', 'rpi4-uefi', 'v1.43')))
  t.equal(readlinkSync(join(state, 'firmware', 'rpi4-uefi', 'current')), 'v1.42', 'current unchanged')
  t.same(readdirSync(join(state, 'firmware', 'rpi4-uefi')).filter((n) => n.startsWith('.')), [], 'no staging folder left')
  // a lock held by a live process refuses a second fetch; a stale one is taken over
  writeFileSync(join(state, 'downloads', '.fetch.lock'), String(process.pid))
  const locked = await bootlab('fetch', 'rpi4-uefi', '--version', 'v1.42', '--state-dir', state, '--from', dir)
  t.equal(locked.code, 8)
  t.match(locked.stderr, new RegExp(`another bootlab fetch \\(pid ${process.pid}\\) is using`))
  writeFileSync(join(state, 'downloads', '.fetch.lock'), '999999999')
  const stale = await bootlab('fetch', 'rpi4-uefi', '--version', 'v1.42', '--state-dir', state, '--from', dir)
  t.equal(stale.code, 0, stale.stderr)
  t.notOk(existsSync(join(state, 'downloads', '.fetch.lock')), 'lock released')
  const missing = await bootlab('fetch', 'rpi4-uefi', '--version', 'v1.41', '--state-dir', state, '--from', join(dir, 'nope'))
  t.equal(missing.code, 8)
  t.match(missing.stderr, /no such file/)
})
