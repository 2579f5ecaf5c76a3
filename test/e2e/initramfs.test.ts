// The newc writer against GNU cpio, and module dependency order from real .modinfo sections.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { gunzipSync } from 'node:zlib'
import { cpioNewc, initramfs } from '../../src/lab/cpio.js'
import { moduleName } from '../../src/lab/kmod.js'

const hasCpio = spawnSync('cpio', ['--version']).status === 0

t.test('GNU cpio lists what the newc writer wrote', { skip: !hasCpio && 'cpio not installed' }, async (t) => {
  const archive = cpioNewc([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/hello', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'dir', path: 'dev' },
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'odd', data: Buffer.from('abc') },
  ])
  const r = spawnSync('cpio', ['-t', '-v', '--quiet'], { input: archive, encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.same(lines.map((l) => / 1970 (.*)$/.exec(l)?.[1]),  // mtime 0: reproducible archives
    ['bin', 'bin/hello', 'bin/sh -> busybox', 'dev', 'dev/console', 'odd'])
  t.match(lines[1], /^-rwxr-xr-x .* 18 /)
  t.match(lines[4], /^crw------- .* 5,\s+1 /)
  const body = spawnSync('cpio', ['-i', '--quiet', '--to-stdout', 'bin/hello'], { input: archive })
  t.equal(body.stdout.toString(), '#!/bin/sh\necho hi\n')
  t.equal(archive.length % 4, 0, 'padded to 4 bytes')
})

t.test('initramfs is gzip of the archive', async (t) => {
  const entries = [{ type: 'file' as const, path: 'init', data: Buffer.from('x') }]
  t.same(gunzipSync(initramfs(entries)), cpioNewc(entries))
})

t.test('bad paths are refused', async (t) => {
  t.throws(() => cpioNewc([{ type: 'dir', path: '../x' }]))
  t.throws(() => cpioNewc([{ type: 'dir', path: 'a' }, { type: 'dir', path: 'a' }]))
})

t.test('module names', async (t) => {
  t.equal(moduleName('kernel/drivers/virtio/virtio_pci_modern_dev.ko'), 'virtio_pci_modern_dev')
  t.equal(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko'), 'virtio_rng')
})
