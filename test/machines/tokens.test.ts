// Cloud-init tokens: bound to the address bootlab saw the machine use, a token in use is never
// evicted by newer ones (a script poller cannot kill the installer's token), and minting is rate-limited.
import t from 'tap'
import { Store, BOOT_TOKENS_KEPT } from '../../src/store/store.js'
import { issueToken, useToken } from '../../src/machines/tokens.js'
import { MintLimit } from '../../src/machines/mint-limit.js'

const MAC = 'dc:a6:32:00:00:03'

function setup(): Store {
  const s = new Store({ file: ':memory:' })
  s.ensureMachine(MAC, { name: 'pi-03', state: 'ready' })
  s.newDeployment(MAC, 'pi-03', 'ubuntu-install')
  return s
}

function mint(s: Store, ip?: string): string {
  const r = issueToken(s, MAC, ip)
  if (!r.ok) throw new Error(`not minted: ${r.reason}`)
  return r.token
}

t.test('a token used by the installer survives any number of later script requests', async (t) => {
  const s = setup()
  const installer = mint(s)
  t.ok(useToken(s, installer, '10.0.0.3', true).ok, 'installer fetches user-data')
  for (let i = 0; i < 3 * BOOT_TOKENS_KEPT; i++) mint(s)
  t.ok(useToken(s, installer, '10.0.0.3', false).ok, 'installer token still valid (phone-home works)')
})

t.test('when every kept token is in use, minting is refused rather than evicting', async (t) => {
  const s = setup()
  const toks = Array.from({ length: BOOT_TOKENS_KEPT }, () => mint(s))
  for (const tok of toks) t.ok(useToken(s, tok, undefined, true).ok)
  const r = issueToken(s, MAC)
  t.same(r, { ok: false, reason: 'in-use' })
  for (const tok of toks) t.ok(useToken(s, tok, undefined, false).ok, 'none evicted')
})

t.test('bound to the address bootlab saw', async (t) => {
  const s = setup()
  s.observe(MAC, { ip: '10.0.0.3', seen: true })
  t.same(issueToken(s, MAC, '10.0.0.66'), { ok: false, reason: 'address' }, 'asked from another address: no token')
  const tok = mint(s, '10.0.0.3')
  const stolen = useToken(s, tok, '10.0.0.66', true)
  t.equal(stolen.ok, false)
  t.equal(!stolen.ok && stolen.reason, 'address', 'refused from another address')
  t.ok(useToken(s, tok, '10.0.0.3', true).ok, 'the machine itself is served')
  // nothing seen yet: bound to the address that asked
  const s2 = setup()
  const tok2 = mint(s2, '10.0.0.4')
  t.equal(useToken(s2, tok2, '10.0.0.5', false).ok, false)
  t.ok(useToken(s2, tok2, '10.0.0.4', false).ok)
  // a configured ip: binds even before anything was seen
  const s3 = setup()
  t.same(issueToken(s3, MAC, '10.0.0.66', undefined, '10.0.0.3'), { ok: false, reason: 'address' })
  t.ok(issueToken(s3, MAC, '10.0.0.3', undefined, '10.0.0.3').ok)
})

t.test('mint rate limit per machine and per source', async (t) => {
  let now = 0
  const l = new MintLimit({ perMacBurst: 2, perMacEveryMs: 1000, perSourceBurst: 3, perSourceEveryMs: 1000, now: () => now })
  t.ok(l.allow('m1', 'a'))
  t.ok(l.allow('m1', 'a'))
  t.notOk(l.allow('m1', 'a'), 'machine over its burst')
  t.ok(l.allow('m2', 'a'), 'another machine from the same source')
  t.notOk(l.allow('m3', 'a'), 'source over its burst')
  t.ok(l.allow('m3', 'b'), 'another source')
  now += 1000
  t.ok(l.allow('m1', 'a'), 'refilled')
  const s = setup()
  t.same(issueToken(s, MAC, undefined, () => false), { ok: false, reason: 'rate' })
})

t.test('the installer leasing another address than its firmware did (DHCP seen) keeps its token; a third address does not', async (t) => {
  const s = setup()
  s.observe(MAC, { ip: '10.0.0.100' })            // the firmware's lease
  const tok = mint(s, '10.0.0.100')
  t.equal(useToken(s, tok, '10.0.0.101', false).ok, false, 'before bootlab saw the new lease: refused')
  s.observe(MAC, { ip: '10.0.0.101' })            // the installer's own DHCP, as bootlab observes it
  t.ok(useToken(s, tok, '10.0.0.101', true).ok, 'from the machine\'s current address: accepted')
  t.ok(useToken(s, tok, '10.0.0.100', false).ok, 'and from the address it was issued for')
  t.same(useToken(s, tok, '10.0.0.66', false), { ok: false, reason: 'address', deployment: useToken(s, tok, '10.0.0.100', false).ok ? s.currentDeployment(MAC) : undefined, bound: '10.0.0.100' }, 'a stranger: refused')
})
