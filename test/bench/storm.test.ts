// The boot-storm generator in CI: a small storm (10 simulated Pi 4 netboots: EEPROM DHCP + TFTP
// firmware, UEFI PXE + loader, iPXE + HTTP, sha256 on every transfer) against a real `bootlab serve`,
// one with 5 % UDP loss on the client links (firmware files at a fifth of their real size, to stay
// well under 90 s), and a kill -9 of bootlab mid-storm after which the store
// opens without repair and holds what the API and the lease file reported. The big runs are
// `npm run bench -- storm N` (bench/storm.ts).
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot } from '../../src/lab/netns.js'
import { createStormLab, type StormLab } from '../../bench/storm/run-storm.js'
import { makeFiles, type StormFiles } from '../../bench/storm/servers.js'
import { killStorm, stormOnce } from '../../bench/storm/scenarios.js'

const N = 10

t.test('boot storm: 10 Pis, 5 % loss, kill -9', { skip: !isRoot() && 'needs root (network namespaces)', timeout: 150_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-storm-test-'))
  const s: StormLab = await createStormLab(2)
  t.teardown(async () => {
    await s.lab.cleanup()
    await rm(dir, { recursive: true, force: true })
  })
  const f: StormFiles = await makeFiles(dir, N, { kernel: 500_000, initrd: 1_500_000, firmwareScale: 0.2 })

  const plain = await stormOnce(s, f, 'bootlab', 'plain', { n: N, tag: 'plain', spreadMs: 500, bootTimeoutMs: 60_000 })
  t.equal(plain.summary.ok, N, `every Pi booted (${plain.summary.errors.join('; ')})`)
  t.equal(plain.summary.wrongBytes, 0, 'no transfer delivered wrong bytes')
  t.ok(plain.usage.peakRssKb > 10_000, `the server was sampled (${plain.usage.peakRssKb} kB)`)

  const lossy = await stormOnce(s, f, 'bootlab', 'loss', { n: N, tag: 'loss', loss: 5, spreadMs: 500, bootTimeoutMs: 60_000 })
  t.equal(lossy.summary.ok, N, `every Pi booted under 5 % loss (${lossy.summary.errors.join('; ')})`)
  t.equal(lossy.summary.wrongBytes, 0, 'no wrong bytes under loss')

  const k = await killStorm(s, f, N, N / 2)
  t.ok(k.before.machines >= N / 2 && k.before.leases >= N / 2, `something was committed before the kill (${k.before.machines} machines, ${k.before.leases} leases)`)
  t.equal(k.check.openError, null, 'the store opens after kill -9')
  t.equal(k.check.integrity, 'ok', 'PRAGMA integrity_check')
  t.same(k.check.missing, [], 'every reported machine, lease and event is in the store')
  t.equal(k.row.summary.wrongBytes, 0, 'no wrong bytes across the restart')
  t.ok(k.row.summary.ok >= N / 2, `boots complete across the restart (${k.row.summary.ok}/${N}: ${k.row.summary.errors.join('; ')})`)
})
