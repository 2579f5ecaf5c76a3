// Every router of the HTTP area with the path to mount it at. The server shell does
//   for (const r of createHttpRoutes(…)) app.use(r.path, r.router)
import type { Router } from 'express'
import type { Logger } from '../log.js'
import type { Config } from '../boot/types.js'
import type { MachineService } from '../machines/service.js'
import type { PowerApi } from '../machines/inputs.js'
import { createApiRouter } from './api.js'
import { createBootRouter } from './boot.js'
import { createCloudInitRouter } from './cloud-init.js'
import { createFilesRouter } from './files.js'

export interface HttpRoutesOptions {
  service: MachineService
  getConfig: () => Config
  baseUrl: () => string
  /** API bearer token (loadOrCreateToken) */
  token: string | (() => string)
  /** createYamlAssigner({ configPath, reload }); without it the API's assign answers 501 */
  persistAssign?: (machine: string, profile: string) => Promise<void>
  /** { api: (m, name, body) => powerApi(powerService, m, name, body), assigned: (n, p) => powerService.assigned(n, p) } */
  power?: PowerApi
  /** extra /files roots besides images and firmware, e.g. { ipxe: '/usr/lib/ipxe' } */
  extraRoots?: Record<string, string>
  log: Logger
}

export interface MountedRouter {
  path: string
  router: Router
}

export function createHttpRoutes(o: HttpRoutesOptions): MountedRouter[] {
  const { lifecycle, bootScripts, renderer, record } = o.service
  const log = o.log.child({ module: 'http' })
  return [
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
    { path: '/cloud-init', router: createCloudInitRouter({ lifecycle, record, renderer, getConfig: o.getConfig, baseUrl: o.baseUrl, log }) },
    { path: '/api', router: createApiRouter({ lifecycle, getConfig: o.getConfig, token: o.token, persistAssign: o.persistAssign, power: o.power, log }) },
  ]
}
