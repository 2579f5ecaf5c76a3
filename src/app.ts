// Composition root: config → services. The only place that wires modules together.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from './log.js'
import { ConfigSource } from './config/watch.js'
import { parseConfig, readConfigText, type ConfigOverrides } from './config/load.js'
import { formatIssue, type Config, type ConfigIssue } from './config/types.js'
import { HttpService } from './http/server.js'
import { createHttpRoutes } from './http/routes.js'
import { createMetricsRouter, type StatsSource } from './http/metrics.js'
import { defaultTokenFile, loadOrCreateToken } from './http/token.js'
import { TftpServer, LayeredResolver } from './tftp/index.js'
import { DhcpServer, JsonFileLeaseStore, interfaceInfo, type DhcpLimits, type PoolConfig } from './dhcp/index.js'
import { bootWarnings, type Booter } from './machines/booter.js'
import { logMissingAssets } from './assets/missing.js'
import { PowerService } from './power/service.js'
import { SqliteJournal } from './power/journal.js'
import { powerApi } from './power/api.js'
import { startMachineService, baseUrlFrom, booterFor, type MachineService } from './machines/service.js'
import { createYamlAssigner } from './machines/yaml-assign.js'
import { dhcpObservation, tftpObservation, POWER_EVENT_TYPES, type PowerObservation } from './machines/inputs.js'
import { version } from './version.js'

export interface Service {
  readonly name: string
  start(): Promise<void>
  stop(): Promise<void>
}

export interface AppOptions {
  configFile: string
  overrides?: ConfigOverrides
  logger: Logger
}

export class ConfigInvalidError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`the configuration has ${issues.length} error(s):\n${issues.map(formatIssue).join('\n')}`)
  }
}

/** A start-up problem the user must fix (not a crash): printed as is, exit code 3. */
export class StartError extends Error {}

export class App {
  readonly started = Date.now()
  readonly services: Service[] = []
  /** extra fields for /healthz, by service */
  readonly healthParts: Array<() => Record<string, unknown>> = []

  constructor(readonly source: ConfigSource, private readonly logger: Logger) {}

  health(): Record<string, unknown> {
    const s = this.source.status
    return {
      status: 'ok',
      version,
      uptime_s: Math.round((Date.now() - this.started) / 1000),
      config: {
        status: s.ok ? 'ok' : 'error',
        file: s.file,
        version: s.version,
        loaded_at: s.loaded_at,
        ...(s.ok ? {} : { rejected_at: s.rejected_at, errors: s.errors }),
        warnings: s.warnings,
      },
      services: this.services.map((x) => x.name),
      ...Object.assign({}, ...this.healthParts.map((f) => f())),
    }
  }

  async start(): Promise<void> {
    for (const s of this.services) {
      await s.start()
      this.logger.debug({ service: s.name }, 'service started')
    }
    this.source.start()
  }

  /** Stops services in reverse order; each gets a share of the time budget. */
  async stop(budgetMs = 4_000): Promise<void> {
    this.source.stop()
    const deadline = Date.now() + budgetMs
    for (const s of [...this.services].reverse()) {
      const left = Math.max(100, deadline - Date.now())
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), left) })
      const result = await Promise.race([s.stop().then(() => 'ok' as const, (err: unknown) => { this.logger.error({ err, service: s.name }, 'stop failed'); return 'ok' as const }), timeout])
      clearTimeout(timer)
      if (result === 'timeout') this.logger.warn({ service: s.name }, 'service did not stop in time')
    }
  }
}

/** The address clients are told: server.advertise, else the DHCP interface's address. */
function serverAddress(cfg: Config): string {
  if (cfg.server.advertise) return cfg.server.advertise
  if (cfg.server.interface) {
    try {
      return interfaceInfo(cfg.server.interface).address
    } catch (err) {
      throw new StartError(`server.interface ${cfg.server.interface}: ${(err as Error).message}`)
    }
  }
  if (cfg.server.http.listen !== '0.0.0.0') return cfg.server.http.listen
  throw new StartError('set server.interface (or server.advertise) so bootlab knows the address clients reach it on')
}

function dhcpPools(cfg: Config): PoolConfig[] {
  const d = cfg.server.dhcp
  if (d.mode !== 'full' || !d.pool || !cfg.server.interface) return []
  return [{
    subnet: interfaceInfo(cfg.server.interface).subnet,
    start: d.pool.start,
    end: d.pool.end,
    ...(d.router ? { router: d.router } : {}),
    ...(d.dns.length ? { dns: d.dns } : {}),
    ...(d.domain ? { domain: d.domain } : {}),
    leaseSeconds: d.lease_seconds,
  }]
}

/** What each wiring step needs: the app, the live config view, the one booter, the machine service. */
interface Wiring {
  app: App
  logger: Logger
  /** config at start (server settings apply at start) */
  cfg: Config
  /** the live config, with the start-time server section */
  getConfig: () => Config
  /** address clients are told */
  address: string
  baseUrl: () => string
  booter: Booter
  /** the machine service once started */
  machines: () => MachineService | undefined
  stats: Record<string, StatsSource>
}

