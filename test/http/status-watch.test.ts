// `bootlab status --watch`: follows a running bootlab's event stream with the token; reconnects with
// Last-Event-ID after the stream drops; strips control characters from network-sourced text.
import t from 'tap'
import { runCli } from './fixtures/run-cli.js'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { statusCommand } from '../../src/cli/status.js'
import { printable } from '../../src/cli/watch.js'
import { PC, httpFrom, startStatusLab } from './fixtures/status-lab.js'

const run = runCli

t.test('printable', async (t) => {
  t.equal(printable('pi\u001b[2J\u0007-01\r\n'), 'pi?[2J?-01??')
  t.equal(printable('a\u202eb\u009bc'), 'a?b?c')
  t.equal(printable('héllo ünïcode'), 'héllo ünïcode', 'ordinary text untouched')
})

t.test('--watch against a running bootlab', async (t) => {
  const lab = await startStatusLab()
  t.teardown(() => lab.stop())
  const stateDir = join(lab.dir, 'state')
  const refused = await run(statusCommand, ['--server', lab.url, '--token', 'wrong-token-wrong', '--watch', '--count', '1'])
  t.equal(refused.code, 4, 'a wrong token ends with exit 4')
  t.match(refused.err, /invalid token/)
  const watching = run(statusCommand, ['--server', lab.url, '--state-dir', stateDir, '--watch', '--count', '2', PC.name])
  await new Promise((r) => setTimeout(r, 500))
  t.equal((await httpFrom(PC.addr, `${lab.url}/boot.ipxe?mac=${PC.mac}&arch=x86_64&platform=efi`)).status, 200)
  t.equal((await httpFrom(PC.addr, `${lab.url}/boot.ipxe?mac=${PC.mac}&arch=x86_64&platform=efi`)).status, 200)
  const r = await watching
  t.equal(r.code, 0, r.err)
  const lines = r.out.trim().split('\n')
  t.equal(lines.length, 2)
  for (const l of lines) t.match(l, /^\d\d:\d\d:\d\d {2}pc-02 +http\.script \/boot\.ipxe$/)
})

t.test('--watch reconnects with Last-Event-ID and strips control characters', async (t) => {
  const seen: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    seen.push(req.headers)
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    if (seen.length === 1) {
      const evil = { id: 5, ts: Date.UTC(2026, 0, 1, 12, 0, 0), type: 'state', machine: 'pi\u001b]0;owned\u0007', mac: null, data: { from: 'installing', to: 'failed', reason: 'disk\u001b[2J gone' } }
      res.end(`: hello\n\nid: 5\nevent: lifecycle\ndata: ${JSON.stringify(evil)}\n\n`)
      return
    }
    res.write(`id: 6\nevent: config\ndata: ${JSON.stringify({ id: 6, ts: Date.UTC(2026, 0, 1, 12, 0, 1), type: 'config.rejected', machine: null, mac: null, data: { errors: [{ file: 'bootlab.yaml', line: 3, column: 7, message: 'bad' }] } })}\n\n`)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const r = await run(statusCommand, ['--server', url, '--token', 'test-token-0123456789', '--watch', '--count', '2'])
  t.equal(r.code, 0, r.err)
  t.equal(seen.length, 2, 'connected twice')
  t.equal(seen[0]!.authorization, 'Bearer test-token-0123456789', 'bearer token sent')
  t.equal(seen[0]!['last-event-id'], undefined, 'first connect: no Last-Event-ID')
  t.equal(seen[1]!['last-event-id'], '5', 'reconnect resumes after the last event')
  t.notOk([...r.out].some((c) => c !== '\n' && (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)), 'no control characters printed')
  t.match(r.out, '12:00:00  pi?]0;owned?')
  t.match(r.out, 'installing → failed (disk?[2J gone)')
  t.match(r.out, /12:00:01 {2}config +config edit rejected: bootlab\.yaml:3:7 bad/)
  t.match(r.out, '# event stream closed; reconnecting')
})
