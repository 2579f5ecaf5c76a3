// webhook: configurable HTTP(S) requests for on/off/status, the contract of MAAS's webhook
// power driver (status answer matched with an on-regex, then an off-regex). TLS certificates are
// always verified; a self-signed endpoint is trusted by giving its CA in `ca_file`.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { hasControlChars } from '../../net/control-chars.js'
import { isLoopbackHost } from '../../net/loopback.js'
import https from 'node:https'
import { PowerError, errorMessage, type DriverResult, type PortStatus, type PowerDriver, type WebhookRequest, type WebhookSwitch } from '../types.js'

const MAX_BODY = 64 * 1024
const MAAS_ON = 'status.*\\:.*running'
const MAAS_OFF = 'status.*\\:.*stopped'

interface HttpAnswer { status: number; body: string }

export class WebhookDriver implements PowerDriver {
  readonly kind = 'webhook' as const
  readonly #sw: WebhookSwitch
  #ca: Buffer | undefined | null = null

  constructor(sw: WebhookSwitch) {
    this.#sw = sw
  }

  canonicalPort(port: string): string {
    return port.trim()
  }

  #caCert(): Buffer | undefined {
    if (this.#ca === null) {
      try {
        this.#ca = this.#sw.ca_file ? readFileSync(this.#sw.ca_file) : undefined
      } catch (err) {
        throw new PowerError('config', `cannot read ca_file ${this.#sw.ca_file}: ${errorMessage(err)}`)
      }
    }
    return this.#ca
  }

  #send(req: WebhookRequest, port: string, action: string, defaultMethod: string): Promise<HttpAnswer & { what: string }> {
    const fill = (s: string, enc: (v: string) => string) => s.replaceAll('{port}', enc(port)).replaceAll('{action}', enc(action))
    let url: URL
    try {
      url = new URL(fill(req.url, encodeURIComponent))
    } catch {
      return Promise.reject(new PowerError('config', `bad webhook URL for ${action}: ${req.url}`))
    }
    if (hasControlChars(port)) return Promise.reject(new PowerError('config', 'the port name contains a control character'))
    if (this.#sw.token && url.protocol === 'http:' && !this.#sw.allow_insecure && !isLoopbackHost(url.hostname)) {
      return Promise.reject(new PowerError('config', `refusing to send the token over plain http to ${url.hostname}; use https:// or set allow_insecure: true`))
    }
    const method = (req.method ?? defaultMethod).toUpperCase()
    const what = `${method} ${url.origin}${url.pathname}`
    const body = req.body !== undefined ? fill(req.body, (v) => v) : undefined
    const headers: Record<string, string> = { 'user-agent': 'bootlab', accept: 'application/json, text/plain, */*' }
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = fill(v, (x) => x)
    if (this.#sw.token) headers.authorization = `Bearer ${this.#sw.token.reveal()}`
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    const timeoutMs = (this.#sw.timeout_seconds ?? 20) * 1000
    const lib = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null
    if (!lib) return Promise.reject(new PowerError('config', `webhook URL must be http or https: ${url.protocol}`))
    const ca = url.protocol === 'https:' ? this.#caCert() : undefined
    return new Promise((resolve, reject) => {
      const r = lib.request(url, { method, headers, timeout: timeoutMs, rejectUnauthorized: true, ...(ca ? { ca } : {}) }, (res) => {
        let data = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => { if (data.length < MAX_BODY) data += chunk })
        res.on('end', () => { clearTimeout(deadline); resolve({ status: res.statusCode ?? 0, body: data, what }) })
        res.on('error', (err) => reject(new PowerError('connect', `${what}: ${err.message}`, { applied: true })))
      })
      // `timeout` above only bounds idleness; this bounds the whole exchange (a slow drip included)
      const deadline = setTimeout(() => r.destroy(new PowerError('timeout', `${what}: no complete answer within ${timeoutMs / 1000} s`)), timeoutMs)
      r.on('timeout', () => r.destroy(new PowerError('timeout', `${what}: no answer within ${timeoutMs / 1000} s`)))
      r.on('error', (err) => {
        clearTimeout(deadline)
        if (err instanceof PowerError) return reject(err)
        const code = (err as NodeJS.ErrnoException).code ?? ''
        const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code)
        reject(tls
          ? new PowerError('rejected', `${what}: TLS certificate not trusted (${code}: ${err.message}); give the endpoint's CA in ca_file`, { applied: false })
          : new PowerError('connect', `${what}: ${err.message}`, { applied: false }))
      })
      r.end(body)
    })
  }

  async #switch(port: string, action: 'on' | 'off'): Promise<DriverResult> {
    const a = await this.#send(action === 'on' ? this.#sw.on : this.#sw.off, port, action, 'POST')
    const detail = `${a.what} → HTTP ${a.status}${a.body.trim() ? `: ${a.body.trim().slice(0, 200)}` : ''}`
    if (a.status >= 400 || a.status < 200) throw new PowerError('rejected', detail, { retryable: a.status >= 500, applied: false })
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
    const a = await this.#send(this.#sw.status, port, 'status', 'GET')
    if (a.status >= 400 || a.status < 200) throw new PowerError('rejected', `${a.what} → HTTP ${a.status}`, { retryable: a.status >= 500 })
    const onRe = new RegExp(this.#sw.status_on_regex ?? MAAS_ON)
    const offRe = new RegExp(this.#sw.status_off_regex ?? MAAS_OFF)
    const state = onRe.test(a.body) ? 'on' : offRe.test(a.body) ? 'off' : 'unknown'
    return { admin: state, oper: state, detail: `${a.what} → ${a.body.trim().slice(0, 120)} (${state})` }
  }

  async release(): Promise<void> {}
}
