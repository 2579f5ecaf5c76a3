// Composition root: config → services. The only place that wires modules together.
import { mkdir } from 'node:fs/promises'
import { readFile } from 'node:fs/promises'
import type { Logger } from './log.js'
import { ConfigSource } from './config/watch.js'
import { parseConfig, type ConfigOverrides } from './config/load.js'
import { formatIssue, type ConfigIssue } from './config/types.js'
import { HttpService } from './http/server.js'
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

export class App {
  readonly started = Date.now()
  readonly services: Service[] = []

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

export async function createApp(opts: AppOptions): Promise<App> {
  const { logger } = opts
  const text = await readFile(opts.configFile, 'utf8')
  const loaded = parseConfig(text, opts.configFile, { overrides: opts.overrides })
  if (!loaded.ok) throw new ConfigInvalidError(loaded.errors)
  for (const w of loaded.warnings) logger.warn({ config: formatIssue(w) }, 'config warning')
  const source = new ConfigSource(opts.configFile, loaded.config, text, { overrides: opts.overrides, displayName: opts.configFile })
  const app = new App(source, logger)

  source.on('applied', (_config, changes) => {
    logger.info({ changes }, `config reloaded (${changes.length} change(s))`)
  })
  source.on('rejected', (errors) => {
    for (const e of errors) logger.error({ config_error: e }, `config edit rejected, previous config keeps running: ${formatIssue(e)}`)
  })

  const cfg = source.config
  await mkdir(cfg.server.state_dir, { recursive: true })

  app.services.push(new HttpService({
    listen: cfg.server.http.listen,
    port: cfg.server.http.port,
    logger: logger.child({ service: 'http' }),
    mounts: [],
    health: () => app.health(),
  }))
  return app
}
