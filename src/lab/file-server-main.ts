// A small HTTP server for the dnsmasq reference setup of the lab, run as a child process inside
// the server namespace: serves files below --root (GET/HEAD) and records phone-homes
// (POST /phone-home/<guest>). Reports on stdout as JSON lines: listening, request, phone-home.
import { createServer } from 'node:http'
import { createReadStream, realpathSync, statSync } from 'node:fs'
import { join, sep } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { root: { type: 'string' }, address: { type: 'string' }, port: { type: 'string' } } })
if (!values.root || !values.address || !values.port) {
  console.error('usage: file-server-main --root DIR --address A --port N')
  process.exit(2)
}
const root = realpathSync(values.root)
const report = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n') }

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://lab')
  const from = req.socket.remoteAddress ?? ''
  req.setTimeout(30_000, () => req.destroy())
  const done = (status: number, body = ''): void => {
    res.writeHead(status, { 'content-type': 'text/plain' }).end(body)
    report({ event: 'request', method: req.method, path: url.pathname, status, from })
  }
  if (req.method === 'POST') {
    const m = /^\/phone-home\/([a-z0-9-]+)$/.exec(url.pathname)
    if (!m) { done(404); return }
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => { if (body.length < 65536) body += d })
    req.on('end', () => {
      report({ event: 'phone-home', guest: m[1], path: url.pathname, from, body })
      done(200, 'ok\n')
    })
    return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') { done(405); return }
  let file: string
  try {
    const rel = decodeURIComponent(url.pathname)
    if (rel.includes('\0')) throw new Error('nul')
    // URL parsing removed dot segments; the check stays in case it did not. Symlinks below the
    // root point into the artefact cache and were made by the lab, so they are followed.
    file = join(root, rel)
    if (!file.startsWith(root + sep) || !statSync(file).isFile()) throw new Error('not a file below the root')
  } catch {
    done(404)
    return
  }
  const size = statSync(file).size
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size })
  report({ event: 'request', method: req.method, path: url.pathname, status: 200, from, size })
  if (req.method === 'HEAD') { res.end(); return }
  createReadStream(file).on('error', () => res.destroy()).pipe(res)
})
server.listen(Number(values.port), values.address, () => report({ event: 'listening', address: values.address, port: Number(values.port) }))
process.on('SIGTERM', () => { server.close(); process.exit(0) })
