// Download progress: a bar on a terminal (cli-progress), plain lines otherwise (logs, journald).
import cliProgress from 'cli-progress'

export interface Progress {
  start(name: string, total: number | null, already: number): void
  update(done: number): void
  stop(): void
}

export interface ProgressOptions {
  /** where progress goes; a bar only when this is a terminal */
  stream?: NodeJS.WriteStream
  /** no output at all */
  quiet?: boolean
}

const MiB = 1024 * 1024
const mib = (n: number): string => (n / MiB).toFixed(1)

/** Plain lines every 10 % (or every 16 MiB when the size is unknown). */
class LineProgress implements Progress {
  private name = ''
  private total: number | null = null
  private lastStep = -1
  constructor(private readonly out: NodeJS.WritableStream) {}
  start(name: string, total: number | null, already: number): void {
    this.name = name
    this.total = total
    this.lastStep = -1
    this.out.write(`fetch: ${name}: ${already > 0 ? `resuming at ${mib(already)} MiB` : 'starting'}${total ? ` (${mib(total)} MiB)` : ''}\n`)
    this.update(already)
  }
  update(done: number): void {
    const step = this.total ? Math.floor((done / this.total) * 10) : Math.floor(done / (16 * MiB))
    if (step <= this.lastStep) return
    this.lastStep = step
    this.out.write(`fetch: ${this.name}: ${this.total ? `${step * 10}% ` : ''}${mib(done)} MiB\n`)
  }
  stop(): void { /* the caller reports the outcome */ }
}

class BarProgress implements Progress {
  private bar: cliProgress.SingleBar
  constructor(stream: NodeJS.WriteStream) {
    this.bar = new cliProgress.SingleBar({
      stream,
      format: '{name} [{bar}] {percentage}% {doneMiB}/{totalMiB} MiB',
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic)
  }
  start(name: string, total: number | null, already: number): void {
    this.bar.start(total ?? already, already, { name, doneMiB: mib(already), totalMiB: total ? mib(total) : '?' })
  }
  update(done: number): void {
    if (done > this.bar.getTotal()) this.bar.setTotal(done)
    this.bar.update(done, { doneMiB: mib(done) })
  }
  stop(): void { this.bar.stop() }
}

class NoProgress implements Progress {
  start(): void { /* quiet */ }
  update(): void { /* quiet */ }
  stop(): void { /* quiet */ }
}

export function createProgress(o: ProgressOptions = {}): Progress {
  if (o.quiet) return new NoProgress()
  const stream = o.stream ?? process.stderr
  return stream.isTTY ? new BarProgress(stream) : new LineProgress(stream)
}
