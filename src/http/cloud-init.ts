// NoCloud seed under a per-boot token: GET /cloud-init/<token>/{meta-data,user-data,vendor-data,
// network-config}; POST …/phone-home (cloud-init's phone_home module: form data) and …/failed.
// A token is valid only while its deployment is the machine's current one; anything else is 404,
// the same answer as for a token that never existed. Tokens never appear in events or logs.
import { own } from '../config/own.js'
import express, { Router, type Request, type Response } from 'express'
import { RenderError, type CloudInitDoc, type Renderer } from '../boot/render.js'
import type { Config } from '../boot/types.js'
import type { DeploymentRow } from '../store/store.js'
import type { Lifecycle } from '../machines/lifecycle.js'
import type { Recorder } from '../machines/observations.js'
import { instanceId } from '../machines/tokens.js'
import { LogThrottle } from '../machines/log-throttle.js'
import type { Logger } from '../log.js'
import { clientIp } from './client-ip.js'

export interface CloudInitRouterDeps {
  /** token lookups */
  lifecycle: Lifecycle
  /** fetches, phone-home and failure reports are recorded through the observation queue */
  record: Recorder
  renderer: Renderer
  getConfig: () => Config
  baseUrl: () => string
  log: Logger
  /** refusals (metrics): a valid token from another address than the one it is bound to */
  stats?: { refused_address: number }
}

const DOCS: ReadonlySet<string> = new Set(['meta-data', 'user-data', 'vendor-data', 'network-config'])

export function createCloudInitRouter(deps: CloudInitRouterDeps): Router {
  const router = Router()
  const notFound = (res: Response): void => { res.status(404).type('text/plain').send('not found\n') }
  const stats = deps.stats ?? { refused_address: 0 }
  const quiet = new LogThrottle()

  /**
   * The deployment of the request's token, answered for the address the token is bound to only:
   * from anywhere else 403 (counted, logged without the token). undefined: the answer is sent.
   */
  function deployment(req: Request, res: Response, markUsed: boolean): DeploymentRow | undefined {
    const token = req.params.token
    const ip = clientIp(req)
    const use = typeof token === 'string' ? deps.lifecycle.useToken(token, ip, markUsed) : { ok: false as const, reason: 'unknown' as const }
    if (use.ok) return use.deployment
    if (use.reason === 'address') {
      stats.refused_address++
      const suppressed = quiet.take(ip ?? '?')
      if (suppressed !== undefined) deps.log.warn({ machine: use.deployment?.machine, ip, bound: use.bound, path: `/cloud-init/<token>/${req.params.doc ?? req.path.split('/').pop()}`, suppressed }, 'cloud-init token used from another address than the machine\'s: refused')
      res.status(403).type('text/plain').send('forbidden\n')
      return undefined
    }
    notFound(res)
    return undefined
  }

  router.get('/:token/:doc', async (req, res) => {
    const doc = req.params.doc
    if (!DOCS.has(doc)) return notFound(res)
    const dep = deployment(req, res, true)
    if (!dep) return
    const cfg = deps.getConfig()
    const mc = cfg.machines[dep.machine]
    const profile = own(cfg.profiles, dep.profile)
    if (!mc || !profile) return notFound(res)
    let text: string | undefined
    try {
      text = await deps.renderer.cloudInit({
        profileName: dep.profile,
        profile,
        machine: { name: mc.name, mac: mc.mac, serial: mc.serial, arch: mc.arch, ip: mc.ip, local_boot: mc.local_boot, vars: mc.vars },
        baseUrl: deps.baseUrl(),
        token: req.params.token,
        instanceId: instanceId(dep),
      }, doc as CloudInitDoc)
    } catch (err) {
      if (!(err instanceof RenderError)) throw err
      deps.log.error({ machine: mc.name, doc, err: err.message }, 'cloud-init render failed')
      res.status(500).type('text/plain').send(`render error: ${err.message}\n`)
      return
    }
    deps.record.http({ mac: dep.mac, ip: clientIp(req), path: `/cloud-init/${doc}`, kind: 'cloud-init' })
    if (text === undefined) return notFound(res)
    res.set('Cache-Control', 'no-store').status(200).type('text/plain').send(text)
  })

  const body = [express.urlencoded({ extended: false, limit: '64kb' }), express.json({ limit: '64kb' }), express.text({ limit: '64kb' })]

  router.post('/:token/phone-home', ...body, (req, res) => {
    const dep = deployment(req, res, false)
    if (!dep) return
    const data: Record<string, string> = {}
    if (req.body && typeof req.body === 'object') {
      for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) if (typeof v === 'string') data[k] = v
    }
    deps.record.phoneHome(dep, data, clientIp(req))
    res.status(200).type('text/plain').send('ok\n')
  })

  router.post('/:token/failed', ...body, (req, res) => {
    const dep = deployment(req, res, false)
    if (!dep) return
    let reason = ''
    if (typeof req.body === 'string') reason = req.body
    else if (req.body && typeof (req.body as Record<string, unknown>).reason === 'string') reason = (req.body as Record<string, string>).reason!
    deps.record.reportFailed(dep, reason.trim())
    res.status(200).type('text/plain').send('ok\n')
  })

  return router
}
