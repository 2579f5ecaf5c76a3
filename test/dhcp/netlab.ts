// Running the bootlab DHCP fixture server and DHCP clients inside a test lab's namespaces.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import type { Lab } from '../helpers/netns.js'

const here = dirname(fileURLToPath(import.meta.url))
export const FIXTURES = join(here, 'fixtures')
export const CLIENT_SCRIPT = join(FIXTURES, 'client-script.sh')

export type Msg = Record<string, unknown>

export interface RunningServer {
  child: ChildProcess
  ready: Msg
  messages: Msg[]
  events(name: string, mac?: string): Msg[]
  waitFor(pred: (m: Msg) => boolean, timeoutMs: number, what: string): Promise<Msg>
  stats(): Promise<Msg>
  stop(): Promise<void>
}

export async function startServer(lab: Lab, host: string, opts: Record<string, unknown>, env: Record<string, string> = {}): Promise<RunningServer> {
  const child = lab.spawn(host, [process.execPath, '--import', 'tsx', join(FIXTURES, 'server.ts'), JSON.stringify({ events: true, ...opts })], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  const messages: Msg[] = []
  const waiters = new Set<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }>()
  let stderr = ''
  child.stderr!.on('data', (d) => { stderr += d })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let m: Msg
    try { m = JSON.parse(line) as Msg } catch { return }
    messages.push(m)
    for (const w of waiters) if (w.pred(m)) { waiters.delete(w); w.resolve(m) }
  })
  const waitFor = (pred: (m: Msg) => boolean, timeoutMs: number, what: string): Promise<Msg> => {
    const seen = messages.find(pred)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m: Msg) => { clearTimeout(timer); resolve(m) } }
      const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`timeout waiting for ${what}; server stderr: ${stderr.slice(-2000)}`)) }, timeoutMs)
      waiters.add(w)
      child.once('exit', (code) => { if (waiters.delete(w)) { clearTimeout(timer); reject(new Error(`server exited (${code}) while waiting for ${what}: ${stderr.slice(-2000)}`)) } })
    })
  }
  const ready = await waitFor((m) => m.ready === true, 20000, 'server ready')
  return {
    child,
    ready,
    messages,
    events: (name, mac) => messages.filter((m) => m.event === name && (mac === undefined || m.mac === mac)),
    waitFor,
    async stats() {
      const before = messages.length
      child.stdin!.write('stats\n')
      return await waitFor((m) => m.stats !== undefined && messages.indexOf(m) >= before, 5000, 'stats')
    },
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
    },
  }
}

/** polls a condition (e.g. a client's log file) */
export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** parses the lines client-script.sh writes: "event=bound ip=… mask=…" */
export function parseClientLog(text: string): Array<Record<string, string>> {
  return text.split('\n').filter((l) => l.startsWith('event=')).map((l) => {
    const rec: Record<string, string> = {}
    for (const part of l.split(' ')) {
      const i = part.indexOf('=')
      if (i > 0) rec[part.slice(0, i)] = part.slice(i + 1)
    }
    return rec
  })
}

/**
 * Starts a QEMU guest on a tap in the lab's bridge namespace ("@TAP@" in argv becomes the tap's name).
 * The caller kills it (by PID) in teardown, before the lab's namespaces are deleted.
 */
export async function startGuest(lab: Lab, tapPrefix: string, argv: string[]): Promise<{ child: ChildProcess; tap: string }> {
  const run = promisify(execFile)
  const brNs = `blt-${lab.id}-br`
  const tap = `${tapPrefix}${lab.id}`
  await run('ip', ['-n', brNs, 'tuntap', 'add', 'dev', tap, 'mode', 'tap'])
  await run('ip', ['-n', brNs, 'link', 'set', tap, 'master', 'br0', 'up'])
  const [cmd, ...rest] = argv
  const child = spawn('ip', ['netns', 'exec', brNs, cmd!, ...rest.map((a) => a.replace('@TAP@', tap))], { stdio: 'ignore' })
  return { child, tap }
}
