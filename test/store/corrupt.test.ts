// A damaged state database (issue 13 item 15): a clear message with the recovery, a distinct
// exit code for serve, no restart loop.
import t from 'tap'
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store, StoreCorruptError, storeFile } from '../../src/store/store.js'
import { EXIT } from '../../src/cli/exit-codes.js'
import { freePort, serve } from '../helpers/serve.js'

function tmp(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-corrupt-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const RECOVERY = [/move the file aside/, /creates a new, empty database/, /machine history/, /power journal/, /dhcp-leases\.json/]

t.test('a file that is not a database: StoreCorruptError naming the file and the recovery', async (t) => {
  const dir = tmp(t)
  const file = storeFile(dir)
  writeFileSync(file, 'this is not an SQLite file at all, just some text that fills the header page'.repeat(100))
  const err = (() => { try { new Store({ file }); return undefined } catch (e) { return e } })()
  t.ok(err instanceof StoreCorruptError, String(err))
  t.match((err as Error).message, file)
  for (const re of RECOVERY) t.match((err as Error).message, re)
})

t.test('a database with a damaged page is refused at open, not at the first unlucky query', async (t) => {
  const dir = tmp(t)
  const file = storeFile(dir)
  const s = new Store({ file })
  for (let i = 0; i < 400; i++) s.ensureMachine(`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, { state: 'discovered' })
  s.db.pragma('wal_checkpoint(TRUNCATE)')
  s.close()
  const size = readFileSync(file).length
  t.ok(size > 3 * 4096, `${size} bytes`)
  const fd = openSync(file, 'r+')
  writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 2 * 4096) // page 3: a b-tree page
  closeSync(fd)
  t.throws(() => new Store({ file }), StoreCorruptError)
})

t.test('serve on a damaged database: exit code 7 with the recovery on stderr', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'bootlab.yaml')
  writeFileSync(file, 'server:\n  unknown: ignore\n  http: { listen: 127.0.0.1 }\n  tftp: { listen: 127.0.0.1 }\nprofiles:\n  local: { boot: local }\n')
  mkdirSync(join(dir, 'state'))
  writeFileSync(storeFile(join(dir, 'state')), 'garbage'.repeat(1000))
  const port = await freePort()
  const err = await serve(['--config', file, '--state-dir', join(dir, 'state'), '--http-port', String(port), '--tftp-port', String(await freePort()), '--dhcp-mode', 'off', '--advertise', '127.0.0.1'], { port, timeoutMs: 30_000 }).then(
    async (s) => { await s.stop('SIGKILL'); return undefined },
    (e: unknown) => e as Error,
  )
  t.ok(err, 'serve did not come up')
  t.match(err?.message, new RegExp(`exited with ${EXIT.STATE}:`))
  for (const re of RECOVERY) t.match(err?.message, re)
})
