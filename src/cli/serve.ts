// `bootlab serve`: runs everything until SIGTERM/SIGINT, then stops within 5 s.
import { Command, Option } from 'commander'
import { createApp, ConfigInvalidError } from '../app.js'
import { createLogger, type LogLevel } from '../log.js'
import { EXIT } from './exit-codes.js'
import { startIdleGc } from './idle-gc.js'
import { StoreCorruptError } from '../store/store.js'
import { overrideOptions, overridesFrom, DEFAULT_CONFIG, type OverrideFlags } from './options.js'

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('run the netboot server (DHCP, TFTP, HTTP) with hot-reloaded config')
    .option('-c, --config <file>', 'config file', process.env.BOOTLAB_CONFIG ?? DEFAULT_CONFIG)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default(process.env.BOOTLAB_LOG_LEVEL ?? 'info'))
  overrideOptions(cmd)
  cmd.action(async (o: { config: string; logLevel: LogLevel } & OverrideFlags) => {
    const logger = createLogger({ level: o.logLevel })
    let app
    try {
      app = await createApp({ configFile: o.config, overrides: overridesFrom(o), logger })
    } catch (err) {
      if (err instanceof ConfigInvalidError) {
        process.stderr.write(`${err.message}\n`)
        process.exit(EXIT.CONFIG)
      }
      const e = err as NodeJS.ErrnoException
      process.stderr.write(`bootlab: cannot start: ${e.code === 'ENOENT' && e.path ? `${e.path} does not exist` : e.message}\n`)
      process.exit(EXIT.START)
    }
    let stopping = false
    const stop = async (signal: string): Promise<void> => {
      if (stopping) return
      stopping = true
      logger.info({ signal }, 'stopping')
      const hard = setTimeout(() => { logger.error('stop took longer than 5 s, exiting'); process.exit(EXIT.OK) }, 5_000)
      hard.unref()
      await app.stop(4_000)
      logger.info('stopped')
      process.exit(EXIT.OK)
    }
    process.on('SIGTERM', () => { void stop('SIGTERM') })
    process.on('SIGINT', () => { void stop('SIGINT') })
    try {
      await app.start()
    } catch (err) {
      const corrupt = findCause(err, StoreCorruptError)
      if (corrupt) {
        // not a crash and not worth a restart: systemd is told so by the exit code (RestartPreventExitStatus)
        logger.error({ file: corrupt.file }, 'the state database is damaged')
        process.stderr.write(`bootlab: ${corrupt.message}\n`)
        await app.stop(2_000)
        process.exit(EXIT.STATE)
      }
      const e = err as NodeJS.ErrnoException
      const hint = e.code === 'EADDRINUSE' ? ' (another program uses that port)' : e.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : ''
      logger.error({ err }, `cannot start: ${e.message}${hint}`)
      await app.stop(2_000)
      process.exit(EXIT.START)
    }
    logger.info({ config: o.config }, 'bootlab running')
    startIdleGc()
  })
  return cmd
}

/** err itself or one of its causes, when it is an instance of `type` */
function findCause<T extends Error>(err: unknown, type: new (...args: never[]) => T): T | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof type) return e
  }
  return undefined
}
