// /files against curl: Range, HEAD, ETag, Last-Modified, resume, and path traversal refusals.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, openSync, writeSync, closeSync, readFileSync, symlinkSync, writeFileSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, machine, profile } from './fixtures/harness.js'

const run = promisify(execFile)
const SIZE = 100 * 1024 * 1024

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('curl', ['-sS', '--max-time', '60', ...args], { maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

function headers(raw: string): { status: number; h: Record<string, string> } {
  const blocks = raw.trim().split(/\r?\n\r?\n/)
  const lines = blocks[blocks.length - 1]!.split(/\r?\n/)
  const status = Number(lines[0]!.split(' ')[1])
  const h: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':')
    if (i > 0) h[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim()
  }
  return { status, h }
}

t.test('files: 100 MB over curl', async (t) => {
  const h = await startHarness({
    config: (d) => ({
      server: { http: { port: 0, listen: '127.0.0.1' }, unknown: 'ignore', unknown_profile: 'discovery', state_dir: d.state, paths: { images: d.images, firmware: d.firmware, tftproot: d.tftproot } },
      switches: {},
      profiles: { local: profile({ boot: 'local' }) },
      machines: { m1: machine('m1', '52:54:00:00:00:01') },
    }),
  })
  t.teardown(() => h.close())
  const images = join(h.dir, 'images')
  const big = join(images, 'big.iso')
  const hash = createHash('sha256')
  const fd = openSync(big, 'w')
  for (let i = 0; i < SIZE / (1 << 20); i++) {
    const chunk = randomBytes(1 << 20)
    hash.update(chunk)
    writeSync(fd, chunk)
  }
  closeSync(fd)
  const digest = hash.digest('hex')
  const url = `${h.baseUrl}/files/images/big.iso`
  const out = join(h.dir, 'out.bin')

  await t.test('HEAD', async (t) => {
    const r = await curl(['-I', url])
    const { status, h: hd } = headers(r.stdout)
    t.equal(status, 200)
    t.equal(hd['content-length'], String(SIZE))
    t.equal(hd['accept-ranges'], 'bytes')
    t.match(hd.etag, /^"[0-9a-f]+-[0-9a-f]+"$/)
    t.ok(hd['last-modified'] && !Number.isNaN(Date.parse(hd['last-modified'])))
  })

  await t.test('full GET matches the file, streamed without buffering it', async (t) => {
    const rss0 = process.memoryUsage().rss
    const started = process.hrtime.bigint()
    const r = await curl(['-o', out, '-w', '%{http_code} %{size_download}', url])
    const secs = Number(process.hrtime.bigint() - started) / 1e9
    const grew = process.memoryUsage().rss - rss0
    t.equal(r.stdout, `200 ${SIZE}`)
    t.equal(createHash('sha256').update(readFileSync(out)).digest('hex'), digest)
    t.comment(`100 MB in ${secs.toFixed(2)} s (${(SIZE / secs / 1e6).toFixed(0)} MB/s), server RSS grew ${(grew / 1e6).toFixed(1)} MB`)
    t.ok(grew < 80 * 1024 * 1024, 'server memory did not grow by the file size')
  })

  await t.test('ranges', async (t) => {
    const file = readFileSync(big)
    let r = await curl(['-r', '1000-1999', '-D', '-', '-o', out, url])
    let hd = headers(r.stdout)
    t.equal(hd.status, 206)
    t.equal(hd.h['content-range'], `bytes 1000-1999/${SIZE}`)
    t.same(readFileSync(out), file.subarray(1000, 2000))
    r = await curl(['-r', '-500', '-D', '-', '-o', out, url])
    hd = headers(r.stdout)
    t.equal(hd.h['content-range'], `bytes ${SIZE - 500}-${SIZE - 1}/${SIZE}`)
    t.same(readFileSync(out), file.subarray(SIZE - 500))
    r = await curl(['-r', `${SIZE - 10}-`, '-D', '-', '-o', out, url])
    t.same(readFileSync(out), file.subarray(SIZE - 10))
    r = await curl(['-r', `${SIZE + 5}-`, '-D', '-', '-o', '/dev/null', url])
    hd = headers(r.stdout)
    t.equal(hd.status, 416)
    t.equal(hd.h['content-range'], `bytes */${SIZE}`)
    r = await curl(['-I', '-r', '0-99', url])
    t.equal(headers(r.stdout).h['content-length'], '100', 'HEAD with a range')
    // resume an interrupted download with curl -C -
    writeFileSync(out, file.subarray(0, 12_345_678))
    r = await curl(['-C', '-', '-o', out, '-w', '%{http_code}', url])
    t.equal(r.stdout, '206')
    t.equal(createHash('sha256').update(readFileSync(out)).digest('hex'), digest, 'resumed file is complete')
  })

  await t.test('conditional requests', async (t) => {
    const { h: hd } = headers((await curl(['-I', url])).stdout)
    let r = await curl(['-I', '-H', `If-None-Match: ${hd.etag}`, url])
    t.equal(headers(r.stdout).status, 304)
    r = await curl(['-I', '-H', `If-Modified-Since: ${hd['last-modified']}`, url])
    t.equal(headers(r.stdout).status, 304)
    r = await curl(['-I', '-H', 'If-None-Match: "other"', url])
    t.equal(headers(r.stdout).status, 200)
    r = await curl(['-I', '-r', '0-99', '-H', `If-Range: ${hd.etag}`, url])
    t.equal(headers(r.stdout).status, 206, 'If-Range with the current ETag keeps the range')
    r = await curl(['-I', '-r', '0-99', '-H', 'If-Range: "stale"', url])
    t.equal(headers(r.stdout).status, 200, 'If-Range with a stale ETag sends the whole file')
    truncateSync(big, 10)
    const r2 = headers((await curl(['-I', url])).stdout)
    t.not(r2.h.etag, hd.etag, 'ETag changes with the file')
  })

  await t.test('traversal attempts are refused', async (t) => {
    mkdirSync(join(images, 'sub'))
    writeFileSync(join(images, 'sub', 'ok.txt'), 'inside\n')
    writeFileSync(join(h.dir, 'secret.txt'), 'outside\n')
    symlinkSync(join(h.dir, 'secret.txt'), join(images, 'escape.txt'))
    symlinkSync('/etc', join(images, 'etc'))
    symlinkSync(join(images, 'sub', 'ok.txt'), join(images, 'alias.txt'))
    writeFileSync(join(images, 'line\nbreak.txt'), 'a name with a control character\n')
    const ok = await curl(['-w', '%{http_code}', `${h.baseUrl}/files/images/sub/ok.txt`])
    t.equal(ok.stdout, 'inside\n200')
    t.equal((await curl(['-w', '%{http_code}', `${h.baseUrl}/files/images/alias.txt`])).stdout, 'inside\n200', 'symlink inside the root is fine')
    const bad = [
      '/files/images/../../secret.txt',
      '/files/images/sub/../../secret.txt',
      '/files/images/%2e%2e/secret.txt',
      '/files/images/..%2fsecret.txt',
      '/files/images/sub%2f..%2f..%2fsecret.txt',
      '/files/images/..%5csecret.txt',
      '/files/images/ok.txt%00',
      '/files/images/%00',
      '/files/images//etc/passwd',
      '/files/images/escape.txt',
      '/files/images/etc/passwd',
      '/files/images/sub',
      '/files/images/',
      '/files/etc/passwd',
      '/files/constructor/x',
      '/files/%2fetc%2fpasswd',
      '/files/images/line%0Abreak.txt', // exists, but control characters are refused (as in TFTP names)
    ]
    for (const p of bad) {
      const r = await curl(['--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', h.baseUrl + p])
      t.equal(r.stdout, '404', p)
    }
    const r = await curl(['--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', h.baseUrl + '/files/images/%ff'])
    t.equal(r.stdout, '400', 'undecodable path')
  })

  await t.test('a file in demand is served from one copy in memory, and a changed one is read again', async (t) => {
    const kernel = join(images, 'vmlinuz')
    const v1 = randomBytes(20 * 1024 * 1024)
    writeFileSync(kernel, v1)
    const kurl = `${h.baseUrl}/files/images/vmlinuz`
    const outs = Array.from({ length: 8 }, (_, i) => join(h.dir, `k${i}.bin`))
    const rs = await Promise.all(outs.map((o) => curl(['-o', o, '-w', '%{http_code}', kurl])))
    t.same(rs.map((r) => r.stdout), outs.map(() => '200'), '8 downloads at once')
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
    for (const o of outs) t.equal(sha(readFileSync(o)), sha(v1), `${o}: byte-exact`)
    let r = await curl(['-r', '5000000-5999999', '-o', outs[0]!, '-w', '%{http_code}', kurl])
    t.equal(r.stdout, '206')
    t.same(readFileSync(outs[0]!), v1.subarray(5_000_000, 6_000_000), 'a range of the cached copy')
    // a client that goes away mid-download does not disturb the next one
    r = await curl(['--limit-rate', '1M', '--max-time', '1', '-o', '/dev/null', kurl])
    t.not(r.code, 0, 'the slow client was cut off by its own --max-time')
    const v2 = randomBytes(20 * 1024 * 1024)
    writeFileSync(kernel, v2) // same size, new bytes and mtime
    r = await curl(['-o', outs[1]!, '-w', '%{http_code}', kurl])
    t.equal(r.stdout, '200')
    t.equal(sha(readFileSync(outs[1]!)), sha(v2), 'the new content, not the cached old one')
  })
})
