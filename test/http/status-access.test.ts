// Status page access against a running `bootlab serve`: login form only without the token, the
// session cookie's attributes, CSRF on every action (refused and nothing changed without it),
// login rate limit per source, escaping of network-sourced text, no secrets in the page.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { PC, PI, STRANGER, httpFrom, startStatusLab } from './fixtures/status-lab.js'

t.test('status page access', async (t) => {
  const lab = await startStatusLab()
  t.teardown(() => lab.stop())
  const yamlNow = (): Promise<string> => readFile(lab.file, 'utf8')

  await t.test('without the token: the login form only', async (t) => {
    for (const path of ['/', `/machines/${PI.name}`]) {
      const r = await fetch(`${lab.url}${path}`)
      t.equal(r.status, 401, path)
      const html = await r.text()
      t.match(html, /<form method="post" action="\/login"/)
      t.notMatch(html, new RegExp(`${PI.mac}|${PI.name}|${PC.mac}`), 'no machine details')
    }
    t.equal((await fetch(`${lab.url}/healthz`)).status, 200, '/healthz stays open')
    t.equal((await fetch(`${lab.url}/metrics`)).status, 200, '/metrics stays open')
  })

  let cookie = ''
  await t.test('login: a session cookie, never the token', async (t) => {
    const bad = await fetch(`${lab.url}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=nope' })
    t.equal(bad.status, 403)
    t.equal(bad.headers.get('set-cookie'), null, 'no cookie for a wrong token')
    const r = await fetch(`${lab.url}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${encodeURIComponent(lab.token)}` })
    t.equal(r.status, 303)
    const sc = r.headers.get('set-cookie') ?? ''
    t.match(sc, /^bootlab_session=[A-Za-z0-9_-]{40,};/)
    t.match(sc, /; HttpOnly/)
    t.match(sc, /; SameSite=Strict/)
    t.match(sc, /; Path=\//)
    t.match(sc, /; Max-Age=\d+/)
    t.notMatch(sc, lab.token, 'not the token')
    cookie = sc.split(';')[0]!
    const page = await fetch(`${lab.url}/`, { headers: { cookie } })
    t.equal(page.status, 200)
    t.match(await page.text(), PI.mac)
    t.equal((await fetch(`${lab.url}/api/machines`, { headers: { cookie } })).status, 200, 'the session reads the JSON API too')
    t.equal((await fetch(`${lab.url}/`, { headers: { cookie: 'bootlab_session=forged-value' } })).status, 401, 'a made-up session id is not a session')
  })

  const csrfOf = async (): Promise<string> => {
    const html = await (await fetch(`${lab.url}/machines/${PC.name}`, { headers: { cookie } })).text()
    return /name="csrf" value="([^"]+)"/.exec(html)![1]!
  }
  const post = (path: string, body: string, c = cookie): Promise<Response> =>
    fetch(`${lab.url}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie: c, 'content-type': 'application/x-www-form-urlencoded' }, body })

  await t.test('actions need the CSRF token; refused ones change nothing', async (t) => {
    const before = await yamlNow()
    let r = await post(`/machines/${PC.name}/assign`, 'profile=ubuntu')
    t.equal(r.status, 403, 'assign without a CSRF token')
    r = await post(`/machines/${PC.name}/assign`, 'profile=ubuntu&csrf=not-the-right-one')
    t.equal(r.status, 403, 'assign with a wrong CSRF token')
    r = await post(`/machines/${PI.name}/power`, 'action=off&csrf=')
    t.equal(r.status, 403, 'power with an empty CSRF token')
    r = await post(`/machines/${STRANGER.mac}/forget`, 'csrf=nope')
    t.equal(r.status, 403, 'forget with a wrong CSRF token')
    r = await post(`/machines/${PC.name}/assign`, `profile=ubuntu&csrf=${await csrfOf()}`, '')
    t.equal(r.status, 401, 'a CSRF token without the session cookie')
    t.equal(await yamlNow(), before, 'the YAML is unchanged')
    const events = await (await fetch(`${lab.url}/api/events?limit=1000`, { headers: { authorization: `Bearer ${lab.token}` } })).json() as { events: { type: string }[] }
    t.notOk(events.events.some((e) => e.type === 'assigned' && JSON.stringify(e).includes(PC.name)), 'no assignment recorded')

    const csrf = await csrfOf()
    r = await post(`/machines/${PC.name}/assign`, `profile=local&csrf=${csrf}`)
    t.equal(r.status, 200, 'with the token: done')
    t.match(await r.text(), /Assigned; deployment #\d+/)
    t.match(await yamlNow(), /pc-02:\n\s+mac: [^\n]+\n\s+arch: x86_64\n\s+profile: local/)
    r = await post(`/machines/${PC.name}/power`, `action=cycle&csrf=${csrf}`)
    t.equal(r.status, 400, 'power on a machine without a power: section: the API\'s answer')
  })

  await t.test('forget a discovered machine', async (t) => {
    t.equal((await httpFrom(STRANGER.addr, `${lab.url}/boot.ipxe?mac=${STRANGER.mac}`)).status, 200)
    t.equal((await fetch(`${lab.url}/machines/${STRANGER.mac}`, { headers: { cookie } })).status, 200)
    const r = await post(`/machines/${STRANGER.mac}/forget`, `csrf=${await csrfOf()}`)
    t.equal(r.status, 303)
    t.equal((await fetch(`${lab.url}/machines/${STRANGER.mac}`, { headers: { cookie } })).status, 404, 'gone')
    t.equal((await post(`/machines/${PC.name}/forget`, `csrf=${await csrfOf()}`)).status, 404, 'configured machines are not forgotten')
    // the JSON API's forget: same function, bearer token
    t.equal((await httpFrom(STRANGER.addr, `${lab.url}/boot.ipxe?mac=${STRANGER.mac}`)).status, 200, 'seen again')
    const api = (auth?: string): Promise<Response> => fetch(`${lab.url}/api/machines/${STRANGER.mac}/forget`, { method: 'POST', headers: auth ? { authorization: auth } : {} })
    t.equal((await api()).status, 401, 'API forget without the token')
    t.equal((await api(`Bearer ${lab.token}`)).status, 200, 'API forget with it')
    t.equal((await api(`Bearer ${lab.token}`)).status, 404, 'already gone')
  })

  await t.test('escaped, and no secrets', async (t) => {
    const script = await httpFrom(PI.addr, `${lab.url}/boot.ipxe?mac=${PI.mac}&arch=arm64&platform=efi`)
    const ci = /(\/cloud-init\/[0-9a-f]{32}\/)/.exec(script.text)![1]!
    const evil = '<img src=x onerror=alert(1)>"\'&'
    const f = await httpFrom(PI.addr, `${lab.url}${ci}failed`, { method: 'POST', body: JSON.stringify({ reason: evil }), headers: { 'content-type': 'application/json' } })
    t.ok(f.status < 300, `failure reported (${f.status})`)
    for (const path of ['/', `/machines/${PI.name}`]) {
      const html = await (await fetch(`${lab.url}${path}`, { headers: { cookie } })).text()
      t.notMatch(html, '<img src=x', `${path}: the reason is escaped`)
      t.notMatch(html, /[0-9a-f]{32}/, `${path}: no cloud-init token`)
      t.notMatch(html, lab.token, `${path}: no API token`)
      if (path !== '/') t.match(html, '&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;', 'shown as text')
    }
    const r = await fetch(`${lab.url}/`, { headers: { cookie } })
    t.match(r.headers.get('content-security-policy'), /script-src 'self'/, 'no inline script allowed')
    t.equal(r.headers.get('x-frame-options'), 'DENY')
  })

  await t.test('login attempts are rate-limited per source', async (t) => {
    const from = '127.0.2.7'
    const attempt = (): Promise<{ status: number }> => httpFrom(from, `${lab.url}/login`, { method: 'POST', body: 'token=guess', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    const codes: number[] = []
    for (let i = 0; i < 7; i++) codes.push((await attempt()).status)
    t.same(codes, [403, 403, 403, 403, 403, 429, 429], 'five tries, then 429')
    const right = await httpFrom(from, `${lab.url}/login`, { method: 'POST', body: `token=${encodeURIComponent(lab.token)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    t.equal(right.status, 429, 'even the right token waits')
    const other = await httpFrom('127.0.2.8', `${lab.url}/login`, { method: 'POST', body: `token=${encodeURIComponent(lab.token)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    t.equal(other.status, 303, 'another source is not affected')
  })

  await t.test('logout ends the session', async (t) => {
    const r = await post('/logout', `csrf=${await csrfOf()}`)
    t.equal(r.status, 303)
    t.match(r.headers.get('set-cookie') ?? '', /Max-Age=0/)
    t.equal((await fetch(`${lab.url}/`, { headers: { cookie } })).status, 401, 'the old cookie no longer works')
  })
})
