// Logging: pino, JSON lines to stdout (journald), human-readable when stdout is a terminal.
// Modules take the small `Logger` interface so tests can pass a silent or recording logger.
import { pino, type Logger as PinoLogger } from 'pino'

export type Logger = Pick<PinoLogger, 'debug' | 'info' | 'warn' | 'error' | 'child'>

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/** Keys whose values are never written to a log line, wherever they appear. */
export const REDACTED_KEYS = ['password', 'secret', 'enable_secret', 'token', 'community', 'auth_key', 'priv_key', 'authorization', 'api_token']

export function createLogger(opts: { level?: LogLevel; pretty?: boolean } = {}): PinoLogger {
  const level = opts.level ?? ((process.env.BOOTLAB_LOG_LEVEL as LogLevel | undefined) ?? 'info')
  const pretty = opts.pretty ?? process.stdout.isTTY === true
  const redact = { paths: REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), censor: '[redacted]' }
  if (pretty) {
    return pino({ level, redact, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } })
  }
  return pino({ level, redact, base: undefined, timestamp: pino.stdTimeFunctions.isoTime })
}

/** A logger that drops everything (tests, one-shot CLI commands). */
export function silentLogger(): PinoLogger {
  return pino({ level: 'silent' })
}
