// The status page in headless Chromium (playwright-core, Debian's chromium) against a real
// `bootlab serve` on loopback: login, the machine list, a boot event arriving live, the config
// error banner coming and going, an assign through the page, and screenshots (test/artifacts/).
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { chromium, type Browser, type Page } from 'playwright-core'
import { parse } from 'yaml'
import { PC, PI, PI3, STRANGER, httpFrom, replayPiBoot, startStatusLab } from './fixtures/status-lab.js'

const CHROMIUM = '/usr/bin/chromium'

/** polls from the test side (the page's CSP rightly refuses the eval that waitForFunction needs) */
async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if (await cond()) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 25))
  }
}
const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname

t.test('status page in a real browser', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} missing (apt-get install chromium; .ci/apt.d/chromium.txt)` }, async (t) => {
  const lab = await startStatusLab()
  t.teardown(() => lab.stop())
  await mkdir(ARTIFACTS, { recursive: true })
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] })
  t.teardown(() => browser.close())
  const shot = async (page: Page, name: string, width: number): Promise<void> => {
    await page.setViewportSize({ width, height: 560 }) // fullPage grows it to the content
    await page.waitForTimeout(150)
    await page.screenshot({ path: `${ARTIFACTS}${name}-${width}.png`, fullPage: true })
  }

  // some history for the timeline: a whole Pi boot, and an unknown machine netbooting
  await replayPiBoot(lab)
  t.equal((await httpFrom(STRANGER.addr, `${lab.url}/boot.ipxe?mac=${STRANGER.mac}&arch=x86_64&platform=efi`)).status, 200, 'an unknown machine gets the discovery profile')

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } })
  const page = await ctx.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  // the login page answers 401 and a wrong token 403 on purpose; anything else is a defect
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) errors.push(m.text()) })

  await t.test('without the token: only the login form', async (t) => {
    const res = await page.goto(`${lab.url}/`)
    t.equal(res?.status(), 401)
    t.ok(await page.locator('form[action="/login"] input[name=token]').isVisible(), 'login form shown')
    t.equal(await page.locator('table.machines').count(), 0, 'no machine table')
    t.notMatch(await page.content(), /dc:a6:32|pi-01/, 'no machine details in the page')
    await page.fill('input[name=token]', 'not-the-token-at-all')
    await page.click('form[action="/login"] button')
    t.match(await page.locator('.notice.bad').textContent(), /not the API token/, 'a wrong token is refused')
  })

  await t.test('logged in: the machines are listed', async (t) => {
    await page.fill('input[name=token]', lab.token)
    await page.click('form[action="/login"] button')
    await page.waitForSelector('table.machines')
    const cookies = await ctx.cookies()
    const c = cookies.find((x) => x.name === 'bootlab_session')!
    t.ok(c, 'a session cookie')
    t.equal(c.httpOnly, true, 'HttpOnly')
    t.equal(c.sameSite, 'Strict', 'SameSite=Strict')
    t.not(c.value, lab.token, 'the cookie is not the token')
    const rows = await page.locator('#machines tr').allTextContents()
    for (const name of [PI.name, PC.name, PI3.name]) t.ok(rows.some((r) => r.includes(name)), `${name} listed`)
    t.ok(rows.some((r) => r.includes(STRANGER.mac) && /discovered/.test(r)), 'the unknown machine is listed as discovered, with its MAC')
    t.match(await page.locator(`#m-${PI.mac.replace(/:/g, '')}`).textContent(), /deployed/, 'pi-01 deployed after its boot')
    t.match(await page.locator('details.discovered pre').textContent(), `mac: "${STRANGER.mac}"`, 'YAML for the discovered machine under the table')
    await page.waitForSelector('#live.on', { timeout: 5000 })
    await shot(page, 'status-list', 1400)
    await shot(page, 'status-list', 390)
    await page.setViewportSize({ width: 1400, height: 900 })
  })

  await t.test('a boot event shows up within 2 s without a reload', async (t) => {
    // the test has no DOM types: page code as strings
    await page.evaluate('window.marker = 42')
    const row = page.locator(`#m-${PC.mac.replace(/:/g, '')}`)
    t.notMatch(await row.textContent(), /127\.0\.0\.12/, 'no address yet')
    const t0 = Date.now()
    t.equal((await httpFrom(PC.addr, `${lab.url}/boot.ipxe?mac=${PC.mac}&arch=x86_64&platform=efi`)).status, 200)
    t.ok(await until(async () => /127\.0\.0\.12/.test((await row.textContent()) ?? ''), 2000), 'the row shows the address within 2 s')
    t.comment(`boot script request → row updated in ${Date.now() - t0} ms`)
    t.equal(await page.evaluate('window.marker'), 42, 'the page was not reloaded')
  })

  await t.test('an invalid YAML edit shows the error banner with line and column; the fix removes it', async (t) => {
    await writeFile(lab.file, lab.yaml({ broken: true }))
    await page.waitForSelector('#banner.banner', { timeout: 8000 })
    const text = (await page.locator('#banner').textContent()) ?? ''
    t.match(text, /bootlab\.yaml:\d+:\d+/, `banner shows file:line:column (${text.replace(/\s+/g, ' ').slice(0, 160)})`)
    t.match(await page.locator('#cfgstate').textContent(), /config error/)
    await shot(page, 'status-config-error', 1400)
    await page.setViewportSize({ width: 1400, height: 900 })
    await writeFile(lab.file, lab.yaml())
    await page.waitForSelector('#banner:not(.banner)', { state: 'attached', timeout: 8000 })
    t.match(await page.locator('#cfgstate').textContent(), /config ok/, 'the fix removes the banner')
  })

  await t.test('assign through the page changes the YAML and the state shown', async (t) => {
    await page.goto(`${lab.url}/machines/${PC.name}`)
    t.equal(await page.locator('form[action$="/power"]').count(), 0, 'no power buttons for a machine without power control')
    await page.selectOption('form[action$="/assign"] select[name=profile]', 'ubuntu')
    await page.click('form[action$="/assign"] button')
    await page.waitForSelector('.notice')
    t.match(await page.locator('.notice').textContent(), /Assigned; deployment #\d+/)
    const y = parse(await readFile(lab.file, 'utf8')) as { machines: Record<string, { profile?: string }> }
    t.equal(y.machines[PC.name]!.profile, 'ubuntu', 'the YAML has the new profile')
    t.match(await page.locator('.card dl').textContent(), /assigned/, 'state assigned on the page')
    await page.goto(`${lab.url}/`)
    t.match(await page.locator(`#m-${PC.mac.replace(/:/g, '')}`).textContent(), /ubuntu[\s\S]*assigned/, 'and in the list')
  })

  await t.test('machine pages', async (t) => {
    await page.goto(`${lab.url}/machines/${PI.name}`)
    const tl = (await page.locator('#timeline').textContent()) ?? ''
    for (const step of ['firmware TFTP', 'loader', 'boot script', 'kernel', 'initrd', 'cloud-init fetched', 'phone-home', 'deployed']) t.match(tl, step, `timeline has "${step}"`)
    t.ok(await page.locator('form[action$="/power"] button[value=cycle]').isVisible(), 'power buttons for a machine with power control')
    await shot(page, 'status-machine', 1400)
    await shot(page, 'status-machine', 390)
    await page.setViewportSize({ width: 1400, height: 900 })
    // live on the machine page too: a new boot script request appears in the timeline without a reload
    const scripts = async (): Promise<number> => (await page.locator('#timeline .step', { hasText: 'boot script' }).count())
    const before = await scripts()
    await page.evaluate('window.marker = 7')
    t.equal((await httpFrom(PI.addr, `${lab.url}/boot.ipxe?mac=${PI.mac}&arch=arm64&platform=efi`)).status, 200)
    t.ok(await until(async () => (await scripts()) > before, 2000), 'the new request is in the timeline within 2 s')
    t.equal(await page.evaluate('window.marker'), 7, 'without a reload')
    t.match(await page.locator('#timeline section.boot h3').first().textContent(), /Latest boot[\s\S]*in progress/, 'a script request after "deployed" starts the next boot')
    await page.goto(`${lab.url}/machines/${STRANGER.mac}`)
    t.match(await page.locator('pre.yaml').textContent(), new RegExp(`mac: "${STRANGER.mac}"`), 'a ready YAML snippet for the discovered machine')
    await shot(page, 'status-discovered', 1400)
  })

  await t.test('without the session the same form is refused', async (t) => {
    const other = await browser.newContext()
    const p2 = await other.newPage()
    await p2.goto(`${lab.url}/`)
    // the form a logged-in page would post, posted without a session (and so without a CSRF token)
    const status = await p2.evaluate(async (url) => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'profile=local' })).status, `${lab.url}/machines/${PC.name}/assign`)
    t.equal(status, 401)
    const y = parse(await readFile(lab.file, 'utf8')) as { machines: Record<string, { profile?: string }> }
    t.equal(y.machines[PC.name]!.profile, 'ubuntu', 'nothing changed')
    await other.close()
  })

  t.same(errors, [], 'no script errors in the page')
})