/** the machine's port may be switched: it has power:, a known switch, and is not protected */
function portSwitchable(power: PowerService, name: string): boolean {
  try {
    power.target(name)
    return true
  } catch {
    return false
  }
}

function dhcpLimits(cfg: Config): DhcpLimits {
  const d = cfg.server.dhcp
  return { knownOnly: d.known_only, relays: d.relays, unknownShare: d.unknown_share, ratePerClient: d.rate_per_client, rateTotal: d.rate_total }
}

export async function createApp(opts: AppOptions): Promise<App> {
  const source = await loadConfig(opts)
  const app = new App(source, opts.logger)
  const cfg = source.config
  const address = serverAddress(cfg)
  await mkdir(cfg.server.state_dir, { recursive: true })
  const getConfig = liveConfig(source, cfg)
  let machines: MachineService | undefined
  const booter = booterFor(getConfig, () => machines)
  const w: Wiring = { app, logger: opts.logger, cfg, getConfig, address, baseUrl: () => baseUrlFrom(cfg, address), booter, machines: () => machines, stats: {} }
  wireMachines(w, (m) => { machines = m })
  const power = wirePower(w)
  wireConfigEvents(w, source, power)
  wireDhcp(w)
  wireTftp(w)
  await wireHttp(w, source, power)
  return app
}

async function loadConfig(opts: AppOptions): Promise<ConfigSource> {
  const text = await readConfigText(opts.configFile)
  const loaded = parseConfig(text, opts.configFile, { overrides: opts.overrides })
  if (!loaded.ok) throw new ConfigInvalidError(loaded.errors)
  for (const w of loaded.warnings) opts.logger.warn({ config: formatIssue(w) }, 'config warning')
  for (const w of bootWarnings(loaded.config)) opts.logger.warn(w)
  logMissingAssets(loaded.config, opts.logger)
  return new ConfigSource(opts.configFile, loaded.config, text, { overrides: opts.overrides, displayName: opts.configFile })
}

/**
 * server: settings apply at start (README: "take effect at the next restart"); machines, profiles
 * and switches are live. One view object per config version, so identity-keyed caches (machine
 * lookups, the lifecycle's reconcile) keep working.
 */
function liveConfig(source: ConfigSource, cfg: Config): () => Config {
  let seen: Config = cfg
  let view: Config = cfg
  return () => {
    const c = source.config
    if (c !== seen) {
      seen = c
      view = { ...c, server: cfg.server }
    }
    return view
  }
}

/** machines: store + lifecycle + boot scripts (first to start, last to stop) */
function wireMachines(w: Wiring, set: (m: MachineService | undefined) => void): void {
  w.app.services.push({
    name: 'machines',
    start: async () => {
      set(startMachineService({ getConfig: w.getConfig, log: w.logger, baseUrl: w.baseUrl, booter: w.booter }))
    },
    stop: async () => { w.machines()?.stop() },
  })
  w.stats.machines = () => w.machines()?.stats() ?? {}
  w.stats.store = () => {
    const h = w.machines()?.store.health
    return h ? { write_errors: h.errors, degraded: h.degraded ? 1 : 0 } : {}
  }
  w.app.healthParts.push(() => {
    const m = w.machines()
    return m ? { store: m.store.health.report(), observations: m.observations() } : {}
  })
}

/**
 * power: journal in the same database. Ports left off by an interrupted cycle are turned back on in
 * the background, so DHCP, TFTP and HTTP are already answering when such a Pi boots and a switch
 * that cannot be reached does not hold bootlab up.
 */
function wirePower(w: Wiring): () => PowerService | undefined {
  let power: PowerService | undefined
  w.app.services.push({
    name: 'power',
    start: async () => {
      const m = w.machines()
      if (!m) throw new Error('machine service not started')
      power = new PowerService({ config: w.getConfig(), journal: new SqliteJournal(m.store.db), log: w.logger.child({ service: 'power' }) })
      for (const type of POWER_EVENT_TYPES) power.events.on(type, (e: PowerObservation) => w.machines()?.record.power(type, e))
      setImmediate(() => {
        power?.start().then((recovered) => {
          if (recovered.length > 0) w.logger.warn({ recovered }, `turned ${recovered.length} port(s) back on that an interrupted power cycle had left off`)
        }, (err: unknown) => w.logger.error({ err }, 'power recovery failed'))
      })
    },
    stop: async () => { await power?.stop() },
  })
  return () => power
}

