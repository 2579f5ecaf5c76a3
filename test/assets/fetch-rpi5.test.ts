// bootlab fetch rpi5-boot from a local folder laid out like raspberrypi/firmware's boot/.
import t from 'tap'
import { bootlab, tmpDir } from './helpers.js'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RPI5_FILES } from '../../src/assets/rpi5.js'

const tmp = (p: string): string => tmpDir(t, p)

t.test('a tag is pinned on first use; a changed file is refused later; current points at the ref', async (t) => {
  const boot = tmp('bootlab-rpi5-')
  mkdirSync(join(boot, 'overlays'))
  for (const f of [...RPI5_FILES, 'overlays/disable-bt-pi5.dtbo']) writeFileSync(join(boot, f), `dtb ${f}`)
  const state = tmp('bootlab-state-')
  const r = await bootlab('fetch', 'rpi5-boot', '--ref', '1.20250915', '--overlay', 'disable-bt-pi5', '--state-dir', state, '--from', boot)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /tofu-recorded/)
  const dir = join(state, 'firmware', 'rpi5')
  t.equal(readFileSync(join(dir, 'bcm2712-rpi-5-b.dtb'), 'utf8'), 'dtb bcm2712-rpi-5-b.dtb', 'in firmware/rpi5/, where the booter serves a Pi 5 from')
  t.ok(existsSync(join(dir, 'overlays', 'disable-bt-pi5.dtbo')))
  t.same(readdirSync(join(state, 'firmware')), ['rpi5'], 'no staging folder left')
  const again = await bootlab('fetch', 'rpi5-boot', '--ref', '1.20250915', '--state-dir', state, '--from', boot)
  t.equal(again.code, 0, again.stderr)
  t.match(again.stdout, /tofu-verified/)
  writeFileSync(join(boot, 'bcm2712-rpi-500.dtb'), 'changed')
  const bad = await bootlab('fetch', 'rpi5-boot', '--ref', '1.20250915', '--state-dir', state, '--from', boot)
  t.equal(bad.code, 8)
  t.match(bad.stderr, /bcm2712-rpi-500\.dtb: SHA-256 mismatch/)
  t.equal(readFileSync(join(dir, 'bcm2712-rpi-500.dtb'), 'utf8'), 'dtb bcm2712-rpi-500.dtb', 'installed set untouched')
  t.same(readdirSync(join(state, 'firmware')), ['rpi5'], 'no staging folder left after a refusal')
  const branch = await bootlab('fetch', 'rpi5-boot', '--state-dir', state, '--from', boot)
  t.equal(branch.code, 0, branch.stderr)
  t.match(branch.stderr, /stable is a branch: the files are not pinned/)
  const junk = await bootlab('fetch', 'rpi5-boot', '--overlay', '../x', '--state-dir', state, '--from', boot)
  t.equal(junk.code, 8)
})
