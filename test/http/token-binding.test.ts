// Cloud-init tokens over HTTP: a boot script asked for a machine from another address carries no
// token; a stolen token reads no user-data and cannot mark the machine deployed (403); a script
// poller is rate-limited (429) and cannot evict the installer's token.
import t from 'tap'
import { request } from 'node:http'
import { startHarness } from './fixtures/harness.js'
import { labConfig, PI_MAC } from './fixtures/lab-config.js'

function send(base: string, path: string, from: string, method = 'GET', body?: string): Promise<{ status: number; text: string }> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, localAddress: from, agent: false, headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {} }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const TOKEN = /\/cloud-init\/([0-9a-f]{32})\//

t.test('token binding over HTTP', async (t) => {
  const h = await startHarness({ config: (d) => labConfig(d) })
  t.teardown(() => h.close())
  const PI_IP = '127.0.0.5'
  const EVIL = '127.0.0.66'
  h.lifecycle.onDhcp({ mac: PI_MAC, kind: 'request', class: 'rpi', ip: PI_IP })

  const fromEvil = await send(h.baseUrl, `/boot.ipxe?mac=${PI_MAC}`, EVIL)
  t.equal(fromEvil.status, 200, 'the script itself is served')
  t.notMatch(fromEvil.text, TOKEN, 'but without a cloud-init token')
  t.equal(h.lifecycle.get('pi-03')!.ip, PI_IP, 'the request did not move the machine to the asker\'s address')

  const own = await send(h.baseUrl, `/boot.ipxe?mac=${PI_MAC}`, PI_IP)
  const token = TOKEN.exec(own.text)?.[1]
  t.ok(token, 'the machine gets a token')
  t.equal((await send(h.baseUrl, `/cloud-init/${token}/user-data`, EVIL)).status, 403, 'stolen token: no user-data')
  t.equal((await send(h.baseUrl, `/cloud-init/${token}/phone-home`, EVIL, 'POST', 'hostname=x')).status, 403, 'stolen token: no phone-home')
  t.equal((await send(h.baseUrl, `/cloud-init/${token}/failed`, EVIL, 'POST', 'reason=x')).status, 403, 'stolen token: no failure report')
  t.not(h.lifecycle.get('pi-03')!.state, 'deployed')
  t.not(h.lifecycle.get('pi-03')!.state, 'failed')
  const ud = await send(h.baseUrl, `/cloud-init/${token}/user-data`, PI_IP)
  t.equal(ud.status, 200, 'the machine reads its user-data')

  // someone polls the machine's boot script (spoofing nothing): rate-limited, the installer's token lives
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) statuses.push((await send(h.baseUrl, `/boot.ipxe?mac=${PI_MAC}`, PI_IP)).status)
  t.ok(statuses.includes(429), `script poller rate-limited (${statuses.join(' ')})`)
  t.ok(statuses.filter((s) => s === 200).length < 10, 'fewer mints than the tokens kept')
  const ph = await send(h.baseUrl, `/cloud-init/${token}/phone-home`, PI_IP, 'POST', 'hostname=pi-03')
  t.equal(ph.status, 200, 'the installer still phones home')
  await new Promise((r) => setTimeout(r, 200)) // the observation queue
  t.equal(h.lifecycle.get('pi-03')!.state, 'deployed')
})
