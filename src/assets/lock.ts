// One `bootlab fetch` at a time per state folder: two writers on one `.part` would corrupt it.
// The lock file holds the PID; a lock whose process is gone is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { FetchError } from './download.js'

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

export async function withFetchLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, '.fetch.lock')
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err instanceof FetchError ? err : new FetchError(`cannot lock ${file}: ${(err as Error).message}`)
      const pid = Number(readFileSync(file, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new FetchError(`another bootlab fetch (pid ${pid}) is using ${dir}; wait for it to finish`)
      rmSync(file, { force: true })
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(file, { force: true })
  }
}
