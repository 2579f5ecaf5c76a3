// netascii on real peers (issue 13 item 9): tftp-hpa in ascii mode gets a large text file back
// byte-exact through the streamed conversion, and twenty concurrent netascii requests for a 16 MiB
// file do not stall the server's event loop (its stats answer within a generous bound meanwhile).
import t from 'tap'
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { clientArgv, makeFiles, startBootlab } from './fixtures/lab.js'

let seed = 99
const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
/** text with LF, CR LF and bare CR line ends, never a NUL */
function text(n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) { const r = rnd(); b[i] = r < 0.03 ? 0x0d : r < 0.08 ? 0x0a : 0x20 + Math.floor(rnd() * 90) }
  return b
}
/** what a netascii client writes locally: our LF → CR LF / CR → CR NUL undone (CR LF in the file becomes LF) */
function asReceived(input: Buffer): Buffer {
  return Buffer.from(input.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')
}

/** RRQs for `file` in netascii from `n` sockets at once; never ACKed. */
const flood = `
const dgram = require('node:dgram')
const [ip, file, n] = JSON.parse(process.argv[1])
const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from(file + '\\0netascii\\0tsize\\0' + '0\\0', 'latin1')])
let open = n
for (let i = 0; i < n; i++) {
  const s = dgram.createSocket('udp4')
  s.bind(0, () => s.send(rrq, 69, ip, () => setTimeout(() => { s.close(); if (--open === 0) process.exit(0) }, 4000)))
}
`

t.test('netascii through real clients', { skip: !isRoot() && 'needs root (network namespaces)' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1, cli: 2 }, subnet: '10.82.0' })
  t.teardown(() => lab.cleanup())
  const files = await makeFiles({})
  t.teardown(() => files.cleanup())
  const small = text(2 << 20)
  await writeFile(join(files.dir, 'two.txt'), small)
  await writeFile(join(files.dir, 'big.txt'), text(16 << 20))
  const srv = await startBootlab(lab, 'srv', { roots: [files.dir], limits: { maxPendingPerClient: 32 } })
  const ip = lab.hosts.srv!.ip

  await t.test('tftp-hpa -m ascii: 2 MiB of mixed line ends, byte-exact', async (t) => {
    const local = join(files.out, 'two.txt')
    const r = await lab.exec('cli', clientArgv('tftp-hpa', ip, srv.port, 'two.txt', local, { mode: 'netascii' }), { timeoutMs: 120000 })
    t.equal(r.code, 0, r.stderr)
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
    t.equal(sha(await readFile(local)), sha(asReceived(small)), 'what tftp-hpa wrote is the file with CR LF read back as LF')
  })

  await t.test('20 concurrent 16 MiB netascii requests: the server stays responsive', async (t) => {
    const started = lab.exec('cli', [process.execPath, '-e', flood, JSON.stringify([ip, 'big.txt', 20])], { timeoutMs: 30000 })
    let worst = 0
    const end = Date.now() + 4000
    while (Date.now() < end) {
      const t0 = Date.now()
      await srv.stats()
      worst = Math.max(worst, Date.now() - t0)
      await new Promise((r) => setTimeout(r, 20))
    }
    await started
    t.comment(`slowest stats round trip while 20 × 16 MiB netascii requests were being prepared: ${worst} ms`)
    t.ok(worst < 500, `the event loop was never held for long (${worst} ms)`)
    const s = await srv.stats()
    t.ok(s.requests >= 20, `all requests arrived (${s.requests})`)
  })
})
