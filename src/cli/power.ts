// `bootlab power on|off|cycle|status MACHINE`: against a running server (its HTTP API), or on
// its own with --config FILE (first set-up, scripts). Exit status (see EXIT in exit-codes.ts):
// 0 done, 1 the configuration is invalid, 2 usage (unknown machine, no power:, protected port),
// 4 the server is unreachable or refused the token, 5 the power action failed.
import { terminalText } from './terminal-text.js'
import { defaultTokenFile, readToken } from '../http/token.js'
import { withClientOptions } from './client.js'
import { loadConfig } from '../config/load.js'
import { formatIssue } from '../config/types.js'
import { openStore } from '../store/store.js'
import { existsSync } from 'node:fs'
import { Command } from 'commander'
import { silentLogger } from '../log.js'
import type { PowerOutcome } from '../power/cycler.js'
import type { StepEvent } from '../power/events.js'
import { MemoryJournal, SqliteJournal, type PowerJournal } from '../power/journal.js'
import { PowerService, type PortReport } from '../power/service.js'
import { PowerError, errorMessage, type PowerConfig } from '../power/types.js'

export interface StandaloneConfig {
  power: PowerConfig
  /** server.state_dir: where the journal lives (crash safety also for one-shot use) */
  stateDir?: string
}

export type LoadResult = { ok: true; config: StandaloneConfig } | { ok: false, errors: string[] }

export const POWER_EXIT = { OK: 0, CONFIG: 1, USAGE: 2, REMOTE: 4, FAILED: 5 } as const

/** The one place the CLI reads the YAML file for standalone use. */
export async function loadForPower(file: string): Promise<LoadResult> {
  const r = await loadConfig(file)
  if (!r.ok) return { ok: false, errors: r.errors.map(formatIssue) }
  return { ok: true, config: { power: r.config, stateDir: r.config.server.state_dir } }
}

export interface PowerCliDeps {
  loadConfig?: (file: string) => Promise<LoadResult>
  out?: (line: string) => void
  err?: (line: string) => void
  /** where exit codes go (default: process.exitCode) */
  setExit?: (code: number) => void
}

type Action = 'on' | 'off' | 'cycle' | 'status'

interface Opts {
  config?: string
  server?: string
  token?: string
  tokenFile?: string
  stateDir?: string
  json?: boolean
}

function describeOutcome(o: PowerOutcome): string {
  const where = `${o.machine ?? o.port} (${o.switch} ${o.port})`
  if (o.manual) return `${where}: switch "${o.switch}" is manual — ${o.action === 'cycle' ? 'power-cycle' : `turn ${o.action}`} it by hand`
  if (o.ok) return `${where}: ${o.action} done in ${(o.duration_ms / 1000).toFixed(1)} s${o.state ? ` — ${o.state.detail}` : ''}`
  return `${where}: ${o.action} FAILED: ${o.reason} (port is ${o.port_state})`
}

function describeReport(r: PortReport): string {
  const state = r.state ? `${r.state.admin === r.state.oper ? r.state.admin : `admin ${r.state.admin}, power ${r.state.oper}`} — ${r.state.detail}` : 'state unknown (this switch cannot report it)'
  const off = r.off_since ? `; switched off by bootlab (${r.off_reason}) since ${r.off_since}` : ''
  return `${r.machine} (${r.switch} ${r.port}, ${r.driver}): ${state}${off}`
}

function describeStep(e: StepEvent): string {
  return `  ${e.ok ? 'ok  ' : 'FAIL'} ${e.step.padEnd(10)} ${e.detail}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''} [${e.duration_ms} ms]`
}

function openJournal(stateDir: string | undefined): { journal: PowerJournal; close(): void } {
  if (stateDir && existsSync(stateDir)) {
    const store = openStore(stateDir)
    return { journal: new SqliteJournal(store.db), close: () => store.close() }
  }
  return { journal: new MemoryJournal(), close: () => {} }
}

