// command: run a configured argv (no shell) with {port}, {action} and {secret:name} replaced,
// bounded by a timeout; the step event gets the program's name, its exit status and a short,
// redacted reason (never the arguments or the output: they often carry credentials). Covers
// anything with a CLI (uhubctl, MikroTik over ssh, vendor tools). status: stdout searched with
// status_on_regex.
import { execFile } from 'node:child_process'
import { basename } from 'node:path'
import { CONTROL_CHARS, hasControlChars } from '../../net/control-chars.js'
import { PowerError, type CommandSwitch, type DriverResult, type PortStatus, type PowerDriver } from '../types.js'

const MAX_OUTPUT = 64 * 1024

const SECRET_PLACEHOLDER = /\{secret:([^}]*)\}/g

interface RunResult { code: number; stdout: string; stderr: string; what: string }

/**
 * One short line from a command's error output for events and logs: its last non-empty line,
 * with every configured secret and anything shaped like a credential (password=…, user:pw@host,
 * Bearer …) taken out. Argument lists and full output are never recorded: they often carry credentials.
 */
export function redactedReason(stderr: string, secrets: string[]): string {
  const line = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '').at(-1) ?? ''
  let r = line
  for (const s of secrets) if (s.length >= 4) r = r.replaceAll(s, '[secret]')
  r = r.replace(/\b(pass(?:word|wd)?|pwd|token|secret|key|community|auth)(\s*[=:]\s*)\S+/gi, '$1$2[redacted]')
    .replace(/\/\/[^/@\s]+@/g, '//[redacted]@')
    .replace(/\b(Bearer|Basic)\s+\S+/gi, '$1 [redacted]')
    .replace(new RegExp(CONTROL_CHARS.source, 'g'), '')
  return r.length > 120 ? r.slice(0, 120) + '…' : r
}

export class CommandDriver implements PowerDriver {
  readonly kind = 'command' as const
  readonly #sw: CommandSwitch

  constructor(sw: CommandSwitch) {
    this.#sw = sw
  }

  canonicalPort(port: string): string {
    return port.trim()
  }

  #secretValues(): string[] {
    return Object.values(this.#sw.secrets ?? {}).map((s) => s.reveal())
  }

  #fill(template: string, port: string, action: string): string {
    return template.replaceAll('{port}', port).replaceAll('{action}', action).replace(SECRET_PLACEHOLDER, (_m, name: string) => {
      const s = this.#sw.secrets && Object.hasOwn(this.#sw.secrets, name) ? this.#sw.secrets[name] : undefined
      if (!s) throw new PowerError('config', `{secret:${name}} is not defined under the switch's secrets:`)
      return s.reveal()
    })
  }

  #run(argvTemplate: string[], port: string, action: string): Promise<RunResult> {
    // defence in depth: the config refuses these already
    if (hasControlChars(port)) return Promise.reject(new PowerError('config', 'the port name contains a control character'))
    const [program] = argvTemplate
    if (!program) return Promise.reject(new PowerError('config', `no command configured for ${action}`))
    // what events and logs may show: the program's name and the action, never its arguments
    const what = `${basename(program)} (${action})`
    let argv: string[]
    let env: NodeJS.ProcessEnv | undefined
    try {
      argv = argvTemplate.map((a) => this.#fill(a, port, action))
      const extra = Object.entries(this.#sw.environment ?? {})
      env = extra.length > 0 ? { ...process.env, ...Object.fromEntries(extra.map(([k, v]) => [k, this.#fill(v, port, action)])) } : undefined
    } catch (err) {
      return Promise.reject(err)
    }
    const [file, ...args] = argv
    const timeoutMs = (this.#sw.timeout_seconds ?? 20) * 1000
    return new Promise((resolve, reject) => {
      execFile(file!, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT, shell: false, ...(env ? { env } : {}) }, (err, stdout, stderr) => {
        const out = { stdout: String(stdout), stderr: String(stderr), what }
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new PowerError('config', `command not found: ${program}`))
        } else if (err && err.killed) {
          reject(new PowerError('timeout', `${what} did not finish within ${timeoutMs / 1000} s and was killed`))
        } else if (err && typeof err.code === 'number') {
          resolve({ ...out, code: err.code })
        } else if (err) {
          reject(new PowerError('protocol', `${what}: ${redactedReason(err.message, this.#secretValues())}`))
        } else {
          resolve({ ...out, code: 0 })
        }
      })
    })
  }

  #outcome(r: RunResult): string {
    const why = r.code !== 0 ? redactedReason(r.stderr || r.stdout, this.#secretValues()) : ''
    return `${r.what} exited ${r.code}${why ? `: ${why}` : ''}`
  }

  async #switch(port: string, action: 'on' | 'off'): Promise<DriverResult> {
    const r = await this.#run(action === 'on' ? this.#sw.on : this.#sw.off, port, action)
    const detail = this.#outcome(r)
    if (r.code !== 0) throw new PowerError('rejected', detail, { applied: true })
    return { detail }
  }

  on(port: string): Promise<DriverResult> {
    return this.#switch(port, 'on')
  }

  off(port: string): Promise<DriverResult> {
    return this.#switch(port, 'off')
  }

  async status(port: string): Promise<PortStatus | null> {
    if (!this.#sw.status) return null
    const r = await this.#run(this.#sw.status, port, 'status')
    if (r.code !== 0) throw new PowerError('rejected', this.#outcome(r))
    const re = new RegExp(this.#sw.status_on_regex ?? '\\bon\\b', 'i')
    const state = re.test(r.stdout) ? 'on' : 'off'
    return { admin: state, oper: state, detail: `${r.what} exited 0 → ${state}` }
  }

  async release(): Promise<void> {}
}
