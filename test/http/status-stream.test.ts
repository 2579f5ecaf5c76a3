// GET /api/events/stream against a running `bootlab serve`, read with a plain HTTP client: events in
// order with the store's ids, resume with Last-Event-ID (config events included), the token rule,
// the per-source cap, and a boot script request with 200 streams open.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { writeFile } from 'node:fs/promises'
import { PC, httpFrom, openStream, startStatusLab, type SseReader } from './fixtures/status-lab.js'

const run = promisify(execFile)

t.test('event stream', async (t) => {
  const lab = await startStatusLab()
  t.teardown(() => lab.stop())
  const boot = (): Promise<{ status: number }> => httpFrom(PC.addr, `${lab.url}/boot.ipxe?mac=${PC.mac}&arch=x86_64&platform=efi`)

  await t.test('the token is needed', async (t) => {
    const none = await openStream(lab.url)
    t.equal(none.status, 401, 'no token: 401')
    none.close()
    const wrong = await openStream(lab.url, { token: 'wrong-token-wrong-token' })
    t.equal(wrong.status, 403, 'wrong token: 403')
    wrong.close()
  })

  let lastSeen = 0
  await t.test('events in order, with ids', async (t) => {
    const s = await openStream(lab.url, { token: lab.token })
    t.equal(s.status, 200)
    for (let i = 0; i < 3; i++) t.equal((await boot()).status, 200)
    await s.waitFor((evs) => evs.filter((e) => e.data.type === 'http.script').length >= 3)
    const ids = s.events.map((e) => e.id)
    t.same(ids, [...ids].sort((a, b) => a - b), 'ids ascending')
    t.equal(new Set(ids).size, ids.length, 'no duplicates')
    for (const e of s.events) {
      t.equal(e.data.id, e.id, 'data carries the same id')
      t.equal(e.event, 'lifecycle')
    }
    t.ok(s.events.every((e) => e.data.mac === PC.mac), 'all for the machine that booted')
    lastSeen = ids[ids.length - 1]!
    s.close()
  })

  await t.test('reconnect with Last-Event-ID gets what was missed, config events included', async (t) => {
    // while disconnected: another boot and a rejected config edit
    t.equal((await boot()).status, 200)
    await writeFile(lab.file, lab.yaml({ broken: true }))
    const deadline = Date.now() + 8000
    let s: SseReader | undefined
    for (;;) {
      s = await openStream(lab.url, { token: lab.token, lastEventId: lastSeen })
      try {
        await s.waitFor((evs) => evs.some((e) => e.data.type === 'config.rejected'), 500)
        break
      } catch {
        s.close()
        if (Date.now() > deadline) throw new Error('the rejected edit never showed up in the replay')
      }
    }
    const ids = s.events.map((e) => e.id)
    t.ok(ids.every((id) => id > lastSeen), 'only events after Last-Event-ID')
    t.same(ids, [...ids].sort((a, b) => a - b), 'in order')
    t.ok(s.events.some((e) => e.data.type === 'http.script'), 'the missed boot script request')
    const rej = s.events.find((e) => e.data.type === 'config.rejected')!
    t.equal(rej.event, 'config', 'config events have their own name')
    t.match((rej.data.data.errors as { line: number; column: number }[])[0], { line: Number, column: Number }, 'with line and column')
    // live after the replay: the fix arrives on the same connection
    await writeFile(lab.file, lab.yaml())
    await s.waitFor((evs) => evs.some((e) => e.data.type === 'config.applied'), 8000)
    s.close()
  })

  await t.test('per-source cap, and 200 open streams do not hold up a boot script', async (t) => {
    // timed with curl, a process of its own: this test process is busy parsing 200 streams
    const timeBoot = async (): Promise<number> => {
      const samples: number[] = []
      for (let i = 0; i < 5; i++) {
        const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '--max-time', '10', '--interface', PC.addr, '-w', '%{http_code} %{time_total}', `${lab.url}/boot.ipxe?mac=${PC.mac}&arch=x86_64&platform=efi`])
        const [code, secs] = stdout.split(' ')
        t.equal(code, '200')
        samples.push(Number(secs) * 1000)
        await new Promise((r) => setTimeout(r, 150)) // one request at a time, as a booting machine sends them
      }
      return samples.sort((a, b) => a - b)[2]!
    }
    const before = await timeBoot()
    const streams: SseReader[] = []
    t.teardown(() => { for (const s of streams) s.close() })
    // 25 source addresses × 8 streams (the per-source cap)
    for (let a = 0; a < 25; a++) {
      const from = `127.0.1.${a + 1}`
      for (let i = 0; i < 8; i++) streams.push(await openStream(lab.url, { token: lab.token, from }))
    }
    t.ok(streams.every((s) => s.status === 200), '200 streams open')
    const ninth = await openStream(lab.url, { token: lab.token, from: '127.0.1.1' })
    t.equal(ninth.status, 503, 'a ninth stream from one source is refused')
    ninth.close()
    const t0 = performance.now()
    const r = await boot()
    const first = performance.now() - t0
    t.equal(r.status, 200)
    t.ok(first < 5000, `boot script answered in ${first.toFixed(1)} ms with 200 streams open`)
    const during = await timeBoot()
    await Promise.all(streams.slice(0, 20).map((s) => s.waitFor((evs) => evs.some((e) => e.data.type === 'http.script'), 5000)))
    t.pass('the streams got the boot events')
    t.comment(`boot script latency (median of 5): ${before.toFixed(1)} ms without streams, ${during.toFixed(1)} ms with 200 open streams`)
    const metrics = await (await fetch(`${lab.url}/metrics`)).text()
    t.match(metrics, /^bootlab_status_open 200$/m, '/metrics counts the open streams')
    t.match(metrics, /^bootlab_status_refused [1-9]\d*$/m, 'and the refused ones')
  })
})

t.test('public_read: true opens the page and the stream without the token', async (t) => {
  const lab = await startStatusLab({ publicRead: true })
  t.teardown(() => lab.stop())
  const page = await fetch(`${lab.url}/`)
  t.equal(page.status, 200)
  const html = await page.text()
  t.match(html, PC.mac, 'the machine list')
  t.notMatch(html, /name="csrf"/, 'but no action forms without logging in')
  const s = await openStream(lab.url)
  t.equal(s.status, 200, 'the stream')
  s.close()
  t.equal((await fetch(`${lab.url}/api/machines`)).status, 200, 'and the JSON reads')
  const post = await fetch(`${lab.url}/api/machines/${PC.name}/assign`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"profile":"local"}' })
  t.equal(post.status, 401, 'changes still need the token')
})