async function standalone(action: Action, machine: string, opts: Opts, deps: Required<PowerCliDeps>): Promise<number> {
  const loaded = await deps.loadConfig(opts.config!)
  if (!loaded.ok) {
    for (const e of loaded.errors) deps.err(e)
    return POWER_EXIT.CONFIG
  }
  const { journal, close } = openJournal(loaded.config.stateDir)
  const svc = new PowerService({ config: loaded.config.power, journal, log: silentLogger() })
  if (!opts.json) svc.events.on('power.step', (e) => deps.out(describeStep(e)))
  try {
    if (action === 'status') {
      const r = await svc.status(machine)
      deps.out(opts.json ? JSON.stringify(r) : describeReport(r))
      return POWER_EXIT.OK
    }
    const o = action === 'cycle' ? await svc.cycle(machine, 'bootlab power cycle (CLI)')
      : action === 'on' ? await svc.on(machine, 'bootlab power on (CLI)') : await svc.off(machine, 'bootlab power off (CLI)')
    deps.out(opts.json ? JSON.stringify(o) : describeOutcome(o))
    return o.ok ? POWER_EXIT.OK : POWER_EXIT.FAILED
  } catch (err) {
    deps.err(`bootlab power ${action} ${machine}: ${errorMessage(err)}`)
    // a machine/switch/port problem is a usage error; a switch that cannot be read is a failure
    return err instanceof PowerError && (err.kind === 'config' || err.kind === 'refused') ? POWER_EXIT.USAGE : POWER_EXIT.FAILED
  } finally {
    await svc.stop()
    close()
  }
}

async function viaServer(action: Action, machine: string, opts: Opts, deps: Required<PowerCliDeps>): Promise<number> {
  const base = (opts.server ?? process.env.BOOTLAB_SERVER ?? 'http://127.0.0.1:8080').replace(/\/+$/, '')
  const token = opts.token ?? process.env.BOOTLAB_TOKEN ?? await readToken(opts.tokenFile ?? defaultTokenFile(opts.stateDir ?? '/var/lib/bootlab'))
  const url = `${base}/api/machines/${encodeURIComponent(machine)}/power`
  const headers: Record<string, string> = { accept: 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  let res: Response
  try {
    res = action === 'status'
      ? await fetch(url, { headers, signal: AbortSignal.timeout(60_000) })
      : await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ action }), signal: AbortSignal.timeout(300_000) })
  } catch (err) {
    deps.err(`cannot reach the bootlab server at ${base}: ${errorMessage(err)} (or use --config FILE to act without a server)`)
    return POWER_EXIT.REMOTE
  }
  const text = await res.text()
  let body: unknown
  try { body = JSON.parse(text) } catch { body = { error: text.slice(0, 200) } }
  if (opts.json) deps.out(JSON.stringify(body))
  const error = (body as { error?: string }).error
  // 403 is also the power module's answer for a protected port; only a refused token is remote
  if (res.status === 401 || (res.status === 403 && /token|authori/i.test(error ?? ''))) {
    if (!opts.json) deps.err(`${res.status}: ${error ?? 'not allowed'} (give the API token with --token, BOOTLAB_TOKEN, --token-file or --state-dir)`)
    return POWER_EXIT.REMOTE
  }
  if (error !== undefined) {
    if (!opts.json) deps.err(`bootlab power ${action} ${machine}: ${error}`)
    return res.status === 502 ? POWER_EXIT.FAILED : res.status >= 500 ? POWER_EXIT.REMOTE : POWER_EXIT.USAGE
  }
  if (!opts.json) deps.out(action === 'status' ? describeReport(body as PortReport) : describeOutcome(body as PowerOutcome))
  return action === 'status' || (body as PowerOutcome).ok ? POWER_EXIT.OK : POWER_EXIT.FAILED
}

/** The `power` command for the bootlab CLI (registered by src/cli/main.ts). */
export function powerCommand(deps: PowerCliDeps = {}): Command {
  const d: Required<PowerCliDeps> = {
    loadConfig: deps.loadConfig ?? loadForPower,
    // lines carry reasons from switches and webhooks: printed without their control characters
    out: deps.out ?? ((l) => process.stdout.write(terminalText(l) + '\n')),
    err: deps.err ?? ((l) => process.stderr.write(terminalText(l) + '\n')),
    setExit: deps.setExit ?? ((c) => { process.exitCode = c }),
  }
  const cmd = new Command('power').description('switch a machine\'s power: PoE port, plug or webhook')
  const verbs: Array<[Action, string]> = [
    ['cycle', 'power-cycle: off, wait off_seconds, on (graceful shutdown first when configured)'],
    ['on', 'turn the machine\'s port on'],
    ['off', 'turn the machine\'s port off (it stays off, also across restarts, until turned on)'],
    ['status', 'show the port\'s PoE state as the switch reports it'],
  ]
  for (const [action, help] of verbs) {
    withClientOptions(cmd.command(action))
      .description(help)
      .argument('<machine>', 'machine name from the configuration')
      .option('-c, --config <file>', 'act on its own with this configuration file (no server needed)')
      .option('--json', 'print the result as JSON')
      .action(async (machine: string, opts: Opts) => {
        d.setExit(opts.config ? await standalone(action, machine, opts, d) : await viaServer(action, machine, opts, d))
      })
  }
  return cmd
}
