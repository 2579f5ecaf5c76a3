import t from 'tap'
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultTokenFile, loadOrCreateToken, readToken, tokenMatches } from '../../src/http/token.js'

t.test('token file: created 0600 once, reused, permissions tightened', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-token-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = defaultTokenFile(join(dir, 'state'))
  t.equal(await readToken(file), undefined)
  const [a, b] = await Promise.all([loadOrCreateToken(file), loadOrCreateToken(file)])
  t.equal(a, b, 'concurrent starts agree')
  t.match(a, /^[A-Za-z0-9_-]{43}$/)
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.equal(await loadOrCreateToken(file), a)
  chmodSync(file, 0o644)
  await loadOrCreateToken(file)
  t.equal(statSync(file).mode & 0o777, 0o600, 'a group/world-readable token file is fixed')
  t.equal(await readToken(file), a)
  writeFileSync(file, 'short\n')
  await t.rejects(loadOrCreateToken(file), /too short/)
  t.equal(readFileSync(file, 'utf8'), 'short\n')
})

t.test('comparison', async (t) => {
  t.ok(tokenMatches('abcdefghijklmnopq', 'abcdefghijklmnopq'))
  t.notOk(tokenMatches('abcdefghijklmnopq', 'abcdefghijklmnopr'))
  t.notOk(tokenMatches('abcdefghijklmnopq', 'abc'))
  t.notOk(tokenMatches('abcdefghijklmnopq', ''))
})
