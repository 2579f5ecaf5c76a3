// EventStream caps with a stand-in source on a real HTTP server: a client that does not read is
// dropped once its buffer passes the cap; the overall connection cap; replay capped with a gap event;
// heartbeat comments.
import t from 'tap'
import express from 'express'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { EventEmitter } from 'node:events'
import { silentLogger } from '../../src/log.js'
import { EventStream } from '../../src/http/status/stream.js'
import type { StatusSource, StatusEvent } from '../../src/http/status/source.js'

function fakeSource(): { source: StatusSource; emit: (e: StatusEvent) => void; stored: StatusEvent[] } {
  const bus = new EventEmitter<{ e: [StatusEvent] }>()
  const stored: StatusEvent[] = []
  const source = {
    subscribe: (fn: (e: StatusEvent) => void) => { bus.on('e', fn); return () => { bus.off('e', fn) } },
    events: (q: { afterId?: number; limit?: number }) => stored.filter((e) => e.id > (q.afterId ?? 0)).reverse().slice(0, q.limit ?? 100),
  } as unknown as StatusSource
  return { source, stored, emit: (e) => { stored.push(e); bus.emit('e', e) } }
}

async function listen(stream: EventStream): Promise<{ url: string; port: number; server: Server }> {
  const app = express()
  app.get('/s', stream.handle)
  const server = await new Promise<Server>((r) => { const s = app.listen(0, '127.0.0.1', () => r(s)) })
  const port = (server.address() as AddressInfo).port
  return { url: `http://127.0.0.1:${port}/s`, port, server }
}

const big = 'x'.repeat(16_000)
const event = (id: number): StatusEvent => ({ id, ts: id, machine: 'm', mac: 'aa:bb:cc:dd:ee:ff', type: 'dhcp', data: {} } as StatusEvent)

t.test('a client that does not read is dropped', async (t) => {
  const { source, emit } = fakeSource()
  const stream = new EventStream({ source, data: () => JSON.stringify({ big }), log: silentLogger(), maxBufferedBytes: 64 * 1024 })
  const { port, server } = await listen(stream)
  t.teardown(() => { stream.stop(); server.closeAllConnections(); server.close() })
  const sock = connect(port, '127.0.0.1')
  await new Promise((r) => sock.once('connect', r))
  sock.write('GET /s HTTP/1.1\r\nHost: x\r\n\r\n')
  sock.pause() // never reads
  const closed = new Promise<void>((r) => sock.once('close', () => r()))
  await new Promise((r) => setTimeout(r, 100))
  t.equal(stream.stats.open, 1)
  // up to 64 MB offered; the kernel buffers some, then the per-connection cap must trip
  for (let i = 1; i <= 4000 && stream.stats.open > 0; i++) {
    emit(event(i))
    if (i % 50 === 0) await new Promise((r) => setImmediate(r))
  }
  await new Promise((r) => setTimeout(r, 50))
  t.equal(stream.stats.open, 0, 'connection dropped')
  t.equal(stream.stats.dropped_slow, 1)
  sock.resume()
  sock.destroy()
  await closed
})

t.test('overall cap, replay cap with a gap event, heartbeat', async (t) => {
  const { source, emit } = fakeSource()
  for (let i = 1; i <= 30; i++) emit(event(i))
  const stream = new EventStream({ source, data: (e) => JSON.stringify({ id: e.id }), log: silentLogger(), maxClients: 2, maxReplay: 10, heartbeatMs: 100 })
  const { url, server } = await listen(stream)
  t.teardown(() => { stream.stop(); server.closeAllConnections(); server.close() })
  const ac = new AbortController()
  t.teardown(() => ac.abort())
  const a = await fetch(url, { headers: { 'last-event-id': '5' }, signal: ac.signal })
  const b = await fetch(url, { signal: ac.signal })
  t.equal(a.status, 200)
  t.equal(b.status, 200)
  const c = await fetch(url)
  t.equal(c.status, 503, 'third stream over the overall cap')
  t.equal(c.headers.get('retry-after'), '10')
  const reader = a.body!.getReader()
  let text = ''
  const end = Date.now() + 3000
  while (!text.includes(': heartbeat') && Date.now() < end) text += new TextDecoder().decode((await reader.read()).value)
  t.match(text, /event: gap\ndata: \{"after":5,"replayed":10\}/, 'more missed than replayed: a gap event')
  const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))
  t.same(ids, [21, 22, 23, 24, 25, 26, 27, 28, 29, 30], 'the newest 10, in order')
  t.match(text, ': heartbeat\n\n', 'heartbeat comment')
})
