// Starts `bootlab serve` as a child process on loopback for tests, and stops it by PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export interface Served {
  child: ChildProcess
  url: string
  output: () => string
  stop: (signal?: NodeJS.Signals) => Promise<{ code: number | null; ms: number }>
}

export async function serve(args: string[], opts: { port: number; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BOOTLAB_LOG_LEVEL: 'debug', ...opts.env },
  })
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { out += d })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const url = `http://127.0.0.1:${opts.port}`
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bootlab serve exited with ${child.exitCode}:\n${out}`)
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      if (r.ok) break
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`bootlab serve did not come up:\n${out}`) }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    child, url, output: () => out,
    async stop(signal = 'SIGTERM') {
      const t0 = Date.now()
      if (child.exitCode === null) child.kill(signal)
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      const code = await exited
      clearTimeout(killer)
      return { code, ms: Date.now() - t0 }
    },
  }
}
