// Both TFTP data paths are tested: the other test/tftp files run on the default one (the native
// DATA/ACK loop, native/tftpfast, when it is built); this file picks the path as configured and runs
// server, fuzz, clients and loss tests again with the JavaScript path forced
// (BOOTLAB_TFTP_DATA_PATH=js), the fallback used when the native helper is not built.
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { TftpServer } from '../../src/tftp/server.js'
import { LayeredResolver } from '../../src/tftp/resolver.js'
import { silentLogger } from '../../src/log.js'
import { isRoot } from '../helpers/netns.js'

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
