// Graceful first: before cutting PoE, ask the running OS to shut down over SSH (key from a file,
// pinned host key), wait until it stops answering (bounded), then let the cycler cut power.
// Never fatal: a machine that is not running an OS (netbooting, hung) is simply cut.
import { readFile } from 'node:fs/promises'
import { connect as tcpConnect } from 'node:net'
import type { Logger } from '../log.js'
import { pinnedHostKey, sshAlgorithms, sshError } from './ssh-common.js'
import { errorMessage, type GracefulConfig } from './types.js'

export interface GracefulResult {
  ok: boolean
  detail: string
}

export interface GracefulOptions {
  /** how often to probe the SSH port while waiting (default 1000 ms) */
  pollMs?: number
  /** override settle_seconds (tests) */
  settleMs?: number
  signal?: AbortSignal
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** true when something accepts a TCP connection on host:port within timeoutMs */
function answers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host, port })
    const done = (v: boolean) => { sock.destroy(); clearTimeout(t); resolve(v) }
    const t = setTimeout(() => done(false), timeoutMs)
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

async function sendShutdown(cfg: GracefulConfig, key: Buffer, log: Logger): Promise<string> {
  const hostKey = pinnedHostKey(cfg.host_key)
  const { Client } = await import('ssh2') // loaded on first use, not at `bootlab serve` start
  const client = new Client()
  client.on('error', () => {})
  const command = cfg.command ?? 'sudo systemctl poweroff'
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve())
      client.once('error', (err) => reject(sshError(err, cfg.host, hostKey, false)))
      client.connect({
        host: cfg.host, port: cfg.port ?? 22, username: cfg.user, privateKey: key,
        readyTimeout: 10_000, hostVerifier: hostKey.verifier, algorithms: sshAlgorithms(false),
      })
    })
    log.info({ host: cfg.host, command }, 'asking the OS to shut down')
    // the command may never report back: the connection dies with the OS
    return await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => resolve(`sent "${command}"`), 5000)
      client.exec(command, (err, ch) => {
        if (err) { clearTimeout(t); reject(err); return }
        ch.on('data', () => {})
        ch.stderr.on('data', () => {})
        ch.on('exit', (code: number | null) => {
          clearTimeout(t)
          if (typeof code === 'number' && code !== 0) reject(new Error(`"${command}" exited with status ${code}`))
          else resolve(`sent "${command}"`)
        })
        ch.on('close', () => { clearTimeout(t); resolve(`sent "${command}"`) })
      })
    })
  } finally {
    client.end()
  }
}

export async function gracefulShutdown(cfg: GracefulConfig, log: Logger, opts: GracefulOptions = {}): Promise<GracefulResult> {
  const t0 = Date.now()
  let key: Buffer
  try {
    key = await readFile(cfg.key_file)
  } catch (err) {
    return { ok: false, detail: `cannot read key_file ${cfg.key_file}: ${errorMessage(err)}; cutting power without a shutdown` }
  }
  let sent: string
  try {
    sent = await sendShutdown(cfg, key, log)
  } catch (err) {
    return { ok: false, detail: `${errorMessage(err)}; cutting power without a shutdown` }
  }
  const limitMs = (cfg.timeout_seconds ?? 60) * 1000
  const pollMs = opts.pollMs ?? 1000
  const port = cfg.port ?? 22
  while (Date.now() - t0 < limitMs) {
    if (opts.signal?.aborted) return { ok: false, detail: `${sent}; aborted while waiting` }
    if (!(await answers(cfg.host, port, Math.min(pollMs, 2000)))) {
      const stoppedAfter = ((Date.now() - t0) / 1000).toFixed(1)
      await sleep(opts.settleMs ?? (cfg.settle_seconds ?? 5) * 1000)
      return { ok: true, detail: `${sent}; ${cfg.host} stopped answering after ${stoppedAfter} s` }
    }
    await sleep(pollMs)
  }
  return { ok: false, detail: `${sent}; ${cfg.host} still answers after ${limitMs / 1000} s; cutting power anyway` }
}
