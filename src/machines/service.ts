// The machine side of bootlab as one service: store + lifecycle + boot script rendering.
// The composition root creates it once, forwards DHCP/TFTP/config events to `lifecycle`, and hands it
// to the HTTP routes (src/http/routes.ts) and to the TFTP resolver (`bootScripts` for grub.cfg).
import type { Logger } from '../log.js'
import { Renderer } from '../boot/render.js'
import type { Config } from '../boot/types.js'
import { openStore, type Store } from '../store/store.js'
import { BootScripts } from './boot-scripts.js'
import { Lifecycle } from './lifecycle.js'

export interface MachineServiceOptions {
  getConfig: () => Config
  log: Logger
  /** http://<advertise>:<port> as clients reach bootlab */
  baseUrl: () => string
  /** defaults to the config's server.state_dir at start */
  stateDir?: string
}

export interface MachineService {
  readonly store: Store
  readonly lifecycle: Lifecycle
  readonly renderer: Renderer
  readonly bootScripts: BootScripts
  stop(): void
}

/** Opens the store (migrating it) and reconciles it with the config. */
export function startMachineService(opts: MachineServiceOptions): MachineService {
  const store = openStore(opts.stateDir ?? opts.getConfig().server.state_dir)
  const log = opts.log.child({ module: 'machines' })
  const lifecycle = new Lifecycle({ store, getConfig: opts.getConfig, log })
  lifecycle.start()
  const renderer = new Renderer()
  const bootScripts = new BootScripts({ lifecycle, renderer, getConfig: opts.getConfig, baseUrl: opts.baseUrl, log })
  return {
    store,
    lifecycle,
    renderer,
    bootScripts,
    stop: () => {
      lifecycle.bus.removeAllListeners()
      store.close()
    },
  }
}

/** http://<advertise>:<port>; `fallbackHost` is the address the lead derives from the interface. */
export function baseUrlFrom(cfg: Config, fallbackHost: string): string {
  const host = cfg.server.advertise ?? fallbackHost
  return `http://${host.includes(':') ? `[${host}]` : host}:${cfg.server.http.port}`
}
