// cisco-ios: PoE on/off through the IOS CLI over SSH. `power inline never` / `power inline auto`
// in interface configuration, state from `show power inline <interface>`. Never `write memory`:
// a switch reload restores PoE from startup-config, which is the safe direction.
import type { Logger } from '../../log.js'
import { PowerError, type CiscoIosSwitch, type DriverResult, type PortStatus, type PowerDriver } from '../types.js'
import { canonicalPort, isIosInterface } from '../../net/switch-port.js'
import { findIosError, parsePowerInline, rowToStatus } from './ios-parse.js'
import { IosShell } from './ios-shell.js'

export class CiscoIosDriver implements PowerDriver {
  readonly kind = 'cisco-ios' as const
  readonly #sw: CiscoIosSwitch
  readonly #log: Logger
  #shell: IosShell | null = null

  constructor(sw: CiscoIosSwitch, log: Logger) {
    this.#sw = sw
    this.#log = log
  }

  canonicalPort(port: string): string {
    return canonicalPort(port)
  }

  on(port: string): Promise<DriverResult> {
    return this.#setPower(port, 'power inline auto')
  }

  off(port: string): Promise<DriverResult> {
    return this.#setPower(port, 'power inline never')
  }

  /** defence in depth: the config refuses such names already */
  #checkPort(port: string): void {
    if (!isIosInterface(port)) throw new PowerError('config', `${JSON.stringify(port)} is not a Cisco IOS interface name; refusing to send it to the switch`, { retryable: false, applied: false })
  }

  async status(port: string): Promise<PortStatus> {
    this.#checkPort(port)
    const shell = await this.#session()
    const cmd = `show power inline ${port}`
    const r = await this.#guard(() => shell.send(cmd))
    const err = findIosError(r.output)
    if (err) throw new PowerError('rejected', `switch rejected "${cmd}": ${err}`)
    const row = parsePowerInline(r.output, port)
    if (!row) throw new PowerError('protocol', `no row for ${port} in the output of "${cmd}"`)
    return rowToStatus(row)
  }

  async release(): Promise<void> {
    this.#shell?.close()
    this.#shell = null
  }

  /** On a timeout or lost connection the session is dropped so the next call starts clean. */
  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (!(err instanceof PowerError) || err.kind === 'timeout' || err.kind === 'connect') await this.release()
      throw err
    }
  }

  async #session(): Promise<IosShell> {
    if (this.#shell && !this.#shell.closed) return this.#shell
    this.#shell = null
    const shell = await IosShell.open(this.#sw, this.#log)
    try {
      await this.#prepare(shell)
    } catch (err) {
      shell.close()
      // session set-up (paging, enable) never changes a port
      throw err instanceof PowerError ? new PowerError(err.kind, err.message, { retryable: err.retryable, applied: false }) : err
    }
    this.#shell = shell
    return shell
  }

  async #prepare(shell: IosShell): Promise<void> {
    const host = this.#sw.host
    let r = await shell.send('terminal length 0')
    const err = findIosError(r.output)
    if (err) throw new PowerError('protocol', `${host} rejected "terminal length 0": ${err}`, { retryable: false })
    if (shell.mode !== 'user') return
    const secret = this.#sw.enable_secret?.reveal()
    if (secret === undefined) {
      throw new PowerError('config', `${host} put ${this.#sw.username} in user EXEC (>) and no enable_secret is configured`)
    }
    r = await shell.send('enable', { password: true })
    if (r.password) r = await shell.send(secret, { password: true, secret: true })
    if (r.password || r.mode !== 'priv') {
      throw new PowerError('auth', `${host} refused the enable secret${findIosError(r.output) ? ` (${findIosError(r.output)})` : ''}`)
    }
  }

  async #setPower(port: string, command: string): Promise<DriverResult> {
    this.#checkPort(port)
    const shell = await this.#session()
    return this.#guard(async () => {
      const transcript: string[] = []
      const step = async (line: string, want: string) => {
        const r = await shell.send(line)
        transcript.push(line)
        const err = findIosError(r.output)
        if (err || r.mode !== want) {
          if (r.mode !== 'priv' && r.mode !== 'user') await shell.send('end')
          const why = err ?? `prompt is ${r.mode}, expected ${want}`
          throw new PowerError('rejected', `switch rejected "${line}": ${why}`, { applied: false })
        }
      }
      await step('configure terminal', 'config')
      await step(`interface ${port}`, 'config-if')
      await step(command, 'config-if')
      await step('end', 'priv')
      return { detail: transcript.join(' / ') }
    })
  }
}
