// Debian's cloud-init code reads the NoCloud seed over HTTP and its phone_home module posts back:
// the machine goes installing → deployed.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness } from './fixtures/harness.js'
import { labConfig, PI_MAC } from './fixtures/lab-config.js'

const run = promisify(execFile)
const CLIENT = new URL('./fixtures/cloud-init-client.py', import.meta.url).pathname

t.test('cloud-init NoCloud seed + phone_home module', { skip: !existsSync('/usr/lib/python3/dist-packages/cloudinit') && 'Debian cloud-init not installed' }, async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d) })
  t.teardown(() => h.close())
  const ud = join(h.dir, 'live-user-data.yaml')
  writeFileSync(ud, '#cloud-config\nhostname: {{ hostname }}\nphone_home:\n  url: "{{ phone_home_url }}"\n  post: all\n  tries: 1\n')
  h.config.profiles['ubuntu-live']!.cloud_init = { user_data: ud }
  h.config.machines['pi-03']!.profile = 'ubuntu-live'
  h.lifecycle.onConfigChange({ type: 'machine.profile_changed', machine: 'pi-03', from: 'ubuntu-install', to: 'ubuntu-live' })
  const script = await (await fetch(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}`)).text()
  const seed = /;s=(\S+)/.exec(script)![1]!

  const r = await run('/usr/bin/python3', [CLIENT, seed], { timeout: 60_000 })
  const got = JSON.parse(r.stdout) as { meta_data: Record<string, string>; user_data: Record<string, unknown> }
  const dep = h.lifecycle.get('pi-03')!.deployment!
  t.equal(got.meta_data['instance-id'], `pi-03-${dep.id}`)
  t.equal(got.meta_data['local-hostname'], 'pi-03')
  t.equal(got.user_data.hostname, 'pi-03')

  const m = h.lifecycle.get('pi-03')!
  t.equal(m.state, 'deployed', 'phone_home POST marked the machine deployed')
  t.equal(m.applied_profile, 'ubuntu-live')
  const ph = h.lifecycle.events({ machine: 'pi-03', limit: 50 }).find((e) => e.type === 'phone-home')!
  t.equal(ph.data.instance_id, `pi-03-${dep.id}`)
  t.equal(ph.data.hostname, 'pi-03')
  t.equal(ph.data.fqdn, 'pi-03.lab')
  t.notOk(ph.data.instance_id_mismatch)
  t.same(ph.data.keys, ['dsa', 'rsa', 'ecdsa', 'ed25519'], 'key types recorded, not the keys')

  // a wrong token: cloud-init's reader fails
  const bad = seed.replace(/[0-9a-f]{32}/, '0'.repeat(32))
  await t.rejects(run('/usr/bin/python3', [CLIENT, bad], { timeout: 60_000 }))
})
