// The machine side of bootlab as one service: store + booter + lifecycle (fed through the
// observation queue) + boot script rendering. The composition root creates it once, forwards DHCP,
// TFTP, power and config events to it, and hands it to the HTTP routes (src/http/routes.ts).
import type { Logger } from '../log.js'
import { Renderer } from '../boot/render.js'
import type { Config } from '../boot/types.js'
import { openStore, type Store } from '../store/store.js'
import { BootScripts } from './boot-scripts.js'
import { Booter } from './booter.js'
import { Lifecycle } from './lifecycle.js'
import { ObservationQueue, queuedRecorder, type ObservationStats, type Recorder } from './observations.js'

export interface MachineServiceOptions {
  getConfig: () => Config
  log: Logger
  /** http://<advertise>:<port> as clients reach bootlab */
  baseUrl: () => string
  /** defaults to the config's server.state_dir at start */
  stateDir?: string
  /** the booter the protocols already ask (the composition root makes it before the store opens) */
  booter?: Booter
  /** most observations waiting to be recorded */
  queueCap?: number
  /** how often lifecycle.maintain() runs (default MAINTAIN_EVERY_MS) */
  maintainEveryMs?: number
}

/** housekeeping period: discovered-machine expiry and event pruning */
export const MAINTAIN_EVERY_MS = 10 * 60_000

export interface MachineService {
  readonly store: Store
  readonly booter: Booter
  readonly lifecycle: Lifecycle
  /** lifecycle inputs through the bounded queue: protocol handlers and routes call these */
  readonly record: Recorder
  readonly renderer: Renderer
  readonly bootScripts: BootScripts
  /** for /metrics: machines per state, the observation queue */
  stats(): { state: Record<string, number>; discovered_refused: number } & { [K in keyof ObservationStats as `observations_${K}`]: number }
  /** the observation queue, for /healthz */
  observations(): ObservationStats
  stop(): void
}

/**
 * The booter over a machine service that may not be started yet (the protocols are wired before
 * the store opens): until then it answers from the config alone.
 */
export function booterFor(getConfig: () => Config, service: () => Pick<MachineService, 'store' | 'bootScripts' | 'record'> | undefined): Booter {
  return new Booter({
    getConfig,
    store: () => service()?.store,
    grubCfg: () => {
      const s = service()
      return s ? (ctx) => s.bootScripts.tftpGrubCfg(ctx) : undefined
    },
    piCmdline: () => {
      const s = service()
      return s ? (q) => s.bootScripts.piCmdline(q) : undefined
    },
    onPiServed: (e) => service()?.record.piServed(e),
    onStoreError: (err) => service()?.store.health.failed(err),
  })
}

/** Opens the store (migrating it) and reconciles it with the config. */
export function startMachineService(opts: MachineServiceOptions): MachineService {
  const store = openStore(opts.stateDir ?? opts.getConfig().server.state_dir)
  const log = opts.log.child({ module: 'machines' })
  const renderer = new Renderer()
  const late: { bootScripts?: BootScripts; record?: Recorder } = {}
  const booter = opts.booter ?? booterFor(opts.getConfig, () => late.bootScripts && late.record ? { store, bootScripts: late.bootScripts, record: late.record } : undefined)
  const lifecycle = new Lifecycle({ store, getConfig: opts.getConfig, log, booter })
  lifecycle.start()
  const queue = new ObservationQueue({ log, ...(opts.queueCap ? { cap: opts.queueCap } : {}) })
  const record = queuedRecorder(queue, lifecycle)
  const bootScripts = new BootScripts({ booter, lifecycle, record, renderer, getConfig: opts.getConfig, baseUrl: opts.baseUrl, log })
  late.bootScripts = bootScripts
  late.record = record
  // expiry of unconfigured machines and event pruning, off the hot path: in slices, one per tick
  let slice: NodeJS.Immediate | undefined
  const maintain = (total = { machines: 0, events: 0 }): void => {
    slice = undefined
    try {
      const r = lifecycle.maintainStep()
      total.machines += r.machines
      total.events += r.events
      if (r.more) { slice = setImmediate(() => maintain(total)); return }
      lifecycle.logMaintained(total)
    } catch (err) {
      log.error({ err: (err as Error).message }, 'housekeeping failed (store error)')
    }
  }
  const housekeeping = setInterval(() => { if (!slice) maintain() }, opts.maintainEveryMs ?? MAINTAIN_EVERY_MS)
  housekeeping.unref()
  slice = setImmediate(() => maintain())
  return {
    store,
    booter,
    lifecycle,
    record,
    renderer,
    bootScripts,
    stats: () => {
      const state: Record<string, number> = {}
      try {
        for (const m of store.machines()) state[m.state] = (state[m.state] ?? 0) + 1
      } catch { /* a failing store still answers /metrics */ }
      const q = queue.stats()
      // flat fields become one metric each (bootlab_machines_observations_failed …)
      return { state, discovered_refused: lifecycle.discoveredRefused, observations_queued: q.queued, observations_processed: q.processed, observations_failed: q.failed, observations_dropped: q.dropped }
    },
    observations: () => queue.stats(),
    stop: () => {
      clearInterval(housekeeping)
      if (slice) clearImmediate(slice)
      queue.stop()
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
