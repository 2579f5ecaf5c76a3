// A small client for bootlab's JSON API, used by `bootlab machines|status|assign`.
import { join } from 'node:path'
import { Option, type Command } from 'commander'
import { readToken } from '../http/token.js'

export class ApiError extends Error {
  override name = 'ApiError'
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

export interface ClientOptions {
  server: string
  token?: string
  tokenFile?: string
  stateDir?: string
  timeoutMs?: number
}

export class ApiClient {
  constructor(private readonly opts: ClientOptions) {}

  private url(path: string): string {
    return this.opts.server.replace(/\/+$/, '') + path
  }

  async token(): Promise<string> {
    if (this.opts.token) return this.opts.token
    if (process.env.BOOTLAB_TOKEN) return process.env.BOOTLAB_TOKEN
    const file = this.opts.tokenFile ?? join(this.opts.stateDir ?? '/var/lib/bootlab', 'api-token')
    const t = await readToken(file)
    if (!t) throw new ApiError(0, `no API token: pass --token, set BOOTLAB_TOKEN, or make ${file} readable`)
    return t
  }

  /**
   * The bearer header: required for changes; sent with reads too when a token is at hand (machine
   * details need it unless the server has server.http.public_read).
   */
  async authorization(required: boolean): Promise<Record<string, string>> {
    try {
      return { authorization: `Bearer ${await this.token()}` }
    } catch (err) {
      if (required) throw err
      return {}
    }
  }

  /** Every machine: GET /api/machines page by page (at most 100 pages). */
  async machines<M>(): Promise<M[]> {
    const all: M[] = []
    let cursor: string | null = null
    for (let i = 0; i < 100; i++) {
      const page: { machines: M[]; next_cursor?: string | null } = await this.request('GET', `/api/machines${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`)
      all.push(...page.machines)
      cursor = page.next_cursor ?? null
      if (!cursor) break
    }
    return all
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.authorization(method === 'POST')) }
    if (method === 'POST') headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(this.url(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      })
    } catch (err) {
      throw new ApiError(0, `cannot reach bootlab at ${this.opts.server}: ${(err as Error).message}`)
    }
    const text = await res.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new ApiError(res.status, `unexpected answer from ${this.opts.server} (HTTP ${res.status})`)
    }
    if (!res.ok) throw new ApiError(res.status, (json as { error?: string }).error ?? `HTTP ${res.status}`)
    return json as T
  }
}

/** Adds --server, --token, --token-file, --state-dir to a command (same spelling as `bootlab power`). */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-s, --server <url>', 'bootlab server URL').env('BOOTLAB_SERVER').default('http://127.0.0.1:8080'))
    .option('-t, --token <token>', 'API token (default: $BOOTLAB_TOKEN or <state-dir>/api-token)')
    .option('--token-file <file>', 'file holding the API token')
    .option('--state-dir <dir>', 'bootlab state directory', '/var/lib/bootlab')
}

export function clientFrom(opts: { server: string; token?: string; tokenFile?: string; stateDir?: string }): ApiClient {
  return new ApiClient({ server: opts.server, token: opts.token, tokenFile: opts.tokenFile, stateDir: opts.stateDir })
}

export type Write = (s: string) => void

/** Output and exit status of a CLI command (tests pass their own). */
export interface CliDeps {
  out?: Write
  err?: Write
  setExit?: (code: number) => void
}

/** Exit codes, as in src/cli/exit-codes.ts: 2 usage (unknown machine/profile), 4 remote (unreachable, refused). */
export const CLI_EXIT = { OK: 0, USAGE: 2, REMOTE: 4 } as const

/** Runs a command body; an ApiError becomes a message on stderr and an exit code. */
export async function runCli(name: string, deps: CliDeps, body: (out: Write) => Promise<void>): Promise<void> {
  const out = deps.out ?? ((s: string) => { process.stdout.write(s) })
  const err = deps.err ?? ((s: string) => { process.stderr.write(s) })
  const setExit = deps.setExit ?? ((c: number) => { process.exitCode = c })
  try {
    await body(out)
    setExit(CLI_EXIT.OK)
  } catch (e) {
    if (!(e instanceof ApiError)) throw e
    const hint = e.status === 401 || e.status === 403 ? ' (give the API token with --token, BOOTLAB_TOKEN or --state-dir)' : ''
    err(`bootlab ${name}: ${e.message}${hint}\n`)
    setExit(e.status === 0 || e.status === 401 || e.status === 403 || e.status >= 500 ? CLI_EXIT.REMOTE : CLI_EXIT.USAGE)
  }
}

/** Plain text table, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '-'
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`
  return `${Math.floor(s / 86400)}d ago`
}
