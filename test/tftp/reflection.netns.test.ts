// Reflection (issue 13, item 1): one spoofable read request that is never acknowledged must not
// make bootlab send more than a reference server does. bootlab and dnsmasq --enable-tftp run in
// their own namespaces; a raw UDP socket in a client namespace sends one RRQ to each, never ACKs,
// and counts every byte that comes back until the servers fall silent (bounded wait).
import t from 'tap'
import { join } from 'node:path'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { makeFiles, startBootlab, waitPort69 } from './fixtures/lab.js'

const MiB = 1 << 20

/** A node one-liner run in the client namespace: one RRQ, no ACK, bytes counted until `quietMs` of silence (at most `maxMs`). */
const counter = `
const dgram = require('node:dgram')
const [ip, file, opts, quietMs, maxMs] = JSON.parse(process.argv[1])
const parts = [file, 'octet', ...Object.entries(opts).flat()].map((s) => Buffer.from(s + '\\0', 'latin1'))
const rrq = Buffer.concat([Buffer.from([0, 1]), ...parts])
const s = dgram.createSocket('udp4')
const t0 = Date.now()
let bytes = 0, packets = 0, last = t0
s.on('message', (m) => { bytes += m.length; packets++; last = Date.now() })
s.bind(0, () => s.send(rrq, 69, ip))
const timer = setInterval(() => {
  const now = Date.now()
  if (now - last >= quietMs || now - t0 >= maxMs) {
    clearInterval(timer); s.close()
    console.log(JSON.stringify({ sent: rrq.length, bytes, packets, lastMs: last - t0 }))
  }
}, 100)
`

t.test('one unacknowledged RRQ: bootlab sends no more than dnsmasq', { skip: !isRoot() && 'needs root (network namespaces)' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1, dns: 3, cli: 2 }, subnet: '10.81.0' })
  t.teardown(() => lab.cleanup())
  const files = await makeFiles({ big: MiB })
  t.teardown(() => files.cleanup())
  await startBootlab(lab, 'srv', { roots: [files.dir] })
  lab.spawn('dns', ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--enable-tftp', `--tftp-root=${files.dir}`,
    '--log-facility=/dev/null', `--pid-file=${join(files.out, 'dnsmasq.pid')}`])
  await waitPort69(lab, 'dns')

  const variants: Record<string, string>[] = [{}, { blksize: '1468' }, { blksize: '1468', windowsize: '16', tsize: '0' }]
  const probe = async (ip: string, opts: Record<string, string>): Promise<{ sent: number; bytes: number; packets: number; lastMs: number }> => {
    const r = await lab.exec('cli', [process.execPath, '-e', counter, JSON.stringify([ip, 'big', opts, 12000, 60000])], { timeoutMs: 70000 })
    if (r.code !== 0) throw new Error(`counter failed: ${r.stderr}`)
    return JSON.parse(r.stdout) as { sent: number; bytes: number; packets: number; lastMs: number }
  }
  // all six probes at once: each is a quiet wait
  const results = await Promise.all(variants.flatMap((o) => [probe(lab.hosts.srv!.ip, o), probe(lab.hosts.dns!.ip, o)]))
  variants.forEach((o, i) => {
    const ours = results[2 * i]!
    const ref = results[2 * i + 1]!
    t.comment(`RRQ ${JSON.stringify(o)} (${ours.sent} bytes), never ACKed: bootlab ${ours.bytes} bytes in ${ours.packets} packets over ${ours.lastMs} ms; dnsmasq ${ref.bytes} bytes in ${ref.packets} packets over ${ref.lastMs} ms`)
    t.ok(ref.bytes > 0, 'dnsmasq answered (the reference is real)')
    t.ok(ours.bytes > 0, 'bootlab answered')
    t.ok(ours.bytes <= ref.bytes, `bootlab sent ${ours.bytes} bytes, at most dnsmasq's ${ref.bytes}`)
  })
})
