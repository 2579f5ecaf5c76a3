import t from 'tap'
import { spawnSync } from 'node:child_process'

const bootlab = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 60_000 })

t.test('bootlab check on the example exits 0 with a summary', async (t) => {
  const r = bootlab('check', '--config', 'examples/bootlab.yaml')
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /examples\/bootlab\.yaml: ok: 2 machine\(s\), 3 profile\(s\), 1 switch\(es\)/)
})

t.test('bootlab check on a broken file prints every error and exits 1', async (t) => {
  const r = bootlab('check', '--config', 'test/fixtures/config/broken.yaml')
  t.equal(r.status, 1)
  const lines = r.stdout.trim().split('\n')
  t.equal(lines.at(-1), 'test/fixtures/config/broken.yaml: 15 error(s)')
  t.match(lines[0], /^test\/fixtures\/config\/broken\.yaml:4:11 server\.http\.port: /)
  t.match(r.stdout, /broken\.yaml:38:22 machines\.pi-03\.power\.switch: no switch named "rak" \(did you mean "rack"\?\)/)
})

t.test('check --json, missing file, usage errors', async (t) => {
  const j = bootlab('check', '--json', '--config', 'test/fixtures/config/broken.yaml')
  t.equal(j.status, 1)
  const body = JSON.parse(j.stdout) as { ok: boolean; errors: unknown[] }
  t.equal(body.ok, false)
  t.equal(body.errors.length, 15)
  const missing = bootlab('check', '--config', '/nonexistent/bootlab.yaml')
  t.equal(missing.status, 1)
  t.match(missing.stdout, /the config file does not exist/)
  const usage = bootlab('frobnicate')
  t.equal(usage.status, 2)
})

t.test('bootlab schema prints a JSON Schema an editor can use', async (t) => {
  const r = bootlab('schema')
  t.equal(r.status, 0, r.stderr)
  const s = JSON.parse(r.stdout) as { properties: Record<string, { properties?: Record<string, unknown> }> }
  t.ok(s.properties.server?.properties?.dhcp, 'server.dhcp described')
  t.ok(s.properties.machines, 'machines described')
})

t.test('check on an alias bomb: a config error with its position, no stack trace (issue 13 item 13)', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`)
  writeFileSync(join(dir, 'bomb.yaml'), lines.join('\n') + '\n')
  const r = bootlab('check', '--config', join(dir, 'bomb.yaml'))
  t.equal(r.status, 1)
  t.match(r.stdout, /bomb\.yaml:2:\d+ the file expands its aliases/)
  t.notMatch(r.stderr, /at .*\.js:\d+|ReferenceError/, 'no stack trace')
  // a minimal config without a discovery profile: ok, and the warning says what happens (item 24)
  writeFileSync(join(dir, 'min.yaml'), 'profiles:\n  local: { boot: local }\n')
  const m = bootlab('check', '--config', join(dir, 'min.yaml'))
  t.equal(m.status, 0, m.stdout + m.stderr)
  t.match(m.stderr, /warning: .*no profile "discovery": unknown machines are recorded \(discovered\) but not booted/)
})
