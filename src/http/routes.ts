// Every router of the HTTP area with the path to mount it at. The server shell does
//   for (const r of createHttpRoutes(…)) app.use(r.path, r.router)
import { Router } from 'express'
import type { Logger } from '../log.js'
import type { Config } from '../boot/types.js'
import type { MachineService } from '../machines/service.js'
import type { PowerApi } from '../machines/inputs.js'
import { version } from '../version.js'
import { createApiRouter, type ActionDeps } from './api.js'
import { createBootRouter } from './boot.js'
import { createCloudInitRouter } from './cloud-init.js'
import { createFilesRouter } from './files.js'
import { hostCheck } from './host-check.js'
import type { StatsSource } from './metrics.js'
import { requireRead, type AccessOptions } from './status/access.js'
import { createStatusPages, streamData } from './status/pages.js'
import { LoginLimiter, SessionStore } from './status/session.js'
import { statusSourceFrom, type ConfigFeed, type StatusSource } from './status/source.js'
import { EventStream, type StreamOptions } from './status/stream.js'

export interface HttpRoutesOptions {
  service: MachineService
  getConfig: () => Config
  baseUrl: () => string
  /** API bearer token (loadOrCreateToken) */
  token: string | (() => string)
  /** createYamlAssigner({ configPath, reload }); without it the API's assign answers 501 */
  persistAssign?: (machine: string, profile: string) => Promise<void>
  /**
   * { api: (m, name, body) => powerApi(powerService, m, name, body), assigned: (n, p) => powerService.assigned(n, p),
   *   controllable: (n) => the port may be switched (not protected) }
   */
  power?: PowerApi & { controllable?: (machine: string) => boolean }
  /** the config loader (src/config/watch.ts): status and applied/rejected events for the status page */
  config?: ConfigFeed
  /** for the status page header */
  server?: { started: number; dhcp: { mode: string; interface: string | null } }
  /** caps of GET /api/events/stream (tests lower them) */
  stream?: Partial<Pick<StreamOptions, 'maxClients' | 'maxPerSource' | 'maxBufferedBytes' | 'maxReplay' | 'heartbeatMs'>>
  /** /metrics sources (src/http/metrics.ts): the event stream adds `status` (open streams, refused, slow clients dropped, sessions) */
  stats?: Record<string, StatsSource>
  /** extra /files roots besides images and firmware, e.g. { ipxe: '/usr/lib/ipxe' } */
  extraRoots?: Record<string, string>
  log: Logger
}

export interface MountedRouter {
  path: string
  router: Router
}

/** extra names of `server.http.hosts` the status page and API answer to (DNS rebinding guard) */
function extraHosts(cfg: Config): string[] {
  const h = (cfg.server.http as { hosts?: unknown }).hosts
  return Array.isArray(h) ? h.filter((x): x is string => typeof x === 'string') : []
}

/** `server.http.public_read` (fixed at start, like every server: setting) */
function publicRead(cfg: Config): boolean {
  return (cfg.server.http as { public_read?: boolean }).public_read === true
}

export function createHttpRoutes(o: HttpRoutesOptions): MountedRouter[] {
  const { lifecycle, bootScripts, renderer, record } = o.service
  const log = o.log.child({ module: 'http' })
  const access: AccessOptions = { token: o.token, sessions: new SessionStore(), publicRead: publicRead(o.getConfig()) }
  const read = requireRead(access)
  const source: StatusSource = statusSourceFrom({
    machines: o.service,
    getConfig: o.getConfig,
    ...(o.config ? { config: o.config } : {}),
    server: { version, started: o.server?.started ?? Date.now(), dhcp: o.server?.dhcp ?? { mode: 'off', interface: null } },
    ...(o.power?.controllable ? { powerControl: o.power.controllable } : {}),
  })
  const actions: ActionDeps = { lifecycle, getConfig: o.getConfig, persistAssign: o.persistAssign, power: o.power, forget: (mac) => source.forget(mac), log }
  const stream = new EventStream({ source, data: streamData(source), log, ...o.stream })
  if (o.stats) o.stats.status = () => ({ ...stream.stats, sessions: access.sessions.size })
  const hostNames = (): (string | undefined)[] => {
    const cfg = o.getConfig()
    let advertised: string | undefined
    try { advertised = new URL(o.baseUrl()).hostname } catch { advertised = undefined }
    return [advertised, cfg.server.advertise, cfg.server.http.listen, ...extraHosts(cfg)]
  }
  const hosts = { refused: 0 }
  const guard = hostCheck({ names: hostNames, stats: hosts })
  const cloudInit = { refused_address: 0 }
  if (o.stats) o.stats.cloud_init_tokens = () => ({ ...bootScripts.tokenStats, ...cloudInit })
  if (o.stats) o.stats.host_check = () => ({ ...hosts })
  const streamRouter = Router()
  streamRouter.use(guard)
  streamRouter.get('/events/stream', read, stream.handle)
  return [
    // the Host check is the first layer of the first routers (no router of its own: every router
    // exit costs a tick, which would delay boot scripts); boot paths pass it untouched
    { path: '/', router: createStatusPages({ source, actions, access, limiter: new LoginLimiter(), log, guard }) },
    { path: '/', router: createBootRouter({ bootScripts, log }) },
    {
      path: '/files',
      router: createFilesRouter({
        roots: () => {
          const paths = o.getConfig().server.paths
          return { ...o.extraRoots, images: paths.images, firmware: paths.firmware }
        },
        log,
        onServed: (f) => record.fileServed({ ip: f.ip, path: f.path }),
      }),
    },
    { path: '/cloud-init', router: createCloudInitRouter({ lifecycle, record, renderer, getConfig: o.getConfig, baseUrl: o.baseUrl, log, stats: cloudInit }) },
    { path: '/api', router: streamRouter },
    { path: '/api', router: createApiRouter({ ...actions, token: o.token, read }) },
  ]
}
