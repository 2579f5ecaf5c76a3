// GET /api/machines and /api/events are paginated with capped page sizes: a table full of discovered
// machines is never one unbounded response, and following the cursors yields every row exactly once.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { labConfig } from './fixtures/lab-config.js'

t.test('API pagination', async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d) })
  t.teardown(() => h.close())
  for (let i = 0; i < 45; i++) h.lifecycle.onDhcp({ mac: `aa:bb:cc:00:01:${i.toString(16).padStart(2, '0')}`, kind: 'discover', class: 'ipxe' })
  const auth = { authorization: `Bearer ${h.token}` }
  const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await fetch(`${h.baseUrl}${path}`, { headers: auth })
    return { status: r.status, body: await r.json() as Record<string, unknown> }
  }
  const all = (await get('/api/machines')).body
  t.equal((all.machines as unknown[]).length, 47, 'default page holds a small lab')
  t.equal(all.next_cursor, null)

  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const r = await get(`/api/machines?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    t.equal(r.status, 200)
    const ms = r.body.machines as { mac: string }[]
    t.ok(ms.length <= 10)
    seen.push(...ms.map((m) => m.mac))
    cursor = r.body.next_cursor as string | null
    pages++
  } while (cursor && pages < 20)
  t.equal(pages, 5)
  t.equal(new Set(seen).size, 47, 'every machine once')
  t.same(seen, (all.machines as { mac: string }[]).map((m) => m.mac), 'same order as unpaginated')
  t.equal((await get('/api/machines?limit=100000')).status, 200, 'a huge limit is capped, not refused')
  t.equal((await get('/api/machines?cursor=garbage')).status, 400, 'bad cursor')

  const first = (await get('/api/events?limit=5')).body
  const evs = first.events as { id: number }[]
  t.equal(evs.length, 5)
  t.equal(first.next_before, evs[4]!.id)
  const next = (await get(`/api/events?limit=5&before=${first.next_before as number}`)).body.events as { id: number }[]
  t.ok(next.every((e) => e.id < evs[4]!.id), 'older page')
  t.equal(next.length, 5)
})
