// JSON API (DESIGN §6). Reads need the API token (`Authorization: Bearer <token>`) or a logged-in
// status page session, unless `server.http.public_read` is true; mutations need the bearer token
// (401 without it, 403 with a wrong one). Responses never carry secrets: no tokens, no switch
// credentials, no cloud-init contents.
//
// The actions (assign, power, forget) are plain functions returning { status, body }: the JSON routes
// here and the status page's forms (src/http/status/pages.ts) call the same ones.
import { own } from '../config/own.js'
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express'
import { profileKind, type Config } from '../boot/types.js'
import type { Lifecycle } from '../machines/lifecycle.js'
import type { PowerApi } from '../machines/inputs.js'
import type { Logger } from '../log.js'
import { requireToken } from './status/access.js'

export interface ApiRouterDeps extends ActionDeps {
  /** the API token (a function so a rotated token file can be re-read) */
  token: string | (() => string)
  /** who may read (src/http/status/access.ts requireRead) */
  read: RequestHandler
}

export interface ActionDeps {
  lifecycle: Lifecycle
  getConfig: () => Config
  /** persists an assignment in the YAML and reloads (createYamlAssigner); without it assign is 501 */
  persistAssign?: (machine: string, profile: string) => Promise<void>
  /** power control (src/power); without it power requests answer 409 */
  power?: PowerApi
  /** forgets a discovered machine (StatusSource.forget); without it forget answers 501 */
  forget?: (mac: string) => boolean
  log: Logger
}

export interface Answer {
  status: number
  body: Record<string, unknown>
}

const fail = (status: number, error: string): Answer => ({ status, body: { error } })

export function profileSummaries(cfg: Config): Record<string, unknown>[] {
  return Object.entries(cfg.profiles).map(([name, p]) => ({
    name,
    description: p.description ?? null,
    kind: profileKind(p),
    kernel: p.kernel ?? null,
    initrd: p.initrd,
    chain: p.chain ?? null,
    then: p.then ?? null,
    cloud_init: Object.keys(p.cloud_init ?? {}).sort(),
    grub: p.grub !== undefined || profileKind(p) === 'kernel' || profileKind(p) === 'local',
  }))
}

/**
 * Assigns `profile` to machine `name`: persisted in the YAML, applied by the reload, a deployment
 * started, and the machine power-cycled when it has power: and cycle_on_assign (or `cycle`).
 */
export async function assignMachine(deps: ActionDeps, name: string, profile: unknown, cycle: boolean): Promise<Answer> {
  const { lifecycle } = deps
  const cfg = deps.getConfig()
  const mc = cfg.machines[name]
  if (!mc) return fail(404, `no machine ${name} in the config`)
  if (typeof profile !== 'string' || !own(cfg.profiles, profile)) return fail(400, `unknown profile ${String(profile)}`)
  const hasPower = deps.power !== undefined && mc.power !== undefined
  if (cycle && !hasPower) return fail(409, `machine ${name} has no power control`)
  if (!deps.persistAssign) return fail(501, 'assign is not available (no config file to write)')
  const before = lifecycle.currentDeploymentId(name)
  try {
    await deps.persistAssign(name, profile)
  } catch (err) {
    deps.log.error({ machine: name, err: (err as Error).message }, 'assign: could not update the config file')
    return fail(500, `could not update the config file: ${(err as Error).message}`)
  }
  if (deps.getConfig().machines[name]?.profile !== profile) {
    return fail(500, 'the config file was updated but the reload did not apply it (see bootlab check / the config status)')
  }
  const { deployment } = lifecycle.assign(name, profile, before)
  // power: the power module cycles an assigned machine that has power: and cycle_on_assign (default);
  // `cycle` forces a cycle when cycle_on_assign is false. Neither waits for the cycle to finish.
  let power: 'cycling' | 'none' = 'none'
  const warn = (err: Error): void => { deps.log.warn({ machine: name, err: err.message }, 'power cycle after assign failed') }
  if (hasPower && mc.cycle_on_assign !== false) {
    power = 'cycling'
    deps.power!.assigned(name, profile).catch(warn)
  } else if (cycle) {
    power = 'cycling'
    deps.power!.api('POST', name, { action: 'cycle' }).catch(warn)
  }
  return { status: 200, body: { machine: lifecycle.get(name), deployment: deployment.id, power } }
}

