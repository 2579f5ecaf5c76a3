import t from 'tap'
import { chmod, mkdtemp, readFile, rename, rm, writeFile, copyFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, serve } from './helpers/serve.js'

interface Health { status: string; version: string; config: { status: string; version: string; errors?: Array<{ line: number; column: number; path: string; message: string }> } }

async function health(url: string): Promise<Health> {
  const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })
  return (await r.json()) as Health
}

/** the child's log reaches us a little after /healthz has changed: wait for a line, bounded */
async function logged(s: { output: () => string }, re: RegExp, ms = 5000): Promise<string> {
  const t0 = Date.now()
  while (!re.test(s.output()) && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50))
  return s.output()
}

async function waitFor(url: string, pred: (h: Health) => boolean, ms: number): Promise<{ h: Health; elapsed: number }> {
  const t0 = Date.now()
  for (;;) {
    const h = await health(url)
    if (pred(h)) return { h, elapsed: Date.now() - t0 }
    if (Date.now() - t0 > ms) throw new Error(`condition not met in ${ms} ms: ${JSON.stringify(h)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('serve: invalid edits keep the last good config; fixes apply within 2 s; SIGTERM stops cleanly', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-serve-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'bootlab.yaml')
  const good = (await readFile('examples/bootlab.yaml', 'utf8')).replace('# listen: 0.0.0.0', 'listen: 127.0.0.1').replace('port: 69 ', 'listen: 127.0.0.1\n    port: 69 ')
  await writeFile(file, good)
  await copyFile('examples/rack.secret', join(dir, 'rack.secret'))
  await chmod(join(dir, 'rack.secret'), 0o644)
  const port = await freePort()
  const s = await serve(['--config', file, '--state-dir', join(dir, 'state'), '--http-port', String(port), '--tftp-port', String(await freePort()), '--dhcp-mode', 'off', '--advertise', '127.0.0.1'], { port })
  t.teardown(async () => { await s.stop('SIGKILL') })

  const h0 = await health(s.url)
  t.equal(h0.status, 'ok')
  t.equal(h0.config.status, 'ok')
  // the copied secret file is mode 0644: a warning in the log, never its content (issue 13 item 14)
  t.match(s.output(), /rack\.secret is readable by other users \(mode 0644\); chmod 600/)
  t.match(h0, { version: /^\d+\.\d+\.\d+/ })

  // an invalid edit: the server keeps serving and reports the error with its position
  const bad = good.replace('profile: ubuntu-24.04-install  #', 'profile: ubuntu-24.04-instal  #')
  const badLine = bad.split('\n').findIndex((l) => l.includes('ubuntu-24.04-instal  #')) + 1
  await writeFile(file, bad)
  const { h: h1 } = await waitFor(s.url, (h) => h.config.status === 'error', 5000)
  t.equal(h1.status, 'ok', 'still serving')
  t.equal(h1.config.version, h0.config.version, 'the previous config is still the running one')
  t.match(h1.config.errors, [{ line: badLine, column: 14, path: 'machines.pi-03.profile', message: 'no profile named "ubuntu-24.04-instal" (did you mean "ubuntu-24.04-install"?)' }])
  t.match(await logged(s, /config edit rejected/), /config edit rejected, previous config keeps running/)

  // the fix, saved the way many editors do (write a new file, rename over the old one)
  const fixed = good.replace('off_seconds: 5 ', 'off_seconds: 7 ')
  await writeFile(`${file}.tmp`, fixed)
  await rename(`${file}.tmp`, file)
  const { h: h2, elapsed } = await waitFor(s.url, (h) => h.config.status === 'ok', 5000)
  t.ok(elapsed <= 2000, `fix applied after ${elapsed} ms (must be within 2 s)`)
  t.not(h2.config.version, h0.config.version, 'the fixed config is running')
  t.notOk(h2.config.errors, 'no errors left')
  t.match(await logged(s, /switch.changed/), /"type":"switch.changed","switch":"rack"/)
  t.notMatch(s.output(), /s3cr3t-example/, 'the switch password never reaches the log')

  const metrics = await (await fetch(`${s.url}/metrics`)).text()
  t.match(metrics, /^bootlab_tftp_requests \d+$/m, 'TFTP counters on /metrics')
  t.match(metrics, /^bootlab_machines_state\{key="assigned"\} 2$/m, 'machines by state on /metrics')
  t.match(metrics, /^bootlab_process_resident_memory_bytes /m, 'process metrics on /metrics')

  const stopped = await s.stop('SIGTERM')
  t.equal(stopped.code, 0, 'exit code 0 after SIGTERM')
  t.ok(stopped.ms < 5000, `stopped in ${stopped.ms} ms`)
})

t.test('serve refuses to start on an invalid config with exit code 1', async (t) => {
  const port = await freePort()
  await t.rejects(serve(['--config', 'test/fixtures/config/broken.yaml', '--http-port', String(port)], { port, timeoutMs: 20_000 }), /exited with 1:[\s\S]*broken\.yaml:38:22 machines\.pi-03\.power\.switch/)
})

t.test('serve: a huge edit and an alias bomb are rejected with a clear error; /healthz answers; SIGTERM exits promptly', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-serve-big-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'bootlab.yaml')
  const good = 'server:\n  unknown: ignore\n  http: { listen: 127.0.0.1 }\n  tftp: { listen: 127.0.0.1 }\nprofiles:\n  local: { boot: local }\n'
  await writeFile(file, good)
  const port = await freePort()
  const s = await serve(['--config', file, '--state-dir', join(dir, 'state'), '--http-port', String(port), '--tftp-port', String(await freePort()), '--dhcp-mode', 'off', '--advertise', '127.0.0.1'], { port })
  t.teardown(async () => { await s.stop('SIGKILL') })
  const h0 = await health(s.url)

  // 400k keys, ~9.8 MB: used to pin the CPU for minutes (quadratic duplicate-key check)
  const keys = Array.from({ length: 400_000 }, (_, i) => `      key${i}: value-${i}`).join('\n')
  // written aside and renamed, so the server never reads it half-written
  await writeFile(`${file}.tmp`, `${good}machines:\n  pc:\n    mac: 00:11:22:33:44:55\n    arch: bios\n    vars:\n${keys}\n`)
  await rename(`${file}.tmp`, file)
  const { h: h1 } = await waitFor(s.url, (h) => h.config.status === 'error', 10_000)
  t.equal(h1.status, 'ok', 'still serving')
  t.equal(h1.config.version, h0.config.version, 'the previous config keeps running')
  t.match(h1.config.errors, [{ line: 1, column: 1, message: /larger than 1 MiB/ }])

  // an alias bomb: rejected with the position of its first alias
  const bomb = ['b0: &b0 [x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 10; i++) bomb.push(`b${i}: &b${i} [${Array(9).fill(`*b${i - 1}`).join(', ')}]`)
  await writeFile(`${file}.tmp`, bomb.join('\n') + '\n')
  await rename(`${file}.tmp`, file)
  const { h: h2 } = await waitFor(s.url, (h) => JSON.stringify(h.config.errors ?? []).includes('aliases'), 10_000)
  t.match(h2.config.errors, [{ line: 2, message: /aliases/ }])
  t.match(await logged(s, /config edit rejected[^\n]*aliases/), /config edit rejected[^\n]*aliases/)

  const stopped = await s.stop('SIGTERM')
  t.equal(stopped.code, 0, 'exit code 0 after SIGTERM')
  t.ok(stopped.ms < 5000, `stopped in ${stopped.ms} ms`)
})
