// JSON API (DESIGN §6). Reads are open to the LAN; mutations need `Authorization: Bearer <token>`
// (401 without it, 403 with a wrong one). Responses never carry secrets: no tokens, no switch
// credentials, no cloud-init contents.
import express, { Router, type NextFunction, type Request, type Response } from 'express'
import { profileKind, type Config } from '../boot/types.js'
import type { Lifecycle } from '../machines/lifecycle.js'
import type { PowerApi } from '../machines/inputs.js'
import type { Logger } from '../log.js'
import { tokenMatches } from './token.js'

export interface ApiRouterDeps {
  lifecycle: Lifecycle
  getConfig: () => Config
  /** the API token (a function so a rotated token file can be re-read) */
  token: string | (() => string)
  /** persists an assignment in the YAML and reloads (createYamlAssigner); without it assign is 501 */
  persistAssign?: (machine: string, profile: string) => Promise<void>
  /** power control (src/power); without it power requests answer 409 */
  power?: PowerApi
  log: Logger
}

export function requireToken(token: string | (() => string)) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const h = req.headers.authorization
    if (h === undefined || h === '') {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="bootlab"').json({ error: 'authorization required' })
      return
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
    const expected = typeof token === 'function' ? token() : token
    if (!m || !tokenMatches(expected, m[1]!)) {
      res.status(403).json({ error: 'invalid token' })
      return
    }
    next()
  }
}

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

export function createApiRouter(deps: ApiRouterDeps): Router {
  const router = Router()
  const auth = requireToken(deps.token)
  const json = express.json({ limit: '16kb' })
  const { lifecycle } = deps

  router.get('/machines', (_req, res) => {
    res.json({ machines: lifecycle.list() })
  })

  router.get('/machines/:name', (req, res) => {
    const m = lifecycle.get(req.params.name)
    if (!m) {
      res.status(404).json({ error: `no machine ${req.params.name}` })
      return
    }
    res.json({ machine: m, events: lifecycle.events({ machine: m.name ?? m.mac, limit: 50 }) })
  })

  router.get('/profiles', (_req, res) => {
    res.json({ profiles: profileSummaries(deps.getConfig()) })
  })

  router.get('/events', (req, res) => {
    const machine = typeof req.query.machine === 'string' && req.query.machine !== '' ? req.query.machine : undefined
    const limit = typeof req.query.limit === 'string' ? Number.parseInt(req.query.limit, 10) : 100
    res.json({ events: lifecycle.events({ machine, limit: Number.isFinite(limit) ? limit : 100 }) })
  })

  router.post('/machines/:name/assign', auth, json, async (req, res) => {
    const name = String(req.params.name)
    const body = (req.body ?? {}) as { profile?: unknown; cycle?: unknown }
    const cfg = deps.getConfig()
    const mc = cfg.machines[name]
    if (!mc) {
      res.status(404).json({ error: `no machine ${name} in the config` })
      return
    }
    if (typeof body.profile !== 'string' || !cfg.profiles[body.profile]) {
      res.status(400).json({ error: `unknown profile ${String(body.profile)}` })
      return
    }
    const cycle = body.cycle === true
    const hasPower = deps.power !== undefined && mc.power !== undefined
    if (cycle && !hasPower) {
      res.status(409).json({ error: `machine ${name} has no power control` })
      return
    }
    if (!deps.persistAssign) {
      res.status(501).json({ error: 'assign is not available (no config file to write)' })
      return
    }
    const before = lifecycle.currentDeploymentId(name)
    try {
      await deps.persistAssign(name, body.profile)
    } catch (err) {
      deps.log.error({ machine: name, err: (err as Error).message }, 'assign: could not update the config file')
      res.status(500).json({ error: `could not update the config file: ${(err as Error).message}` })
      return
    }
    if (deps.getConfig().machines[name]?.profile !== body.profile) {
      res.status(500).json({ error: 'the config file was updated but the reload did not apply it (see bootlab check / the config status)' })
      return
    }
    const { deployment } = lifecycle.assign(name, body.profile, before)
    // power: the power module cycles an assigned machine that has power: and cycle_on_assign (default);
    // --cycle forces a cycle when cycle_on_assign is false. Neither waits for the cycle to finish.
    let power: 'cycling' | 'none' = 'none'
    if (hasPower && mc.cycle_on_assign !== false) {
      power = 'cycling'
      deps.power!.assigned(name, body.profile).catch((err: Error) => deps.log.warn({ machine: name, err: err.message }, 'power cycle after assign failed'))
    } else if (cycle) {
      power = 'cycling'
      deps.power!.api('POST', name, { action: 'cycle' }).catch((err: Error) => deps.log.warn({ machine: name, err: err.message }, 'power cycle after assign failed'))
    }
    res.status(200).json({ machine: lifecycle.get(name), deployment: deployment.id, power })
  })

  async function power(req: Request, res: Response): Promise<void> {
    const name = String(req.params.name)
    if (!deps.getConfig().machines[name]) {
      res.status(404).json({ error: `no machine ${name} in the config` })
      return
    }
    if (!deps.power) {
      res.status(409).json({ error: 'power control is not configured' })
      return
    }
    const r = await deps.power.api(req.method === 'GET' ? 'GET' : 'POST', name, req.body)
    res.status(r.status).json(r.body)
  }

  // reading a port opens a session to the switch: not for anyone on the LAN to repeat at will
  router.get('/machines/:name/power', auth, (req, res) => power(req, res))
  router.post('/machines/:name/power', auth, json, (req, res) => power(req, res))

  // JSON errors for this router (bad JSON bodies, oversize bodies)
  router.use((err: Error & { status?: number; statusCode?: number }, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err)
    const status = err.status ?? err.statusCode ?? 500
    res.status(status).json({ error: status === 500 ? 'internal error' : err.message })
    if (status === 500) deps.log.error({ err: err.message }, 'api error')
  })

  return router
}
