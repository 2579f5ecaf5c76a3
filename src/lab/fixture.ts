// The fixture-runner protocol: how a test, benchmark or lab step runs a server or client process
// inside a lab namespace and talks to it.
//  - the process writes one JSON object per line on stdout; other lines are kept as text
//  - once it serves, it writes {"ready": true, …}; startFixture resolves with that message
//  - it may announce happenings as {"event": "<name>", …}
//  - a command is one line on stdin ("stats"); the answer is a JSON line carrying that key
//  - SIGTERM stops it cleanly (the lab SIGKILLs it by PID at cleanup otherwise)
import { createInterface } from 'node:readline'
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import type { Lab } from './netns.js'

export type Msg = Record<string, unknown>

export interface Fixture {
  child: ChildProcess
  /** the ready message */
  ready: Msg
  /** every JSON message so far, in order */
  messages: Msg[]
  /** stdout lines that were not JSON */
  lines: string[]
  /** the last 2000 characters of stderr */
  stderr(): string
  /** messages {"event": name} (with mac === mac when given) */
  events(name: string, mac?: string): Msg[]
  /** the first message (seen or coming) matching pred; rejects on timeout or exit */
  waitFor(pred: (m: Msg) => boolean, timeoutMs: number, what: string): Promise<Msg>
  /** sends a command line and waits for the next message carrying the command's key */
  command(name: string, timeoutMs?: number): Promise<Msg>
  /** SIGTERM, waits up to 5 s for the exit */
  stop(): Promise<void>
}

export interface FixtureOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** how long to wait for the ready message (default 20 s) */
  readyTimeoutMs?: number
}

/** argv that runs a TypeScript entry point with this Node (tsx loader) */
export function tsxArgv(script: string, ...args: string[]): string[] {
  return [process.execPath, '--import', 'tsx', script, ...args]
}

/** Starts `argv` inside `where` (a lab host or namespace) and resolves when it reports ready. */
export async function startFixture(lab: Lab, where: string, argv: string[], o: FixtureOptions = {}): Promise<Fixture> {
  const spawnOpts: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...o.env } }
  if (o.cwd) spawnOpts.cwd = o.cwd
  const child = lab.spawn(where, argv, spawnOpts)
  const messages: Msg[] = []
  const lines: string[] = []
  const waiters = new Set<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }>()
  let stderr = ''
  child.stderr!.on('data', (d) => { stderr = (stderr + String(d)).slice(-2000) })
  child.stdin!.on('error', () => { /* exited */ })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let m: unknown
    try { m = JSON.parse(line) } catch { m = undefined }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) { lines.push(line); return }
    messages.push(m as Msg)
    for (const w of waiters) if (w.pred(m as Msg)) { waiters.delete(w); w.resolve(m as Msg) }
  })
  const waitFor = (pred: (m: Msg) => boolean, timeoutMs: number, what: string, from = 0): Promise<Msg> => {
    const seen = messages.slice(from).find(pred)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => {
        if (waiters.delete(w)) { clearTimeout(timer); reject(new Error(`fixture exited (${code}) while waiting for ${what}: ${stderr}`)) }
      }
      const w = { pred, resolve: (m: Msg) => { clearTimeout(timer); child.off('exit', onExit); resolve(m) } }
      const timer = setTimeout(() => { waiters.delete(w); child.off('exit', onExit); reject(new Error(`timeout waiting for ${what}; fixture stderr: ${stderr}`)) }, timeoutMs)
      waiters.add(w)
      if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode)
      else child.once('exit', onExit)
    })
  }
  const ready = await waitFor((m) => m.ready === true, o.readyTimeoutMs ?? 20_000, 'fixture ready')
  return {
    child, ready, messages, lines,
    stderr: () => stderr,
    events: (name, mac) => messages.filter((m) => m.event === name && (mac === undefined || m.mac === mac)),
    waitFor: (pred, timeoutMs, what) => waitFor(pred, timeoutMs, what),
    async command(name, timeoutMs = 5000) {
      const from = messages.length
      child.stdin!.write(`${name}\n`)
      return await waitFor((m) => m[name] !== undefined, timeoutMs, name, from)
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
    },
  }
}

/** polls a condition (a client's log file, a port) every 100 ms until it returns a value */
export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
