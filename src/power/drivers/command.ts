// command: run a configured argv (no shell) with {port} and {action} replaced, bounded by a
// timeout; the exit status and output go into the step event. Covers anything with a CLI
// (uhubctl, MikroTik over ssh, vendor tools). status: stdout searched with status_on_regex.
import { execFile } from 'node:child_process'
import { PowerError, type CommandSwitch, type DriverResult, type PortStatus, type PowerDriver } from '../types.js'

const MAX_OUTPUT = 64 * 1024

function clip(s: string, n = 400): string {
  const t = s.trim()
  return t.length > n ? t.slice(0, n) + '…' : t
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

  #run(argvTemplate: string[], port: string, action: string): Promise<{ code: number; stdout: string; stderr: string; argv: string[] }> {
    const argv = argvTemplate.map((a) => a.replaceAll('{port}', port).replaceAll('{action}', action))
    const [file, ...args] = argv
    if (!file) return Promise.reject(new PowerError('config', `no command configured for ${action}`))
    const timeoutMs = (this.#sw.timeout_seconds ?? 20) * 1000
    return new Promise((resolve, reject) => {
      execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT, shell: false }, (err, stdout, stderr) => {
        const out = { stdout: String(stdout), stderr: String(stderr), argv }
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new PowerError('config', `command not found: ${file}`))
        } else if (err && err.killed) {
          reject(new PowerError('timeout', `"${argv.join(' ')}" did not finish within ${timeoutMs / 1000} s and was killed`))
        } else if (err && typeof err.code === 'number') {
          resolve({ ...out, code: err.code })
        } else if (err) {
          reject(new PowerError('protocol', `"${argv.join(' ')}": ${err.message}`))
        } else {
          resolve({ ...out, code: 0 })
        }
      })
    })
  }

  async #switch(port: string, action: 'on' | 'off'): Promise<DriverResult> {
    const r = await this.#run(action === 'on' ? this.#sw.on : this.#sw.off, port, action)
    const detail = `"${r.argv.join(' ')}" exited ${r.code}${r.stdout.trim() ? `; stdout: ${clip(r.stdout)}` : ''}${r.stderr.trim() ? `; stderr: ${clip(r.stderr)}` : ''}`
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
    if (r.code !== 0) {
      throw new PowerError('rejected', `"${r.argv.join(' ')}" exited ${r.code}${r.stderr.trim() ? `; stderr: ${clip(r.stderr)}` : ''}`)
    }
    const re = new RegExp(this.#sw.status_on_regex ?? '\\bon\\b', 'i')
    const state = re.test(r.stdout) ? 'on' : 'off'
    return { admin: state, oper: state, detail: `status: ${clip(r.stdout, 120)} → ${state}` }
  }

  async release(): Promise<void> {}
}
