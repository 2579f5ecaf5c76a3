// GET /boot.ipxe?mac=${mac}&arch=${buildarch}&platform=${platform}, /boot/<mac>.ipxe,
// GET /grub.cfg?mac=…, /grub/grub.cfg-01-aa-bb-cc-dd-ee-ff (GRUB's own per-MAC config name).
import { Router, type Request, type Response } from 'express'
import { normaliseMac } from '../config/names.js'
import type { BootScripts } from '../machines/boot-scripts.js'
import type { Logger } from '../log.js'
import { clientIp } from './client-ip.js'

export interface BootRouterDeps {
  bootScripts: BootScripts
  log: Logger
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length < 64 ? v : undefined
}

export function createBootRouter(deps: BootRouterDeps): Router {
  const router = Router()

  async function serve(req: Request, res: Response, loader: 'ipxe' | 'grub', macText: string | undefined): Promise<void> {
    const mac = macText !== undefined ? normaliseMac(macText) ?? undefined : undefined
    if (macText !== undefined && mac === undefined) {
      res.status(400).type('text/plain').send('bad mac\n')
      return
    }
    const r = await deps.bootScripts.render({
      mac,
      ip: clientIp(req),
      buildarch: str(req.query.arch) ?? str(req.query.buildarch),
      platform: str(req.query.platform),
      loader,
    })
    res.set('Cache-Control', 'no-store')
    if (!r.ok) {
      if (r.status === 429) res.set('Retry-After', '60')
      res.status(r.status).type('text/plain').send(`${r.status === 404 ? 'not found' : r.status === 429 ? 'too many requests' : 'render error'}: ${r.reason}\n`)
      return
    }
    res.status(200).type('text/plain').send(r.text)
  }

  router.get('/boot.ipxe', (req, res) => serve(req, res, 'ipxe', str(req.query.mac)))
  router.get('/boot/:file', (req, res, next) => {
    const m = /^(.+)\.ipxe$/.exec(req.params.file)
    if (!m) return next()
    return serve(req, res, 'ipxe', m[1])
  })
  router.get('/grub.cfg', (req, res) => serve(req, res, 'grub', str(req.query.mac)))
  router.get('/grub/:file', (req, res, next) => {
    const m = /^grub\.cfg-01-([0-9a-fA-F-]{17})$/.exec(req.params.file)
    if (!m) return next()
    return serve(req, res, 'grub', m[1])
  })
  return router
}
