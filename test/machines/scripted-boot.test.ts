// A whole deployment driven through the real HTTP endpoints (boot script, files, cloud-init,
// phone-home) and the lifecycle's DHCP/TFTP inputs, with a restart in the middle.
import t from 'tap'
import { startHarness } from '../http/fixtures/harness.js'
import { labConfig, PI_MAC } from '../http/fixtures/lab-config.js'
import { dhcpObservation, tftpObservation } from '../../src/machines/inputs.js'

async function get(url: string): Promise<{ status: number; text: string }> {
  let r: Response
  try {
    r = await fetch(url)
  } catch {
    r = await fetch(url) // a pooled keep-alive connection died with the restart
  }
  return { status: r.status, text: await r.text() }
}

t.test('assigned → netbooting → installing → deployed, then local; state survives restarts', async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d) })
  t.teardown(() => h.close())
  const state = (): string => h.lifecycle.get('pi-03')!.state

  t.equal(state(), 'assigned', 'a machine with a profile starts assigned')
  const dep = h.lifecycle.get('pi-03')!.deployment!
  t.equal(dep.profile, 'ubuntu-install')

  // bootloader DHCP (as the DHCP server reports it), then the firmware over TFTP
  h.lifecycle.onDhcp({ mac: PI_MAC, kind: 'discover', class: 'rpi', serial: '1a2b3c03' })
  t.equal(state(), 'netbooting')
  h.lifecycle.onDhcp({ mac: PI_MAC, kind: 'ack', class: 'rpi', ip: '127.0.0.1' })
  h.lifecycle.onTftp({ clientIp: '127.0.0.1', file: '1a2b3c03/start4.elf', outcome: 'ok', bytes: 2_000_000 })
  t.equal(h.lifecycle.get('pi-03')!.netboot_step, 'tftp 1a2b3c03/start4.elf')
  h.lifecycle.onDhcp({ mac: PI_MAC, kind: 'ack', class: 'uefi-arm64', ip: '127.0.0.1' })

  // iPXE asks for its script
  const script = await get(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}&arch=arm64&platform=efi`)
  t.equal(script.status, 200)
  const kernel = /^kernel (\S+) /m.exec(script.text)![1]!
  const initrd = /^initrd --name initrd0 (\S+) /m.exec(script.text)![1]!
  const ciUrl = /ds=nocloud-net;s=(\S+)/.exec(script.text)![1]!
  t.match(ciUrl, new RegExp(`^${h.baseUrl}/cloud-init/[0-9a-f]{32}/$`))
  t.equal(h.lifecycle.get('pi-03')!.netboot_step, 'script')

  await t.test('restart in the middle', async (t) => {
    await h.restart()
    t.equal(state(), 'netbooting', 'state kept across the restart')
  })

  const k = await fetch(kernel.replace(/^http:\/\/127\.0\.0\.1:\d+/, h.baseUrl))
  t.equal(k.status, 200)
  t.equal((await k.arrayBuffer()).byteLength, 6000)
  t.equal(h.lifecycle.get('pi-03')!.netboot_step, 'kernel')
  await (await fetch(initrd.replace(/^http:\/\/127\.0\.0\.1:\d+/, h.baseUrl))).arrayBuffer()
  t.equal(h.lifecycle.get('pi-03')!.netboot_step, 'initrd')

  // the installer fetches its NoCloud seed with the token from before the restart
  const ci = ciUrl.replace(/^http:\/\/127\.0\.0\.1:\d+/, h.baseUrl)
  const md = await get(ci + 'meta-data')
  t.equal(md.status, 200)
  t.match(md.text, `instance-id: pi-03-${dep.id}`)
  t.equal(state(), 'installing')
  const ud = await get(ci + 'user-data')
  t.equal(ud.status, 200)
  t.match(ud.text, `${ci}phone-home`)

  // late-command phone-home (form data, as curl --data-urlencode / cloud-init phone_home send it)
  const ph = await fetch(ci + 'phone-home', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ instance_id: `pi-03-${dep.id}`, hostname: 'pi-03', pub_key_ed25519: 'ssh-ed25519 AAAA' }).toString(),
  })
  t.equal(ph.status, 200)
  const v = h.lifecycle.get('pi-03')!
  t.equal(v.state, 'deployed')
  t.equal(v.applied_profile, 'ubuntu-install')
  t.ok(v.deployed_at)
  t.equal(v.boot_profile, 'local')

  const next = await get(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}&arch=arm64&platform=efi`)
  t.equal(next.text, `#!ipxe\n# bootlab: pi-03 (${PI_MAC}) profile local\nexit 1\n`, 'then: local — the next boot is local')

  await h.restart()
  t.equal(state(), 'deployed', 'deployed survives a restart')
  t.equal((await get(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}&arch=arm64&platform=efi`)).text, next.text)

  const transitions = h.lifecycle.events({ machine: 'pi-03', limit: 500 }).reverse()
    .filter((e) => e.type === 'state' || e.type === 'assigned' || e.type === 'deployed')
    .map((e) => (e.type === 'state' ? `state:${String(e.data.to)}` : e.type))
  t.same(transitions, ['assigned', 'state:netbooting', 'state:installing', 'deployed'])
  const all = JSON.stringify(h.lifecycle.events({ machine: 'pi-03', limit: 500 }))
  t.notMatch(all, /[0-9a-f]{32}/, 'no token in the event log')
})

t.test('unknown machines: discover records them, ignore does not', async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d, 'discover') })
  t.teardown(() => h.close())
  const r = await get(`${h.baseUrl}/boot/aa-bb-cc-dd-ee-01.ipxe?arch=x86_64&platform=pcbios`)
  t.equal(r.status, 200)
  t.equal(r.text, '#!ipxe\n# bootlab: unknown-aabbccddee01 (aa:bb:cc:dd:ee:01) profile discovery\nsanboot --no-describe --drive 0x80 || exit 1\n')
  h.lifecycle.onDhcp({ mac: 'aa:bb:cc:dd:ee:02', kind: 'discover', class: 'rpi', serial: '0badf00d', arch: 'rpi4' })
  const list = h.lifecycle.list().filter((m) => !m.configured)
  t.same(list.map((m) => [m.mac, m.state, m.arch, m.serial]).sort(), [
    ['aa:bb:cc:dd:ee:01', 'discovered', 'bios', null],
    ['aa:bb:cc:dd:ee:02', 'discovered', 'rpi4', '0badf00d'],
  ])
  // the user names it in the YAML: it becomes that machine
  h.config.machines['pi-07'] = { name: 'pi-07', mac: 'aa:bb:cc:dd:ee:02', arch: 'rpi4', cycle_on_assign: false, vars: {}, profile: 'local' }
  h.lifecycle.onConfigChange({ type: 'machine.added', machine: 'pi-07' })
  const m = h.lifecycle.get('pi-07')!
  t.equal(m.configured, true)
  t.equal(m.state, 'assigned')
  t.equal(m.serial, '0badf00d')
  const s = await get(`${h.baseUrl}/boot.ipxe?mac=aa:bb:cc:dd:ee:02`)
  t.equal(s.text, '#!ipxe\n# bootlab: pi-07 (aa:bb:cc:dd:ee:02) profile local\nexit 1\n')
  t.equal(h.lifecycle.get('pi-07')!.state, 'deployed', 'a local profile is deployed once its script was served')

  h.config.server.unknown = 'ignore'
  const ig = await get(`${h.baseUrl}/boot.ipxe?mac=aa:bb:cc:dd:ee:03`)
  t.equal(ig.status, 404)
  t.equal(h.lifecycle.get('aa:bb:cc:dd:ee:03'), undefined)
  t.equal((await get(`${h.baseUrl}/boot.ipxe?mac=nonsense`)).status, 400)
})

t.test('grub.cfg for the same machine, over HTTP by query and by GRUB file name', async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d) })
  t.teardown(() => h.close())
  const a = await get(`${h.baseUrl}/grub.cfg?mac=${PI_MAC}`)
  const b = await get(`${h.baseUrl}/grub/grub.cfg-01-dc-a6-32-00-00-03`)
  t.equal(a.status, 200)
  t.equal(b.status, 200)
  const host = new URL(h.baseUrl).host
  t.match(a.text, `  linux (http,${host})/files/images/ubuntu/linux ip=dhcp autoinstall ds=nocloud-net\\;s=${h.baseUrl}/cloud-init/`)
  t.match(b.text, `  initrd (http,${host})/files/images/ubuntu/initrd`)
  t.equal(h.lifecycle.get('pi-03')!.netboot_step, 'grub-cfg')

  // the same over TFTP (the resolver's generated hook): by client IP, or GRUB's per-MAC name
  h.lifecycle.onDhcp(dhcpObservation('ack', { mac: PI_MAC, class: 'uefi-arm64', arch: 11, rpiSerial: null, ip: '10.9.0.33' }))
  const byIp = await h.bootScripts.tftpGrubCfg({ client: { address: '10.9.0.33' }, path: 'grub/grub.cfg' })
  t.match(byIp, /^# bootlab: pi-03 \(dc:a6:32:00:00:03\) profile ubuntu-install\n/)
  const byMac = await h.bootScripts.tftpGrubCfg({ client: { address: '10.9.0.33' }, path: 'grub/grub.cfg-01-dc-a6-32-00-00-03' })
  t.match(byMac, /linux \(http,/)
  t.equal(await h.bootScripts.tftpGrubCfg({ client: { address: '10.9.0.250' }, path: 'grub/grub.cfg' }), null, 'an unknown address gets nothing')
  t.equal(await h.bootScripts.tftpGrubCfg({ client: { address: '10.9.0.33' }, path: 'grub/x86_64-efi/http.mod' }), null)
  h.lifecycle.onTftp(tftpObservation({ client: { address: '::ffff:10.9.0.33' }, file: 'grub/grub.cfg', outcome: 'ok', bytes: 400 }))
  t.equal(h.lifecycle.get('pi-03')!.netboot_step, 'tftp grub/grub.cfg')
})

t.test('installer failure → failed; a new assignment starts over', async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d) })
  t.teardown(() => h.close())
  const script = await get(`${h.baseUrl}/boot.ipxe?mac=${PI_MAC}`)
  const ci = /;s=(\S+)/.exec(script.text)![1]!
  const f = await fetch(ci + 'failed', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'reason=disk%20not%20found' })
  t.equal(f.status, 200)
  const v = h.lifecycle.get('pi-03')!
  t.equal(v.state, 'failed')
  t.equal(v.state_reason, 'disk not found')
  h.config.machines['pi-03']!.profile = 'ubuntu-live'
  h.lifecycle.onConfigChange({ type: 'machine.profile_changed', machine: 'pi-03', from: 'ubuntu-install', to: 'ubuntu-live' })
  t.equal(h.lifecycle.get('pi-03')!.state, 'assigned')
  t.equal((await get(ci + 'user-data')).status, 404, 'the old deployment token is dead')
})
