// The status page's routes: GET / (machines), GET /machines/<name> (one machine and its boots),
// the login form, and the page's actions (assign, power, forget), which need a logged-in session
// and the session's CSRF token and call the same functions as the JSON API (src/http/api.ts).
// Also builds the data of each event-stream event (JSON, with the machine's re-rendered row).
import express, { Router, type Request, type RequestHandler, type Response } from 'express'
import type { Logger } from '../../log.js'
import { assignMachine, forgetMachine, powerMachine, type ActionDeps, type Answer } from '../api.js'
import { clientIp } from '../client-ip.js'
import { tokenMatches } from '../token.js'
import { tokenOf, viewerOf, type AccessOptions, type Viewer } from './access.js'
import { CSS, ICON, JS } from './assets.js'
import { banner, listPage, loginPage, machinePage, machineRow, type PageContext, type Row } from './render.js'
import { SESSION_COOKIE, clearedCookie, csrfMatches, readCookie, sessionCookie, type LoginLimiter } from './session.js'
import type { MachineView, StatusEvent, StatusSource } from './source.js'
import { boots, progress } from './timeline.js'

export interface StatusPagesDeps {
  source: StatusSource
  actions: ActionDeps
  access: AccessOptions
  limiter: LoginLimiter
  log: Logger
  /** runs before every route of this router (the Host check: routes.ts) */
  guard?: RequestHandler
}

/** bootlab's own assets, everything else refused: no inline script, no framing, no referrer */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
}

/** events of a machine read for its progress bar and timeline */
const PROGRESS_EVENTS = 80
const TIMELINE_EVENTS = 1000

export function rowOf(source: StatusSource, m: MachineView, events = source.events({ machine: m.name ?? m.mac, limit: PROGRESS_EVENTS })): Row {
  const last = boots(events, 1)[0]
  return {
    m,
    powerState: source.powerState(m),
    powerControl: m.name !== null && source.powerControl(m.name),
    progress: progress(last),
  }
}

/** JSON data of one stream event: the event, the machine's view and its re-rendered row, or the config banner. */
export function streamData(source: StatusSource): (e: StatusEvent, replay: boolean) => string {
  return (e) => {
    const out: Record<string, unknown> = { id: e.id, ts: e.ts, type: e.type, machine: e.machine, mac: e.mac, data: e.data }
    if (e.type.startsWith('config.')) {
      out.html = { banner: banner(source.config()) }
    } else if (e.mac) {
      const m = source.machine(e.mac)
      if (m) {
        const r = rowOf(source, m)
        out.view = { ...m, power_state: r.powerState, progress: r.progress }
        out.html = { row: machineRow(r, Date.now()) }
      }
    }
    return JSON.stringify(out)
  }
}

function isSecure(req: Request): boolean {
  return req.protocol === 'https'
}

