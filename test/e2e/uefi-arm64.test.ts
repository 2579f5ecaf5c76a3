// Whole netboot under QEMU: uefi-arm64 guest → server under test → kernel + busybox initramfs → phone-home.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { runLabBoot, createLabServer, describeBoot, missingPrerequisites } from '../../src/lab/index.js'

const KIND = 'uefi-arm64'
const BUDGET_MS = 150_000
const missing = missingPrerequisites(KIND)

t.test(`${KIND} guest netboots to a phone-home`, { skip: missing.length > 0 && `missing: ${missing.join(', ')}` }, async (t) => {
  const server = createLabServer()
  const r = await runLabBoot({ kind: KIND, server, timeoutMs: BUDGET_MS })
  t.comment(describeBoot(r))
  const diag = `console:\n${r.consoleTail}\nserver:\n${r.serverLog.slice(-30).join('\n')}`
  t.ok(r.phoneHome, `the server under test (${r.server}) received the phone-home`, { diagnostic: true, details: diag })
  if (r.server === 'dnsmasq') {
    // the reference server records the raw POST; bootlab reports it through its log
    t.match(r.phoneHome?.from ?? '', /^10\.77\.7\.(1\d\d)$/, 'from an address of the pool')
    t.match(r.phoneHome?.body ?? '', /mac=52:54:00:/, 'carrying the guest MAC')
  }
  const names = r.milestones.map((m) => m.name)
  for (const step of ['firmware-dhcp', 'loader', 'kernel', 'init', 'guest-dhcp', 'phone-home', 'poweroff'] as const) {
    t.ok(names.includes(step), `console shows ${step}`, { details: diag })
  }
  const order = ['firmware-dhcp', 'kernel', 'init', 'guest-dhcp', 'phone-home'].map((n) => r.milestones.find((m) => m.name === n)?.atMs ?? -1)
  t.same([...order].sort((a, b) => a - b), order, 'milestones in boot order')
  t.notOk(names.includes('phone-home-failed'), 'no failure reported by the guest')
  t.ok(r.phoneHomeMs !== null && r.phoneHomeMs < BUDGET_MS, `phone-home within ${BUDGET_MS / 1000} s`)
  t.equal(r.exit?.code, 0, 'the guest powered itself off')
  t.notMatch(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), `blab-${r.labId}`, 'lab namespaces removed')
})
