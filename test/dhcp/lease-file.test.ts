// The lease file store: snapshot + journal, replay, torn and stale journals, rewrites.
import t from 'tap'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JsonFileLeaseStore } from '../../src/dhcp/lease-file.js'
import type { Lease } from '../../src/dhcp/leases.js'

const lease = (ip: string, mac: string, state: Lease['state'] = 'bound'): Lease => ({ ip, mac, clientId: null, hostname: null, state, expiresAt: 1e15 })

/** the journal's lines (its text ends at the first NUL: the rest is room for more) */
async function journalLines(file: string): Promise<string[]> {
  const text = await readFile(`${file}.journal`, 'utf8')
  return text.slice(0, text.includes('\0') ? text.indexOf('\0') : text.length).trim().split('\n')
}

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
  t.equal((await journalLines(file)).length, 1 + 3, 'header and three journal lines')
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
  // a crash in the middle of the next write: a torn line, then the NULs of the unused room
  const lines = await journalLines(file)
  await writeFile(`${file}.journal`, Buffer.concat([Buffer.from(lines.join('\n') + '\n{"ip":"10.0.0.12","mac":"c'), Buffer.alloc(1000)]))
  const s2 = new JsonFileLeaseStore(file)
  t.same((await s2.load()).map((l) => l.ip), ['10.0.0.10', '10.0.0.11'])
  await s2.save([], () => [a, b])
  t.same(JSON.parse(await readFile(file, 'utf8')).leases.map((l: Lease) => l.ip), ['10.0.0.10', '10.0.0.11'], 'rewritten')
  t.equal((await journalLines(file)).length, 1, 'journal restarted (header only)')
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
  const [head] = await journalLines(file)
  t.match(JSON.parse(head!), { generation: snap.generation })
  await writeFile(`${file}.journal`, `${head}\n${JSON.stringify(lease('10.0.0.99', 'old'))}\n`)
  t.same(await new JsonFileLeaseStore(file).load(), [], 'the stale journal is not replayed over the newer snapshot')
})

t.test('the journal is folded into a new snapshot once it outgrows the table', async (t) => {
  const file = await fresh(t)
  const s = new JsonFileLeaseStore(file)
  await s.load()
  const a = lease('10.0.0.10', 'aa')
  await s.save([a], () => [a])
  for (let i = 0; i < 300; i++) await s.save([{ ...a, expiresAt: i }], () => [{ ...a, expiresAt: i }])
  const lines = (await journalLines(file)).length
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

t.test('a save that does not fit in the journal\'s room goes into a new snapshot', async (t) => {
  const file = await fresh(t)
  const s = new JsonFileLeaseStore(file)
  await s.load()
  const a = lease('10.0.0.10', 'aa')
  await s.save([a], () => [a])
  const big = { ...a, hostname: 'h'.repeat(200) }
  const many = Array.from({ length: 400 }, (_, i) => ({ ...big, ip: `10.0.${1 + (i >> 8)}.${i & 255}` }))
  await s.save(many, () => [a, ...many])
  t.equal(JSON.parse(await readFile(file, 'utf8')).leases.length, 401, 'all of it in the snapshot')
  t.equal((await journalLines(file)).length, 1, 'journal empty again')
  t.equal((await new JsonFileLeaseStore(file).load()).length, 401)
  await s.close()
})
