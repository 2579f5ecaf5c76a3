// HTTP connection caps: one source opening many slow downloads holds at most its per-source share,
// others still get served, memory stays bounded, and downloads the client stopped reading are cut.
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { request } from 'node:http'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Router } from 'express'
import { silentLogger } from '../../src/log.js'
import { HttpService } from '../../src/http/server.js'
import { createFilesRouter } from '../../src/http/files.js'
import { CONNECTIONS_PER_SOURCE } from '../../src/http/connection-limit.js'

const SLOW = 100
const CHUNK = Buffer.alloc(64 * 1024, 7)

function get(port: number, path: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('connection caps and the slow-reader guard', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-conn-'))
  mkdirSync(join(dir, 'images'))
  writeFileSync(join(dir, 'images', 'big'), Buffer.alloc(16 * 1024 * 1024, 7))
  writeFileSync(join(dir, 'images', 'small'), 'hello')
  const log = silentLogger()
  const http = new HttpService({
    listen: '127.0.0.1', port: 0, logger: log, health: () => ({ status: 'ok' }), idleTimeoutMs: 2_000,
    mounts: [
      { path: '/files', router: createFilesRouter({ roots: () => ({ images: join(dir, 'images') }), log, idleTimeoutMs: 2_000 }) },
      // a large response without a timeout of its own: the server's slow-reader guard covers it
      { path: '/', router: Router().get('/big', (_req, res) => {
        let n = 0
        const more = (): void => { while (n < 256) { n++; if (!res.write(CHUNK)) { res.once('drain', more); return } } res.end() }
        more()
      }) },
    ],
  })
  await http.start()
  const sockets: Socket[] = []
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await http.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const port = http.address()!.port
  global.gc?.()
  const rssBefore = process.memoryUsage().rss

  // SLOW connections from 127.0.0.2, each asks for 16 MB (a file, or a generated body) and stops reading after the first chunk
  const status = new Map<Socket, string>()
  const closed = new Set<Socket>()
  await Promise.all(Array.from({ length: SLOW }, (_, i) => new Promise<void>((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' }, () => {
      s.write(`GET ${i % 2 ? '/big' : '/files/images/big'} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    })
    sockets.push(s)
    s.once('data', (b: Buffer) => { status.set(s, b.toString('latin1', 0, 12)); s.pause(); resolve() })
    s.on('error', () => undefined)
    s.on('close', () => { closed.add(s); resolve() })
  })))
  const served = [...status.values()].filter((v) => v === 'HTTP/1.1 200').length
  const refused = [...status.values()].filter((v) => v === 'HTTP/1.1 503').length
  t.comment(`from one source: ${served} downloads running, ${refused} answered 503, ${SLOW - served - refused} closed otherwise`)
  t.ok(served >= 1 && served <= CONNECTIONS_PER_SOURCE, `at most ${CONNECTIONS_PER_SOURCE} downloads from one source (got ${served})`)
  t.equal(served + refused + [...closed].filter((s) => !status.has(s)).length, SLOW, 'every other connection refused')

  t.equal(await get(port, '/files/images/small', '127.0.0.3'), 200, 'another source is still served')
  global.gc?.()
  const rssHeld = process.memoryUsage().rss
  t.comment(`RSS: ${(rssBefore / 2 ** 20).toFixed(1)} MB before, ${(rssHeld / 2 ** 20).toFixed(1)} MB with ${served} stalled downloads (+${((rssHeld - rssBefore) / 2 ** 20).toFixed(1)} MB)`)
  t.ok(rssHeld - rssBefore < 256 * 2 ** 20, 'memory growth bounded (generous bound)')

  // the stalled downloads make no progress: the guard destroys them on the server side (generous
  // bound; the paused clients do not read far enough to see the close themselves)
  t.equal(http.limit.stats.open, served, 'the server holds the running downloads')
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && http.limit.stats.open > 0) await new Promise((r) => setTimeout(r, 200))
  t.equal(http.limit.stats.open, 0, 'stalled downloads were cut')
  t.equal(await get(port, '/files/images/small', '127.0.0.2'), 200, 'the source is served again once its connections are gone')
})