/** GET → the port's report, POST {action: cycle|on|off} → the outcome (src/power/api.ts). */
export async function powerMachine(deps: ActionDeps, method: 'GET' | 'POST', name: string, body?: unknown): Promise<Answer> {
  if (!deps.getConfig().machines[name]) return fail(404, `no machine ${name} in the config`)
  if (!deps.power) return fail(409, 'power control is not configured')
  const r = await deps.power.api(method, name, body)
  return { status: r.status, body: r.body as Record<string, unknown> }
}

/** Forgets a discovered machine (configured ones are removed by editing the YAML). */
export function forgetMachine(deps: ActionDeps, mac: string): Answer {
  if (!deps.forget) return fail(501, 'forget is not available')
  return deps.forget(mac) ? { status: 200, body: { forgotten: mac } } : fail(404, `no discovered machine ${mac}`)
}

function send(res: Response, a: Answer): void {
  res.status(a.status).json(a.body)
}

/** machines per page of GET /api/machines without ?limit=, and the most with it */
export const PAGE_DEFAULT = 500
export const PAGE_MAX = 1000

function pageLimit(v: unknown, dflt: number): number {
  const n = typeof v === 'string' ? Number.parseInt(v, 10) : dflt
  return Number.isFinite(n) ? Math.max(1, Math.min(n, PAGE_MAX)) : dflt
}

function readRoutes(router: Router, deps: ApiRouterDeps): void {
  const { lifecycle, read } = deps
  // paginated: ?limit= (default PAGE_DEFAULT, at most PAGE_MAX) and ?cursor= (the previous page's next_cursor)
  router.get('/machines', read, (req, res) => {
    const cursor = typeof req.query.cursor === 'string' && req.query.cursor !== '' ? req.query.cursor.slice(0, 1024) : undefined
    let page
    try {
      page = lifecycle.page(pageLimit(req.query.limit, PAGE_DEFAULT), cursor)
    } catch (err) {
      if (err instanceof RangeError) return send(res, fail(400, 'bad cursor'))
      throw err
    }
    res.json({ machines: page.machines, next_cursor: page.next })
  })
  router.get('/machines/:name', read, (req, res) => {
    const name = String(req.params.name)
    const m = lifecycle.get(name)
    if (!m) return send(res, fail(404, `no machine ${name}`))
    res.json({ machine: m, events: lifecycle.events({ machine: m.name ?? m.mac, limit: 50 }) })
  })
  router.get('/profiles', read, (_req, res) => {
    res.json({ profiles: profileSummaries(deps.getConfig()) })
  })
  router.get('/events', read, (req, res) => {
    const machine = typeof req.query.machine === 'string' && req.query.machine !== '' ? req.query.machine : undefined
    const limit = pageLimit(req.query.limit, 100)
    const before = typeof req.query.before === 'string' ? Number.parseInt(req.query.before, 10) : undefined
    const events = lifecycle.events({ machine, limit, ...(before !== undefined && Number.isSafeInteger(before) ? { beforeId: before } : {}) })
    // the next (older) page: ?before=<next_before>
    res.json({ events, next_before: events.length === limit ? events[events.length - 1]!.id : null })
  })
}

function actionRoutes(router: Router, deps: ApiRouterDeps): void {
  const auth = requireToken(deps)
  const json = express.json({ limit: '16kb' })
  router.post('/machines/:name/assign', auth, json, async (req, res) => {
    const body = (req.body ?? {}) as { profile?: unknown; cycle?: unknown }
    send(res, await assignMachine(deps, String(req.params.name), body.profile, body.cycle === true))
  })
  // reading a port opens a session to the switch: not for anyone on the LAN to repeat at will
  router.get('/machines/:name/power', auth, async (req, res) => send(res, await powerMachine(deps, 'GET', String(req.params.name))))
  router.post('/machines/:name/power', auth, json, async (req, res) => send(res, await powerMachine(deps, 'POST', String(req.params.name), req.body)))
  router.post('/machines/:mac/forget', auth, (req, res) => send(res, forgetMachine(deps, String(req.params.mac).toLowerCase())))
}

/** JSON errors for this router (bad JSON bodies, oversize bodies) */
function jsonErrors(deps: ApiRouterDeps) {
  return (err: Error & { status?: number; statusCode?: number }, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) return next(err)
    const status = err.status ?? err.statusCode ?? 500
    res.status(status).json({ error: status === 500 ? 'internal error' : err.message })
    if (status === 500) deps.log.error({ err: err.message }, 'api error')
  }
}

export function createApiRouter(deps: ApiRouterDeps): Router {
  const router = Router()
  readRoutes(router, deps)
  actionRoutes(router, deps)
  router.use(jsonErrors(deps))
  return router
}
