// The lease file store: snapshot + journal, replay, torn and stale journals, rewrites.
import t from 'tap'
import { appendFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonFileLeaseStore } from '../../src/dhcp/lease-file.js'
import type { Lease } from '../../src/dhcp/leases.js'

const lease = (ip: string, mac: string, state: Lease['state'] = 'bound'): Lease => ({ ip, mac, clientId: null, hostname: null, state, expiresAt: 1e15 })

async function fresh(test: Pick<typeof t, 'teardown'>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-lease-file-'))
  test.teardown(() => rm(dir, { recursive: true, force: true }))
  return join(dir, 'leases.json')
}

t.test('first save writes a snapshot, later saves append to the journal; load replays both', async (t) => {
  const file = await fresh(t)
  const s = new JsonFileLeaseStore(file)
  t.same(await s.load(), [], 'nothing yet')
  const a = lease('10.0.0.10', 'aa')
  await s.save([a], () => [a])
  t.match(JSON.parse(await readFile(file, 'utf8')), { version: 1, leases: [a] })
  const b = lease('10.0.0.11', 'bb')
  await s.save([b], () => [a, b])
  const released = { ...a, state: 'released' as const }
  await s.save([released, { ip: '10.0.0.11', gone: true }], () => [released])
  t.equal((await readFile(`${file}.journal`, 'utf8')).trim().split('\n').length, 1 + 3, 'header and three journal lines')
  t.same(JSON.parse(await readFile(file, 'utf8')).leases, [a], 'the snapshot is untouched by journal saves')
  await s.close()
  t.same(await new JsonFileLeaseStore(file).load(), [released], 'replayed: a released, b gone')
})

t.test('a torn last line is skipped, and the next save rewrites the snapshot', async (t) => {
  const file = await fresh(t)
  const s = new JsonFileLeaseStore(file)
  await s.load()
  const a = lease('10.0.0.10', 'aa')
  await s.save([a], () => [a])
  const b = lease('10.0.0.11', 'bb')
  await s.save([b], () => [a, b])
  await s.close()
  await appendFile(`${file}.journal`, '{"ip":"10.0.0.12","mac":"c')
  const s2 = new JsonFileLeaseStore(file)
  t.same((await s2.load()).map((l) => l.ip), ['10.0.0.10', '10.0.0.11'])
  await s2.save([], () => [a, b])
  t.same(JSON.parse(await readFile(file, 'utf8')).leases.map((l: Lease) => l.ip), ['10.0.0.10', '10.0.0.11'], 'rewritten')
  t.equal((await readFile(`${file}.journal`, 'utf8')).trim().split('\n').length, 1, 'journal restarted (header only)')
  await s2.close()
})

t.test('a journal of another generation (crash between snapshot and new journal) is ignored', async (t) => {
  const file = await fresh(t)
  const s = new JsonFileLeaseStore(file)
  await s.load()
  const a = lease('10.0.0.10', 'aa')
  await s.save([a], () => [a])
  await s.close()
  const snap = JSON.parse(await readFile(file, 'utf8')) as { generation: number }
  // the state after "snapshot of the next generation written, old journal still there"
  await writeFile(file, JSON.stringify({ version: 1, generation: snap.generation + 1, leases: [] }) + '\n')
  await appendFile(`${file}.journal`, JSON.stringify(lease('10.0.0.99', 'old')) + '\n')
  t.same(await new JsonFileLeaseStore(file).load(), [], 'the stale journal is not replayed over the newer snapshot')
})

t.test('the journal is folded into a new snapshot once it outgrows the table', async (t) => {
  const file = await fresh(t)
  const s = new JsonFileLeaseStore(file)
  await s.load()
  const a = lease('10.0.0.10', 'aa')
  await s.save([a], () => [a])
  for (let i = 0; i < 300; i++) await s.save([{ ...a, expiresAt: i }], () => [{ ...a, expiresAt: i }])
  const lines = (await readFile(`${file}.journal`, 'utf8')).trim().split('\n').length
  t.ok(lines < 300, `journal rewritten (${lines} lines now)`)
  t.same(await new JsonFileLeaseStore(file).load(), [{ ...a, expiresAt: 299 }], 'last state kept')
  await s.close()
  t.same((await readdir(join(file, '..'))).sort(), ['leases.json', 'leases.json.journal'], 'no temp files left')
})

t.test('a file that is not a lease file is refused', async (t) => {
  const file = await fresh(t)
  await writeFile(file, '{"hello": 1}')
  await t.rejects(new JsonFileLeaseStore(file).load(), /not a bootlab lease file/)
})
