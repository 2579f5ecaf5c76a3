import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { extractZip, readZipEntries, readZipEntry, safeRelativePath, crc32, ZipError } from '../../src/assets/zip.js'
import { makeZip, pftfZip, tmpDir } from './helpers.js'

const tmp = (): string => tmpDir(t, 'bootlab-zip-')

t.test('a pftf-shaped zip extracts with every file intact', async (t) => {
  const dir = tmp()
  const files = extractZip(pftfZip('x'), dir)
  t.ok(files.includes('RPI_EFI.fd') && files.includes('overlays/upstream-pi4.dtbo'))
  t.equal(readFileSync(join(dir, 'config.txt'), 'utf8'), 'arm_64bit=1\narmstub=RPI_EFI.fd\n')
  t.same(readdirSync(join(dir, 'overlays')).sort(), ['miniuart-bt.dtbo', 'upstream-pi4.dtbo'])
})

t.test('a zip made by Info-ZIP (a third-party writer) reads the same', async (t) => {
  const src = tmp()
  const out = tmp()
  execFileSync('sh', ['-c', 'mkdir -p a/overlays && head -c 100000 /dev/urandom > a/RPI_EFI.fd && echo hi > a/overlays/x.dtbo && printf "" > a/empty && cd a && zip -qr ../r.zip .'], { cwd: src })
  const files = extractZip(readFileSync(join(src, 'r.zip')), out)
  t.same(files.sort(), ['RPI_EFI.fd', 'empty', 'overlays/x.dtbo'])
  t.same(readFileSync(join(out, 'RPI_EFI.fd')), readFileSync(join(src, 'a', 'RPI_EFI.fd')))
})

t.test('hostile names are refused before anything is written', async (t) => {
  for (const name of ['../evil', 'a/../../evil', '/etc/passwd', 'C:/x', 'a\\..\\b', 'a//b', './a', 'a/./b']) {
    const dir = tmp()
    t.throws(() => extractZip(makeZip([{ name: 'ok.txt', data: Buffer.from('x') }, { name, data: Buffer.from('x') }]), dir), ZipError, name)
    t.same(readdirSync(dir), [], `${name}: nothing extracted`)
  }
  t.equal(safeRelativePath('overlays/a.dtbo'), 'overlays/a.dtbo')
  t.equal(safeRelativePath('overlays/'), 'overlays/')
})

t.test('symlinks, duplicate names and unsupported methods are refused', async (t) => {
  t.throws(() => readZipEntries(makeZip([{ name: 'link', data: Buffer.from('/etc/shadow'), mode: 0o120777 }])), /symbolic links/)
  t.throws(() => readZipEntries(makeZip([{ name: 'a', data: Buffer.from('1') }, { name: 'A', data: Buffer.from('2') }])), /twice/)
  const z = makeZip([{ name: 'a', data: Buffer.from('1'), method: 0 }])
  const bad = Buffer.from(z)
  // central directory method field → 12 (bzip2)
  const cd = bad.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]))
  bad.writeUInt16LE(12, cd + 10)
  t.throws(() => readZipEntries(bad), /compression method 12/)
})

t.test('a zip bomb is stopped by the size caps, a lying size by the bounded inflate', async (t) => {
  const zeros = Buffer.alloc(8 * 1024 * 1024)
  const bomb = makeZip([{ name: 'a', data: zeros }, { name: 'b', data: zeros }])
  t.ok(bomb.length < 100_000, 'compresses to little')
  t.throws(() => readZipEntries(bomb, { maxEntries: 10, maxTotalBytes: 10 * 1024 * 1024, maxEntryBytes: 64 * 1024 * 1024 }), /unpacks to more than/)
  t.throws(() => readZipEntries(bomb, { maxEntries: 10, maxTotalBytes: 1 << 30, maxEntryBytes: 1024 * 1024 }), /larger than the limit/)
  t.throws(() => readZipEntries(bomb, { maxEntries: 1, maxTotalBytes: 1 << 30, maxEntryBytes: 1 << 30 }), /too many entries/)
  // declares 10 bytes but inflates to 8 MiB: inflate stops at the declared size
  const liar = makeZip([{ name: 'a', data: zeros, declaredSize: 10 }])
  const [e] = readZipEntries(liar)
  t.throws(() => readZipEntry(liar, e!), /cannot inflate|bytes, the directory says/)
})

t.test('corrupt data fails its CRC check', async (t) => {
  const z = makeZip([{ name: 'a', data: Buffer.from('hello world'), method: 0 }])
  const [e] = readZipEntries(z)
  t.equal(readZipEntry(z, e!).toString(), 'hello world')
  const bad = Buffer.from(z)
  bad.writeUInt8(bad.readUInt8(30 + 1 + 3) ^ 0xff, 30 + 1 + 3)
  t.throws(() => readZipEntry(bad, e!), /CRC-32 mismatch/)
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926)
  t.throws(() => readZipEntries(Buffer.from('not a zip at all, not even close to one')), /no end of central directory/)
})
