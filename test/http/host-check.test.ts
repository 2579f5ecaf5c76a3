// DNS rebinding: the status page, login and API answer only to Host names bootlab knows; boot paths
// (firmware, iPXE, installers) stay open to any Host.
import t from 'tap'
import { request } from 'node:http'
import { hostname } from 'node:os'
import { startHarness } from './fixtures/harness.js'
import { labConfig, PI_MAC } from './fixtures/lab-config.js'
import { hostName } from '../../src/http/host-check.js'

function send(base: string, path: string, host: string, method = 'GET', headers: Record<string, string> = {}): Promise<number> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers: { host, ...headers }, setHost: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(method === 'POST' ? 'token=nope' : undefined)
  })
}

t.test('hostName', async (t) => {
  t.equal(hostName('Evil.Example:8080'), 'evil.example')
  t.equal(hostName('[::1]:80'), '[::1]')
  t.equal(hostName('bootlab.lan.'), 'bootlab.lan')
})

t.test('Host header check', async (t) => {
  const h = await startHarness({ config: (d) => {
    const c = labConfig(d)
    ;(c.server.http as { hosts?: string[] }).hosts = ['bootlab.home.arpa']
    return c
  } })
  t.teardown(() => h.close())
  const port = new URL(h.baseUrl).port
  const auth = { authorization: `Bearer ${h.token}` }
  for (const host of ['rebind.attacker.example', `rebind.attacker.example:${port}`, '10.66.66.66']) {
    t.equal(await send(h.baseUrl, '/', host), 421, `status page, Host ${host}`)
    t.equal(await send(h.baseUrl, '/api/machines', host, 'GET', auth), 421, `API, Host ${host}`)
    t.equal(await send(h.baseUrl, '/api/events/stream', host, 'GET', auth), 421, `event stream, Host ${host}`)
    t.equal(await send(h.baseUrl, '/login', host, 'POST', { 'content-type': 'application/x-www-form-urlencoded' }), 421, `login, Host ${host}`)
    t.equal(await send(h.baseUrl, `/boot.ipxe?mac=${PI_MAC}`, host), 200, `boot script stays open, Host ${host}`)
    t.equal(await send(h.baseUrl, '/files/images/ubuntu/linux', host), 200, `files stay open, Host ${host}`)
  }
  for (const host of [`127.0.0.1:${port}`, 'localhost', `[::1]:${port}`, hostname(), 'bootlab.home.arpa', `BOOTLAB.home.arpa:${port}`]) {
    t.equal(await send(h.baseUrl, '/api/machines', host, 'GET', auth), 200, `API, Host ${host}`)
    t.equal(await send(h.baseUrl, '/', host), 401, `status page (login form), Host ${host}`)
  }
  // the advertised address (what clients are told) is accepted too
  h.advertised = 'http://192.0.2.10:8080'
  t.equal(await send(h.baseUrl, '/api/machines', '192.0.2.10:8080', 'GET', auth), 200, 'advertised address')
})