export function createStatusPages(deps: StatusPagesDeps): Router {
  const router = Router()
  if (deps.guard) router.use(deps.guard)
  const { source } = deps
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 })

  router.get('/status/assets/status.css', (_req, res) => { res.type('text/css').set('Cache-Control', 'max-age=300').send(CSS) })
  router.get(['/favicon.ico', '/status/assets/icon.svg'], (_req, res) => { res.type('image/svg+xml').set('Cache-Control', 'max-age=3600').send(ICON) })
  router.get('/status/assets/status.js', (_req, res) => { res.type('text/javascript').set('Cache-Control', 'max-age=300').send(JS) })

  const context = (v: Viewer): PageContext => ({
    server: source.server(),
    config: source.config(),
    now: Date.now(),
    lastEventId: source.events({ limit: 1 })[0]?.id ?? 0,
    ...(v.kind === 'session' ? { csrf: v.session.csrf } : {}),
    ...(v.kind === 'public' ? { publicView: true } : {}),
  })

  /** the viewer when they may read; otherwise the login form (401) or a 403 for a wrong bearer token */
  function reader(req: Request, res: Response): Viewer | undefined {
    res.set(SECURITY_HEADERS)
    const v = viewerOf(req, deps.access)
    if (v.kind === 'refused') {
      res.status(403).type('text/plain').send('invalid token\n')
      return undefined
    }
    if (v.kind === 'anonymous') {
      res.status(401).type('html').send(loginPage())
      return undefined
    }
    return v
  }

  function renderMachine(res: Response, v: Viewer, key: string, status = 200, notice?: { ok: boolean; text: string }): void {
    const m = source.machine(key)
    if (!m) {
      res.status(404).type('html').send(listPage(context(v), [], `No machine ${key}.`))
      return
    }
    const events = source.events({ machine: m.name ?? m.mac, limit: TIMELINE_EVENTS })
    res.status(status).type('html').send(machinePage(context(v), rowOf(source, m, events), boots(events, 5), source.profiles(), notice))
  }

  router.get('/', (req, res) => {
    const v = reader(req, res)
    if (!v) return
    res.type('html').send(listPage(context(v), source.machines().map((m) => rowOf(source, m)), undefined, source.profiles()))
  })

  router.get('/machines/:name', (req, res) => {
    const v = reader(req, res)
    if (v) renderMachine(res, v, String(req.params.name))
  })

  // ---- login ----------------------------------------------------------------------------------

  router.get('/login', (req, res) => {
    res.set(SECURITY_HEADERS)
    if (viewerOf(req, deps.access).kind === 'session') return res.redirect(303, '/')
    res.type('html').send(loginPage())
  })

  router.post('/login', form, (req, res) => {
    res.set(SECURITY_HEADERS)
    const from = clientIp(req) ?? 'unknown'
    const wait = deps.limiter.blockedFor(from)
    if (wait > 0) {
      res.status(429).set('Retry-After', String(wait)).type('html').send(loginPage(`Too many attempts; try again in ${wait} s.`))
      return
    }
    const given = (req.body as Record<string, unknown> | undefined)?.token
    if (typeof given !== 'string' || given === '' || !tokenMatches(tokenOf(deps.access), given.trim())) {
      deps.limiter.failed(from)
      deps.log.warn({ from }, 'status page: failed login')
      res.status(403).type('html').send(loginPage('That is not the API token.'))
      return
    }
    deps.limiter.succeeded(from)
    const { id } = deps.access.sessions.create()
    res.set('Set-Cookie', sessionCookie(id, deps.access.sessions.ttlMs, isSecure(req))).redirect(303, '/')
  })

  router.post('/logout', form, (req, res) => {
    res.set(SECURITY_HEADERS)
    const id = readCookie(req.headers.cookie, SESSION_COOKIE)
    const s = deps.access.sessions.get(id)
    if (s && csrfMatches(s, (req.body as Record<string, unknown> | undefined)?.csrf)) deps.access.sessions.delete(id)
    res.set('Set-Cookie', clearedCookie()).redirect(303, '/')
  })

  // ---- actions: a session and its CSRF token, then the API's own functions ------------------------

  function action(run: (req: Request, body: Record<string, unknown>) => Promise<Answer> | Answer, done: (a: Answer, req: Request) => string) {
    return async (req: Request, res: Response): Promise<void> => {
      res.set(SECURITY_HEADERS)
      const v = viewerOf(req, deps.access)
      const body = (req.body ?? {}) as Record<string, unknown>
      if (v.kind !== 'session') {
        res.status(v.kind === 'refused' ? 403 : 401).type('html').send(loginPage('Log in to do this.'))
        return
      }
      if (!csrfMatches(v.session, body.csrf)) {
        deps.log.warn({ from: clientIp(req), path: req.path }, 'status page: action without a valid CSRF token refused')
        res.status(403).type('text/plain').send('refused: the form is missing its CSRF token or it is stale; reload the page and try again\n')
        return
      }
      const a = await run(req, body)
      const name = String(req.params.name)
      if (a.status >= 200 && a.status < 300) {
        if (a.body.forgotten) return void res.redirect(303, '/')
        renderMachine(res, v, name, 200, { ok: true, text: done(a, req) })
        return
      }
      renderMachine(res, v, name, a.status, { ok: false, text: String(a.body.error ?? a.body.reason ?? `failed (HTTP ${a.status})`) })
    }
  }

  router.post('/machines/:name/assign', form, action(
    (req, b) => assignMachine(deps.actions, String(req.params.name), b.profile, b.cycle === '1'),
    (a) => `Assigned; deployment #${String(a.body.deployment)}${a.body.power === 'cycling' ? ', power cycling' : ''}.`,
  ))
  router.post('/machines/:name/power', form, action(
    (req, b) => powerMachine(deps.actions, 'POST', String(req.params.name), { action: b.action }),
    (_a, req) => `Power ${String((req.body as Record<string, unknown>).action)}: done.`,
  ))
  router.post('/machines/:name/forget', form, action(
    (req) => forgetMachine(deps.actions, String(req.params.name).toLowerCase()),
    () => 'Forgotten.',
  ))

  return router
}
