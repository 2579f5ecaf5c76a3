// NoCloud documents under the per-boot token; the example autoinstall user-data validated by
// Debian's cloud-init (`cloud-init schema --config-file`).
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { startHarness } from './fixtures/harness.js'
import { labConfig, PI_MAC } from './fixtures/lab-config.js'

const run = promisify(execFile)

async function schema(file: string): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('cloud-init', ['schema', '--config-file', file], { timeout: 60_000 })
    return { ok: true, out: r.stdout + r.stderr }
  } catch (err) {
    const e = err as { stdout: string; stderr: string }
    return { ok: false, out: e.stdout + e.stderr }
  }
}

t.test('example Ubuntu autoinstall user-data renders to valid cloud-config', async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d) })
  t.teardown(() => h.close())
  const script = await (await fetch(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}`)).text()
  const ci = /;s=(\S+)/.exec(script)![1]!
  const res = await fetch(ci + 'user-data')
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const ud = await res.text()
  const file = join(h.dir, 'user-data')
  writeFileSync(file, ud)
  const s = await schema(file)
  t.ok(s.ok, `cloud-init schema: ${s.out}`)
  t.match(s.out, /Valid cloud-config/)

  // what the installer will do with it
  const doc = parse(ud) as { autoinstall: Record<string, unknown> & { 'user-data': Record<string, unknown> } }
  const ai = doc.autoinstall
  t.equal((ai.identity as Record<string, string>).hostname, 'pi-03')
  t.same((ai.ssh as Record<string, unknown>)['authorized-keys'], [h.config.machines['pi-03']!.vars.ssh_key])
  const late = (ai['late-commands'] as string[]).join('\n')
  t.match(late, `--data-urlencode instance_id=pi-03-${h.lifecycle.get('pi-03')!.deployment!.id}`)
  t.match(late, `${ci}phone-home`)
  t.match((ai['error-commands'] as string[]).join('\n'), `${ci}failed`)

  // the installed system's user-data (autoinstall.user-data) is cloud-config as well
  const inner = join(h.dir, 'inner-user-data')
  writeFileSync(inner, '#cloud-config\n' + JSON.stringify(ai['user-data']) + '\n')
  const s2 = await schema(inner)
  t.ok(s2.ok, `inner user-data: ${s2.out}`)
  t.same(ai['user-data'].phone_home, { url: `${ci}phone-home`, post: ['instance_id', 'hostname', 'fqdn'], tries: 5 })

  // and a machine without an ssh key renders valid too
  delete h.config.machines['pi-03']!.vars.ssh_key
  const ud2 = await (await fetch(ci + 'user-data')).text()
  writeFileSync(file, ud2)
  t.ok((await schema(file)).ok)
  t.notMatch(ud2, /authorized-keys/)

  // a broken document is caught by the same check (the check can fail)
  writeFileSync(file, '#cloud-config\nphone_home: 5\n')
  t.notOk((await schema(file)).ok, 'cloud-init schema rejects a wrong phone_home')
})

t.test('tokens: wrong, malformed and superseded tokens get 404', async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d) })
  t.teardown(() => h.close())
  const script = await (await fetch(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}`)).text()
  const ci = /;s=(\S+)/.exec(script)![1]!
  const token = /cloud-init\/([0-9a-f]{32})\//.exec(ci)![1]!
  t.equal((await fetch(ci + 'meta-data')).status, 200)
  t.equal((await fetch(ci + 'vendor-data')).status, 200)
  t.equal((await fetch(ci + 'network-config')).status, 404, 'no network-config template')
  t.equal((await fetch(ci + 'passwd')).status, 404)
  const wrong = token.replace(/^./, token[0] === 'a' ? 'b' : 'a')
  for (const bad of [wrong, 'x', '../meta-data', token.toUpperCase(), token + '0']) {
    t.equal((await fetch(`${h.baseUrl}/cloud-init/${bad}/user-data`)).status, 404, `token ${bad}`)
  }
  const before = h.lifecycle.get('pi-03')!
  t.equal(before.state, 'installing', 'the seed fetch with the right token started the install')
  const ph = await fetch(`${h.baseUrl}/cloud-init/${wrong}/phone-home`, { method: 'POST', body: new URLSearchParams({ instance_id: 'x' }) })
  t.equal(ph.status, 404)
  t.same(h.lifecycle.get('pi-03'), before, 'a wrong token changes nothing')

  // each boot gets its own token; older tokens of the same deployment keep working
  const script2 = await (await fetch(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}`)).text()
  const ci2 = /;s=(\S+)/.exec(script2)![1]!
  t.not(ci2, ci)
  t.equal((await fetch(ci + 'meta-data')).status, 200)
  const md1 = await (await fetch(ci2 + 'meta-data')).text()

  // a new deployment: new instance-id, old tokens dead
  h.config.machines['pi-03']!.profile = 'ubuntu-live'
  h.lifecycle.onConfigChange({ type: 'machine.profile_changed', machine: 'pi-03', from: 'ubuntu-install', to: 'ubuntu-live' })
  t.equal((await fetch(ci2 + 'meta-data')).status, 404)
  const script3 = await (await fetch(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}`)).text()
  const md2 = await (await fetch(/;s=(\S+)/.exec(script3)![1]! + 'meta-data')).text()
  t.not(md2.split('\n')[0], md1.split('\n')[0], 'instance-id changed with the deployment')
  t.match(md2, /^instance-id: pi-03-\d+\nlocal-hostname: pi-03\n$/)
})
