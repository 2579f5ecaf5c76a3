// Composition root: config → services. The only place that wires modules together.
import { mkdir, readFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from './log.js'
import { ConfigSource } from './config/watch.js'
import { parseConfig, type ConfigOverrides } from './config/load.js'
import { formatIssue, type Config, type ConfigIssue } from './config/types.js'
import { HttpService } from './http/server.js'
import { createHttpRoutes } from './http/routes.js'
import { createMetricsRouter, type StatsSource } from './http/metrics.js'
import { defaultTokenFile, loadOrCreateToken } from './http/token.js'
import { TftpServer, LayeredResolver, type RequestContext } from './tftp/index.js'
import { renderRpiConfig } from './boot/rpi-config.js'
import { machineIndex } from './adapters/machine-index.js'
import { DhcpServer, JsonFileLeaseStore, interfaceInfo, type DhcpLimits, type PoolConfig } from './dhcp/index.js'
import { createDhcpPolicy } from './adapters/dhcp-policy.js'
import { PowerService } from './power/service.js'
import { SqliteJournal } from './power/journal.js'
import { powerApi } from './power/api.js'
import { startMachineService, baseUrlFrom, type MachineService } from './machines/service.js'
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

function dhcpLimits(cfg: Config): DhcpLimits {
  const d = cfg.server.dhcp
  return { knownOnly: d.known_only, relays: d.relays, unknownShare: d.unknown_share, ratePerClient: d.rate_per_client, rateTotal: d.rate_total }
}

/** machines per lifecycle state, for /metrics */
function countStates(machines: MachineService | undefined): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of machines?.lifecycle.list() ?? []) out[m.state] = (out[m.state] ?? 0) + 1
  return out
}

