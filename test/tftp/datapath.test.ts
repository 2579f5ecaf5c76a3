// Both TFTP data paths are tested: the other test/tftp files run on the default one (the native
// DATA/ACK loop, native/tftpfast, when it is built); this file picks the path as configured and runs
// server, fuzz, clients and loss tests again with the JavaScript path forced
// (BOOTLAB_TFTP_DATA_PATH=js), the fallback used when the native helper is not built.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TftpServer, type TransferRecord } from '../../src/tftp/server.js'
import { LayeredResolver } from '../../src/tftp/resolver.js'
import { encodeAck, encodeRequest } from '../../src/tftp/packet.js'
import { silentLogger } from '../../src/log.js'
import { isRoot } from '../../src/lab/netns.js'
import { rawPeer } from './fixtures/raw.js'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const server = (dataPath?: 'auto' | 'js'): TftpServer =>
  new TftpServer({ address: '127.0.0.1', port: 0, resolver: new LayeredResolver({ roots: [] }), logger: silentLogger(), ...(dataPath ? { dataPath } : {}) })

t.test('data path selection', async (t) => {
  const saved = { ...process.env }
  t.teardown(() => { process.env = saved })
  delete process.env.BOOTLAB_TFTP_DATA_PATH
  delete process.env.BOOTLAB_NO_NATIVE
  const auto = server().dataPath
  t.comment(`default data path here: ${auto}`)
  t.equal(server('js').dataPath, 'js', "dataPath: 'js' forces the JavaScript path")
  process.env.BOOTLAB_NO_NATIVE = '1'
  t.equal(server().dataPath, 'js', 'BOOTLAB_NO_NATIVE=1 forces the JavaScript path')
  delete process.env.BOOTLAB_NO_NATIVE
  process.env.BOOTLAB_TFTP_DATA_PATH = 'js'
  t.equal(server().dataPath, 'js', 'BOOTLAB_TFTP_DATA_PATH=js forces the JavaScript path')
  process.env.BOOTLAB_TFTP_DATA_PATH = 'native'
  if (auto === 'native') t.equal(server().dataPath, 'native', 'BOOTLAB_TFTP_DATA_PATH=native uses the native path')
  else t.throws(() => server(), /not built/, 'BOOTLAB_TFTP_DATA_PATH=native without the build is an error, not a silent fallback')
})

// The same datagrams to a live transfer on each path: the same drops by reason, the same record.
t.test('malformed datagrams to a live transfer: the same drops and record on both paths', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-tftp-dp-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'f'), Buffer.alloc(1300, 7))
  const z = Buffer.from([0])
  const junk: Buffer[] = [
    Buffer.from([0]), // short
    Buffer.from([0, 4, 1]), // ACK too short
    Buffer.from([0, 3, 0]), // DATA too short
    Buffer.from([0, 3, 0, 1, 9]), // DATA: unexpected
    Buffer.from([0, 9, 0, 0]), // bad opcode
    Buffer.concat([Buffer.from([0, 1]), Buffer.from('f'), z, Buffer.from('octet'), z]), // RRQ: unexpected
    Buffer.concat([Buffer.from([0, 1]), Buffer.from('f'), z]), // RRQ without mode: malformed_request
    Buffer.concat([Buffer.from([0, 1]), Buffer.from('f'), z, Buffer.from('octet'), z, Buffer.from('blksize'), z]), // odd options
    Buffer.concat([Buffer.from([0, 1]), z, Buffer.from('octet'), z]), // empty name
    Buffer.concat([Buffer.from([0, 1]), Buffer.from('f'), z, Buffer.from('octet'), z, z, Buffer.from('8'), z]), // empty option name
    Buffer.concat([Buffer.from([0, 2]), Buffer.from('x'.repeat(600)), z, Buffer.from('octet'), z]), // too long a string
    Buffer.concat([Buffer.from([0, 6]), Buffer.from('blksize'), z]), // OACK, odd
    Buffer.concat([Buffer.from([0, 6]), Buffer.from('blksize'), z, Buffer.from('8'), z]), // OACK: unexpected
    encodeAck(7), // an ACK for a block never sent: ignored (duplicateAcks), not a drop
  ]
  const results: { drops: Record<string, number>; rec: Partial<TransferRecord> }[] = []
  for (const dataPath of ['auto', 'js'] as const) {
    const srv = new TftpServer({ address: '127.0.0.1', port: 0, resolver: new LayeredResolver({ roots: [dir] }), logger: silentLogger(), dataPath, limits: { rtoInitialMs: 5000, rtoMinMs: 5000, rtoMaxMs: 5000 } })
    await srv.start()
    const records: TransferRecord[] = []
    srv.on('tftp.transfer.done', (r) => records.push(r))
    const p = await rawPeer(srv.address.port)
    const stranger = await rawPeer(srv.address.port)
    await p.send(encodeRequest('rrq', 'f', 'octet'))
    t.match((await p.next())?.packet, { op: 'data', block: 1 }, `${dataPath}: DATA 1`)
    for (const j of junk) await p.send(j)
    await stranger.send(encodeAck(1), p.tid!)
    t.match((await stranger.next())?.packet, { op: 'error', code: 5 }, `${dataPath}: error 5 to a stranger`)
    await p.send(encodeAck(1))
    t.match((await p.next())?.packet, { op: 'data', block: 2 }, `${dataPath}: the transfer goes on`)
    await p.send(encodeAck(2))
    t.match((await p.next())?.packet, { op: 'data', block: 3 })
    await p.send(encodeAck(3))
    for (let i = 0; i < 300 && records.length === 0; i++) await new Promise((r) => setTimeout(r, 5))
    results.push({ drops: srv.stats().drops, rec: { ...records[0], durationMs: 0, id: 0, client: undefined, rttMs: null } })
    t.equal(srv.stats().duplicateAcks, 1, `${dataPath}: the ACK for a block never sent is ignored`)
    p.close()
    stranger.close()
    await srv.stop()
  }
  t.same(results[0]!.drops, { short: 3, unexpected_opcode: 3, bad_opcode: 1, malformed_request: 3, malformed_options: 3, unknown_tid: 1 }, 'every datagram counted once, by reason')
  t.same(results[0], results[1], 'both paths count and record the same')
  t.match(results[0]!.rec, { outcome: 'ok', bytes: 1300, retransmits: 0 })
})

const files = ['server.test.ts', 'fuzz.test.ts', 'clients.test.ts', 'loss.test.ts']
for (const f of files) {
  const needsRoot = f === 'clients.test.ts' || f === 'loss.test.ts' || f === 'fuzz.test.ts'
  t.test(`${f} on the JavaScript data path`, { skip: needsRoot && !isRoot() && 'needs root (network namespaces)' }, async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `test/tftp/${f}`], {
      cwd: repoRoot, env: { ...process.env, BOOTLAB_TFTP_DATA_PATH: 'js' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    const failures = out.split('\n').filter((l) => /^\s*not ok /.test(l))
    t.equal(code, 0, `${f} exits 0`)
    t.same(failures, [], 'no failed assertion')
    t.match(out, /\bok \d+ /, 'assertions ran')
  })
}
