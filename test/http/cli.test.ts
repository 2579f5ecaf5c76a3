// bootlab machines | status | assign against a running server (the routers on loopback).
import t from 'tap'
import { runCli } from './fixtures/run-cli.js'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { startHarness } from './fixtures/harness.js'
import { labConfig, PI_MAC } from './fixtures/lab-config.js'
import { createYamlAssigner } from '../../src/machines/yaml-assign.js'
import { machinesCommand } from '../../src/cli/machines.js'
import { statusCommand } from '../../src/cli/status.js'
import { assignCommand } from '../../src/cli/assign.js'

t.test('CLI commands', async (t) => {
  const h = await startHarness({
    config: (d) => labConfig(d),
    persistAssign: (h) => {
      const file = join(h.dir, 'bootlab.yaml')
      writeFileSync(file, `machines:\n  pi-03:\n    mac: ${PI_MAC}\n    profile: ubuntu-install\n  pc-01:\n    mac: 52:54:00:12:34:56\n`)
      return createYamlAssigner({
        configPath: file,
        reload: async () => {
          const y = parse(readFileSync(file, 'utf8')) as { machines: Record<string, { profile?: string }> }
          for (const [name, m] of Object.entries(y.machines)) {
            const cur = h.config.machines[name]!
            if (cur.profile !== m.profile) {
              const from = cur.profile
              cur.profile = m.profile
              h.lifecycle.onConfigChange({ type: 'machine.profile_changed', machine: name, from, to: m.profile })
            }
          }
        },
      })
    },
  })
  t.teardown(() => h.close())
  const stateDir = join(h.dir, 'cli-state')
  mkdirSync(stateDir)
  writeFileSync(join(stateDir, 'api-token'), h.token + '\n', { mode: 0o600 })
  await fetch(`${h.baseUrl}/boot/aa-bb-cc-00-00-09.ipxe?arch=arm64&platform=efi`)

  const run = runCli

  const msr = await run(machinesCommand, ['--server', h.baseUrl, '--state-dir', stateDir])
  t.equal(msr.code, 0)
  const ms = msr.out
  const lines = ms.trim().split('\n')
  t.match(lines[0], /^NAME\s+MAC\s+ARCH\s+STATE\s+PROFILE\s+NEXT BOOT\s+IP\s+LAST SEEN$/)
  t.match(ms, /pi-03\s+dc:a6:32:00:00:03\s+rpi4\s+assigned\s+ubuntu-install\s+ubuntu-install/)
  t.match(ms, /\(unnamed\)\s+aa:bb:cc:00:00:09\s+arm64\s+discovered/)
  t.match(ms, /1 discovered machine\(s\) not in the config/)
  const json = JSON.parse((await run(machinesCommand, ['-s', h.baseUrl, '--state-dir', stateDir, '--json'])).out) as { name: string }[]
  t.equal(json.length, 3)

  const st = (await run(statusCommand, ['--server', h.baseUrl, '--state-dir', stateDir])).out
  t.match(st, /3 machine\(s\) — /)

  let r = await run(assignCommand, ['--server', h.baseUrl, '-t', 'wrong', 'pi-03', 'local'])
  t.same([r.code, r.err], [4, 'bootlab assign: invalid token (give the API token with --token, BOOTLAB_TOKEN or --state-dir)\n'])
  r = await run(assignCommand, ['--server', h.baseUrl, '--token-file', join(h.dir, 'none'), 'pi-03', 'local'])
  t.equal(r.code, 4)
  t.match(r.err, /no API token/)
  r = await run(assignCommand, ['--server', h.baseUrl, '--state-dir', stateDir, 'pi-03', 'local'])
  t.equal(r.code, 0)
  t.match(r.out, /^pi-03: local assigned \(deployment \d+\), state assigned\n$/)
  t.match(readFileSync(join(h.dir, 'bootlab.yaml'), 'utf8'), 'profile: local')
  r = await run(assignCommand, ['--server', h.baseUrl, '--state-dir', stateDir, 'pi-03', 'nope'])
  t.same([r.code, r.err], [2, 'bootlab assign: unknown profile nope\n'])

  const one = (await run(statusCommand, ['--server', h.baseUrl, '--state-dir', stateDir, 'pi-03'])).out
  t.match(one, /^pi-03 {2}dc:a6:32:00:00:03 {2}rpi4 {2}serial 1a2b3c03\n/)
  t.match(one, /profile: {4}local {3}next boot: local/)
  t.match(one, /assigned local \(deployment \d+\)/)
  r = await run(statusCommand, ['--server', 'http://127.0.0.1:1', 'pi-03'])
  t.equal(r.code, 4)
  t.match(r.err, /cannot reach bootlab/)
})