export async function createApp(opts: AppOptions): Promise<App> {
  const { logger } = opts
  const text = await readFile(opts.configFile, 'utf8')
  const loaded = parseConfig(text, opts.configFile, { overrides: opts.overrides })
  if (!loaded.ok) throw new ConfigInvalidError(loaded.errors)
  for (const w of loaded.warnings) logger.warn({ config: formatIssue(w) }, 'config warning')
  const source = new ConfigSource(opts.configFile, loaded.config, text, { overrides: opts.overrides, displayName: opts.configFile })
  const app = new App(source, logger)
  const cfg = source.config
  // server: settings apply at start (README: "take effect at the next restart"); machines,
  // profiles and switches are live. One view object per config version, so identity-keyed
  // caches (machine lookups, the lifecycle's reconcile) keep working.
  let seen: Config = cfg
  let view: Config = cfg
  const getConfig = (): Config => {
    const c = source.config
    if (c !== seen) {
      seen = c
      view = { ...c, server: cfg.server }
    }
    return view
  }
  const stats: Record<string, StatsSource> = {}
  const address = serverAddress(cfg)
  const baseUrl = (): string => baseUrlFrom(cfg, address)
  await mkdir(cfg.server.state_dir, { recursive: true })

  // machines: store + lifecycle + boot scripts (first to start, last to stop)
  let machines: MachineService | undefined
  app.services.push({
    name: 'machines',
    start: async () => { machines = startMachineService({ getConfig, log: logger, baseUrl }) },
    stop: async () => { machines?.stop() },
  })
  const m = (): MachineService => {
    if (!machines) throw new Error('machine service not started')
    return machines
  }

  // power: journal in the same database. Ports left off by an interrupted cycle are turned back
  // on in the background, so DHCP, TFTP and HTTP are already answering when such a Pi boots and a
  // switch that cannot be reached does not hold bootlab up.
  let power: PowerService | undefined
  app.services.push({
    name: 'power',
    start: async () => {
      power = new PowerService({ config: getConfig(), journal: new SqliteJournal(m().store.db), log: logger.child({ service: 'power' }) })
      for (const type of POWER_EVENT_TYPES) power.events.on(type, (e: PowerObservation) => m().lifecycle.onPower(type, e))
      setImmediate(() => {
        power?.start().then((recovered) => {
          if (recovered.length > 0) logger.warn({ recovered }, `turned ${recovered.length} port(s) back on that an interrupted power cycle had left off`)
        }, (err: unknown) => logger.error({ err }, 'power recovery failed'))
      })
    },
    stop: async () => { await power?.stop() },
  })

  source.on('applied', (_config, changes) => {
    logger.info({ changes }, `config reloaded (${changes.length} change(s))`)
    power?.updateConfig(getConfig())
    for (const c of changes) {
      machines?.lifecycle.onConfigChange(c)
      power?.onConfigChange(c)
    }
    if (changes.some((c) => c.type === 'server.changed')) logger.warn('server settings changed: restart bootlab for them to take effect')
  })
  source.on('rejected', (errors) => {
    for (const e of errors) logger.error({ config_error: e }, `config edit rejected, previous config keeps running: ${formatIssue(e)}`)
  })

  // DHCP
  const dhcpMode = cfg.server.dhcp.mode
  if (dhcpMode !== 'off') {
    if (!cfg.server.interface) throw new StartError(`server.dhcp.mode is ${dhcpMode}: set server.interface (where DHCP listens), or mode: off`)
    const dhcp = new DhcpServer({
      interface: cfg.server.interface,
      serverAddress: address,
      mode: dhcpMode,
      policy: createDhcpPolicy({ getConfig, serverAddress: address, httpPort: cfg.server.http.port }),
      pools: dhcpPools(cfg),
      leaseStore: new JsonFileLeaseStore(join(cfg.server.state_dir, 'dhcp-leases.json')),
      limits: dhcpLimits(cfg),
      logger: logger.child({ service: 'dhcp' }),
    })
    for (const kind of ['discover', 'request', 'ack', 'release', 'decline', 'inform'] as const) {
      dhcp.on(kind, (e) => {
        // phones and laptops are not machines: only netboot clients and configured MACs are recorded
        if ((e.class === 'plain' || e.class === 'pxe-other') && !machineIndex(getConfig()).byMac.has(e.mac)) return
        machines?.lifecycle.onDhcp(dhcpObservation(kind, e))
      })
    }
    app.services.push({ name: 'dhcp', start: () => dhcp.start(), stop: () => dhcp.stop() })
    stats.dhcp = () => dhcp.stats()
    app.healthParts.push(() => ({ dhcp: { mode: dhcpMode, interface: cfg.server.interface, binding: dhcp.binding, stats: dhcp.stats() } }))
  }

  // TFTP: generated files (Pi config.txt, grub.cfg) → Pi serial prefix → tftproot/ → firmware/
  const rpiFirmware = (): string => join(cfg.server.paths.firmware, 'rpi4')
  const generated = async (ctx: RequestContext): Promise<string | null> => {
    if (ctx.serial && ctx.path === 'config.txt') {
      const machine = machineIndex(getConfig()).bySerial.get(ctx.serial)
      if (!machine && cfg.server.unknown === 'ignore') return null
      let base: string | null = null
      try { base = readFileSync(join(rpiFirmware(), 'config.txt'), 'utf8') } catch { /* pftf defaults */ }
      return renderRpiConfig({ machine: machine?.name ?? null, serial: ctx.serial, base, ...(machine?.vars.rpi_config ? { extra: machine.vars.rpi_config } : {}) })
    }
    if (ctx.path.startsWith('grub/grub.cfg')) return machines ? await machines.bootScripts.tftpGrubCfg(ctx) : null
    return null
  }
  const resolver = new LayeredResolver({
    roots: [cfg.server.paths.tftproot, cfg.server.paths.firmware],
    generated,
    piPrefix: (serial) => {
      const machine = machineIndex(getConfig()).bySerial.get(serial)
      if (machine) return { firmwareDir: rpiFirmware(), machine: machine.name }
      return cfg.server.unknown === 'discover' ? { firmwareDir: rpiFirmware() } : null
    },
  })
  resolver.on('tftp.pi_prefix', (e) => logger.debug({ serial: e.serial, client: e.client.address, machine: e.machine }, 'raspberry pi seen over tftp'))
  const tftp = new TftpServer({ address: cfg.server.tftp.listen, port: cfg.server.tftp.port, resolver, logger: logger.child({ service: 'tftp' }) })
  tftp.on('tftp.transfer.done', (r) => machines?.lifecycle.onTftp(tftpObservation(r)))
  app.services.push({ name: 'tftp', start: () => tftp.start(), stop: () => tftp.stop() })
  stats.tftp = () => tftp.stats()
  stats.machines = () => ({ state: countStates(machines) })
  app.healthParts.push(() => ({ tftp: { port: cfg.server.tftp.port, stats: tftp.stats() } }))

  // HTTP
  const token = await loadOrCreateToken(cfg.server.api_token_file ?? defaultTokenFile(cfg.server.state_dir))
  const persistAssign = createYamlAssigner({ configPath: cfg.file, reload: () => source.reload() })
  let http: HttpService | undefined
  app.services.push({
    name: 'http',
    start: async () => {
      const mounts = createHttpRoutes({
        service: m(), getConfig, baseUrl, token, persistAssign,
        ...(power ? { power: { api: (method: string, name: string, body?: unknown) => powerApi(power!, method, name, body), assigned: (name: string, p: string) => power!.assigned(name, p) } } : {}),
        extraRoots: { ipxe: join(cfg.server.paths.firmware, 'ipxe') },
        log: logger,
      })
      mounts.unshift({ path: '/', router: createMetricsRouter(stats) })
      http = new HttpService({ listen: cfg.server.http.listen, port: cfg.server.http.port, logger: logger.child({ service: 'http' }), mounts, health: () => app.health() })
      await http.start()
    },
    stop: async () => { await http?.stop() },
  })
  return app
}