function wireConfigEvents(w: Wiring, source: ConfigSource, power: () => PowerService | undefined): void {
  source.on('applied', (_config, changes) => {
    w.logger.info({ changes }, `config reloaded (${changes.length} change(s))`)
    power()?.updateConfig(w.getConfig())
    for (const c of changes) {
      try {
        w.machines()?.lifecycle.onConfigChange(c)
      } catch (err) {
        w.logger.error({ err: (err as Error).message, change: c.type }, 'recording a config change failed (store error)')
      }
      power()?.onConfigChange(c)
    }
    if (changes.some((c) => c.type === 'server.changed')) w.logger.warn('server settings changed: restart bootlab for them to take effect')
  })
  source.on('rejected', (errors) => {
    for (const e of errors) w.logger.error({ config_error: e }, `config edit rejected, previous config keeps running: ${formatIssue(e)}`)
  })
}

/** DHCP: the booter answers; observations go to the queue (never inside the emit). */
function wireDhcp(w: Wiring): void {
  const { cfg } = w
  const dhcpMode = cfg.server.dhcp.mode
  if (dhcpMode === 'off') return
  if (!cfg.server.interface) throw new StartError(`server.dhcp.mode is ${dhcpMode}: set server.interface (where DHCP listens), or mode: off`)
  const dhcp = new DhcpServer({
    interface: cfg.server.interface,
    serverAddress: w.address,
    mode: dhcpMode,
    policy: w.booter.dhcpPolicy({ serverAddress: w.address, httpPort: cfg.server.http.port }),
    pools: dhcpPools(cfg),
    leaseStore: new JsonFileLeaseStore(join(cfg.server.state_dir, 'dhcp-leases.json')),
    limits: dhcpLimits(cfg),
    logger: w.logger.child({ service: 'dhcp' }),
  })
  for (const kind of ['discover', 'request', 'ack', 'release', 'decline', 'inform'] as const) {
    dhcp.on(kind, (e) => {
      if (w.booter.isMachine(e)) w.machines()?.record.dhcp(dhcpObservation(kind, e))
    })
  }
  w.app.services.push({ name: 'dhcp', start: () => dhcp.start(), stop: () => dhcp.stop() })
  w.stats.dhcp = () => dhcp.stats()
  w.app.healthParts.push(() => ({ dhcp: { mode: dhcpMode, interface: cfg.server.interface, binding: dhcp.binding, stats: dhcp.stats() } }))
}

/** TFTP: the booter's generated files and Pi firmware sets → tftproot/ → firmware/ */
function wireTftp(w: Wiring): void {
  const { cfg } = w
  const resolver = new LayeredResolver({
    roots: [cfg.server.paths.tftproot, cfg.server.paths.firmware],
    generated: (ctx) => w.booter.tftpFile(ctx),
    piPrefix: (serial) => w.booter.piFirmware(serial),
  })
  resolver.on('tftp.pi_prefix', (e) => w.logger.debug({ serial: e.serial, client: e.client.address, machine: e.machine }, 'raspberry pi seen over tftp'))
  const tftp = new TftpServer({ address: cfg.server.tftp.listen, port: cfg.server.tftp.port, resolver, logger: w.logger.child({ service: 'tftp' }) })
  tftp.on('tftp.transfer.done', (r) => w.machines()?.record.tftp(tftpObservation(r)))
  w.app.services.push({ name: 'tftp', start: () => tftp.start(), stop: () => tftp.stop() })
  w.stats.tftp = () => tftp.stats()
  w.app.healthParts.push(() => ({ tftp: { port: cfg.server.tftp.port, stats: tftp.stats() } }))
}

/** HTTP: boot scripts, files, cloud-init, API, /metrics, /healthz */
async function wireHttp(w: Wiring, source: ConfigSource, power: () => PowerService | undefined): Promise<void> {
  const { cfg } = w
  const token = await loadOrCreateToken(cfg.server.api_token_file ?? defaultTokenFile(cfg.server.state_dir))
  const persistAssign = createYamlAssigner({ configPath: cfg.file, reload: () => source.reload() })
  let http: HttpService | undefined
  w.app.services.push({
    name: 'http',
    start: async () => {
      const m = w.machines()
      if (!m) throw new Error('machine service not started')
      const p = power()
      const mounts = createHttpRoutes({
        service: m, getConfig: w.getConfig, baseUrl: w.baseUrl, token, persistAssign,
        ...(p ? { power: { api: (method: string, name: string, body?: unknown) => powerApi(p, method, name, body), assigned: (name: string, prof: string) => p.assigned(name, prof), controllable: (name: string) => portSwitchable(p, name) } } : {}),
        config: source,
        server: { started: w.app.started, dhcp: { mode: cfg.server.dhcp.mode, interface: cfg.server.interface ?? null } },
        stats: w.stats,
        extraRoots: { ipxe: join(cfg.server.paths.firmware, 'ipxe') },
        log: w.logger,
      })
      mounts.unshift({ path: '/', router: createMetricsRouter(w.stats) })
      http = new HttpService({ listen: cfg.server.http.listen, port: cfg.server.http.port, logger: w.logger.child({ service: 'http' }), mounts, health: () => w.app.health() })
      const conns = http.limit.stats
      w.stats.http_connections = () => ({ ...conns })
      await http.start()
    },
    stop: async () => { await http?.stop() },
  })
}
