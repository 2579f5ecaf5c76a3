// An interactive IOS CLI session over SSH (ssh2 shell, never exec: IOS closes the connection
// after one exec). Drives the CLI like a person: send one line, wait for the prompt at the end
// of the output, return what came in between.
import type { ClientChannel, Client } from 'ssh2'
import type { Logger } from '../../log.js'
import { pinnedHostKey, sshAlgorithms, sshError } from '../ssh-common.js'
import { hasControlChars } from '../../net/control-chars.js'
import { PowerError, type CiscoIosSwitch } from '../types.js'

export type IosMode = 'user' | 'priv' | 'config' | 'config-if' | 'config-other'

/** A prompt alone on the last line: "sw>", "sw#", "sw(config)#", "sw(config-if)#". */
const PROMPT = /(?:^|\n)([A-Za-z0-9._\-/]+)(\([a-z0-9-]+\))?([>#]) ?$/
const PASSWORD = /(?:^|\n)\s*Password: ?$/
const MORE = /\s*--More--\s*$/

export interface IosReply {
  /** the lines between the echoed command and the prompt */
  output: string
  mode: IosMode
  /** true when the switch asked for a password instead of showing a prompt */
  password: boolean
}

function modeOf(sub: string | undefined, sign: string): IosMode {
  if (sign === '>') return 'user'
  if (!sub) return 'priv'
  if (sub === '(config)') return 'config'
  if (sub === '(config-if)') return 'config-if'
  return 'config-other'
}

export class IosShell {
  #client: Client
  #stream: ClientChannel
  #buf = ''
  #closed = false
  #waiter: { re: RegExp[]; echo: string; done: (err: Error | null) => void } | null = null
  mode: IosMode = 'user'
  readonly #timeoutMs: number
  readonly #host: string
  readonly #log: Logger

  private constructor(client: Client, stream: ClientChannel, host: string, timeoutMs: number, log: Logger) {
    this.#client = client
    this.#stream = stream
    this.#host = host
    this.#timeoutMs = timeoutMs
    this.#log = log
    stream.on('data', (d: Buffer) => this.#onData(d))
    stream.stderr.on('data', (d: Buffer) => this.#onData(d))
    const onClose = () => {
      this.#closed = true
      this.#waiter?.done(new PowerError('connect', `${host} closed the SSH session`, { applied: true }))
    }
    stream.on('close', onClose)
    client.on('close', onClose)
    client.on('error', () => onClose())
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Connect, authenticate (password or keyboard-interactive), open a shell, wait for the first prompt. */
  static async open(sw: CiscoIosSwitch, log: Logger): Promise<IosShell> {
    const timeoutMs = (sw.timeout_seconds ?? 20) * 1000
    const hostKey = pinnedHostKey(sw.host_key)
    const { Client: SshClient } = await import('ssh2') // loaded on first use, not at `bootlab serve` start
    const client: Client = new SshClient()
    client.on('error', () => {}) // errors are handled where they matter (connect, session close)
    const password = sw.password?.reveal() ?? ''
    client.on('keyboard-interactive', (_name, _instr, _lang, prompts, finish) => finish(prompts.map(() => password)))
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown) => { client.end(); reject(sshError(err, sw.host, hostKey, sw.legacy_algorithms === true)) }
      client.once('ready', () => { client.removeListener('error', fail); resolve() })
      client.once('error', fail)
      try {
        client.connect({
          host: sw.host,
          port: sw.port ?? 22,
          username: sw.username,
          password,
          tryKeyboard: true,
          readyTimeout: timeoutMs,
          hostVerifier: hostKey.verifier,
          algorithms: sshAlgorithms(sw.legacy_algorithms === true),
        })
      } catch (err) { fail(err) }
    })
    const stream = await new Promise<ClientChannel>((resolve, reject) => {
      client.shell({ term: 'vt100', cols: 200, rows: 24 }, (err, ch) => {
        if (err) { client.end(); reject(new PowerError('protocol', `${sw.host} refused a shell: ${err.message}`)) } else resolve(ch)
      })
    })
    const shell = new IosShell(client, stream, sw.host, timeoutMs, log)
    try {
      await shell.#wait([PROMPT], 'the first prompt')
    } catch (err) {
      shell.close()
      // nothing was sent yet, so nothing can have been applied
      throw err instanceof PowerError ? new PowerError(err.kind, err.message, { retryable: err.retryable, applied: false }) : err
    }
    shell.#takeReply('')
    return shell
  }

  #onData(d: Buffer): void {
    this.#buf += d.toString('latin1')
    if (MORE.test(this.#buf)) {
      // paging should be off (terminal length 0); page on anyway rather than hang
      this.#buf = this.#buf.replace(MORE, '\n')
      this.#stream.write(' ')
      return
    }
    const w = this.#waiter
    if (w && this.#matches(w.re, w.echo)) w.done(null)
  }

  /** A prompt after the echo of what was sent (so a late syslog line before the echo cannot fool us). */
  #matches(re: RegExp[], echo: string): boolean {
    const text = this.#clean()
    const at = echo === '' ? 0 : text.indexOf(echo)
    if (at < 0) return false
    const rest = text.slice(at)
    return re.some((r) => r.test(rest))
  }

  #clean(): string {
    // drop CRs and the backspace dance some pagers print
    // eslint-disable-next-line no-control-regex
    return this.#buf.replace(/\r/g, '').replace(/\x08+ *\x08*/g, '')
  }

  #wait(re: RegExp[], what: string, echo = ''): Promise<void> {
    if (this.#closed) return Promise.reject(new PowerError('connect', `${this.#host} closed the SSH session`, { applied: true }))
    if (this.#matches(re, echo)) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null
        reject(new PowerError('timeout', `${this.#host} did not answer ${what} within ${this.#timeoutMs / 1000} s`))
      }, this.#timeoutMs)
      this.#waiter = {
        re,
        echo,
        done: (err) => {
          clearTimeout(timer)
          this.#waiter = null
          if (err) reject(err); else resolve()
        },
      }
    })
  }

  #takeReply(sent: string): IosReply {
    let text = this.#clean()
    this.#buf = ''
    const at = sent === '' ? -1 : text.indexOf(sent)
    if (at > 0) text = text.slice(at)
    const lines = text.split('\n')
    const last = lines.pop() ?? ''
    const pm = PROMPT.exec('\n' + last)
    let password = false
    if (pm) this.mode = modeOf(pm[2], pm[3]!)
    else password = PASSWORD.test('\n' + last)
    // the switch echoes what was typed (not a password)
    if (sent !== '' && lines.length > 0 && lines[0]!.includes(sent.trim())) lines.shift()
    return { output: lines.join('\n'), mode: this.mode, password }
  }

  /** Send one line and wait for a prompt (or a password prompt when `password` is set). */
  async send(line: string, opts: { password?: boolean; secret?: boolean } = {}): Promise<IosReply> {
    // one line is one command: a control character (a newline above all) would smuggle in more
    if (hasControlChars(line)) throw new PowerError('config', 'refusing to send a line with a control character to the switch', { retryable: false, applied: false })
    if (!opts.secret) this.#log.debug({ host: this.#host, cmd: line }, 'ios send')
    this.#buf = ''
    this.#stream.write(line + '\n')
    await this.#wait(opts.password ? [PROMPT, PASSWORD] : [PROMPT], opts.secret ? 'the enable secret' : `"${line}"`, opts.secret ? '' : line)
    return this.#takeReply(opts.secret ? '' : line)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    try { this.#stream.end('exit\n') } catch {}
    this.#client.end()
    this.#waiter?.done(new PowerError('connect', 'session closed', { applied: true }))
  }
}
