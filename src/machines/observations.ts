// Observations off the protocol hot path: a DHCP, TFTP or HTTP handler only pushes a closure here;
// the queue runs them in batches after the handler returned (setImmediate), so a reply never waits
// for SQLite and a failing write never reaches a protocol. Bounded: when full, new observations are
// dropped and counted. A failing observation is counted and logged (at most one line per 10 s).
import type { Logger } from '../log.js'
import type { Arch } from '../boot/types.js'
import type { DeploymentRow } from '../store/store.js'
import type { DhcpObservation, HttpObservation, PowerEventType, PowerObservation, TftpObservation } from './inputs.js'
import type { Lifecycle } from './lifecycle.js'

export interface ObservationQueueOptions {
  log: Logger
  /** most observations waiting (default 10 000) */
  cap?: number
  /** observations run per turn of the event loop (default 256) */
  batch?: number
}

export interface ObservationStats {
  queued: number
  processed: number
  failed: number
  dropped: number
}

const LOG_EVERY_MS = 10_000

export class ObservationQueue {
  private items: Array<{ what: string; run: () => void }> = []
  private head = 0
  private scheduled = false
  private stopped = false
  private processed = 0
  private failed = 0
  private dropped = 0
  private lastLog = 0
  private suppressed = 0
  private readonly cap: number
  private readonly batch: number

  constructor(private readonly o: ObservationQueueOptions) {
    this.cap = o.cap ?? 10_000
    this.batch = o.batch ?? 256
  }

  /** Queues an observation; false (and counted) when the queue is full or stopped. */
  push(what: string, run: () => void): boolean {
    if (this.stopped || this.length >= this.cap) {
      this.dropped++
      return false
    }
    this.items.push({ what, run })
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.drain())
    }
    return true
  }

  get length(): number {
    return this.items.length - this.head
  }

  stats(): ObservationStats {
    return { queued: this.length, processed: this.processed, failed: this.failed, dropped: this.dropped }
  }

  /** Runs what is queued now (at stop), then refuses more. */
  stop(): void {
    while (this.length > 0) this.runBatch(this.length)
    this.stopped = true
  }

  private drain(): void {
    this.scheduled = false
    this.runBatch(this.batch)
    if (this.length > 0 && !this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.drain())
    }
  }

  private runBatch(n: number): void {
    const end = Math.min(this.items.length, this.head + n)
    for (; this.head < end; this.head++) {
      const item = this.items[this.head]!
      try {
        item.run()
        this.processed++
      } catch (err) {
        this.failed++
        this.report(item.what, err)
      }
    }
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 4096) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }

  private report(what: string, err: unknown): void {
    const now = Date.now()
    if (now - this.lastLog < LOG_EVERY_MS) {
      this.suppressed++
      return
    }
    this.o.log.error({ err: err instanceof Error ? err.message : String(err), observation: what, suppressed: this.suppressed }, 'recording an observation failed (the protocols keep answering)')
    this.lastLog = now
    this.suppressed = 0
  }
}

/** The lifecycle inputs, taken through the queue: what protocol handlers and HTTP routes call. */
export interface Recorder {
  dhcp(o: DhcpObservation): void
  tftp(o: TftpObservation): void
  http(o: HttpObservation): void
  fileServed(o: { ip: string; path: string }): void
  scriptServed(mac: string, profileName: string | undefined, loader: 'ipxe' | 'grub', seen?: { ip?: string | undefined; arch?: Arch | undefined }): void
  phoneHome(dep: DeploymentRow, data: Record<string, string>, ip?: string): void
  reportFailed(dep: DeploymentRow, reason: string): void
  power(type: PowerEventType, e: PowerObservation): void
  /** a generated Pi file went out (e.g. which UEFI settings its RPI_EFI.fd carried) */
  piServed(e: { mac: string; file: string; note: string }): void
}

export function queuedRecorder(queue: ObservationQueue, lifecycle: Lifecycle): Recorder {
  return {
    dhcp: (o) => { queue.push('dhcp', () => lifecycle.onDhcp(o)) },
    tftp: (o) => { queue.push('tftp', () => lifecycle.onTftp(o)) },
    http: (o) => { queue.push('http', () => lifecycle.onHttp(o)) },
    fileServed: (o) => { queue.push('http.file', () => lifecycle.fileServed(o)) },
    scriptServed: (mac, profileName, loader, seen) => { queue.push('http.script', () => lifecycle.scriptServed(mac, profileName, loader, seen)) },
    phoneHome: (dep, data, ip) => { queue.push('phone-home', () => lifecycle.phoneHome(dep, data, ip)) },
    reportFailed: (dep, reason) => { queue.push('failed', () => lifecycle.reportFailed(dep, reason)) },
    power: (type, e) => { queue.push(type, () => lifecycle.onPower(type, e)) },
    piServed: (e) => { queue.push('tftp.generated', () => lifecycle.piServed(e)) },
  }
}
