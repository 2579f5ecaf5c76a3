// One full garbage collection each time `bootlab serve` falls idle: at start, and after a burst of
// work (boots, a config reload), once the process has used almost no CPU for a whole check period.
// Start-up and a first boot leave several MB of garbage (compiled modules, the config parse) that
// V8 otherwise keeps until its memory reducer gets to it, seconds to minutes later, and an idle
// server shows it as RSS (docs/decisions.md, issue 15). Never while busy: a boot storm keeps the CPU
// above the threshold, so it is not interrupted; the check itself is one cpuUsage() call.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** V8's gc() without --expose-gc on the command line; undefined when this runtime refuses */
function gcFunction(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    setFlagsFromString('--no-expose-gc')
    return typeof gc === 'function' ? (gc as () => void) : undefined
  } catch {
    return undefined
  }
}

export interface IdleGcOptions {
  /** how often CPU use is checked (default 10 s) */
  everyMs?: number
  /** a period with less CPU time than this (user + system) is idle (default 50 ms) */
  idleCpuMs?: number
}

/** collects once now, then once per busy → idle transition; returns stop() */
export function startIdleGc(o: IdleGcOptions = {}): () => void {
  const gc = gcFunction()
  if (!gc) return () => {}
  gc()
  let collected = true
  let last = process.cpuUsage()
  const timer = setInterval(() => {
    const used = process.cpuUsage(last)
    last = process.cpuUsage()
    const idle = (used.user + used.system) / 1000 < (o.idleCpuMs ?? 50)
    if (!idle) collected = false
    else if (!collected) {
      collected = true
      gc()
    }
  }, o.everyMs ?? 10_000)
  timer.unref()
  return () => clearInterval(timer)
}
