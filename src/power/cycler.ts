// The cycler composes power actions from driver calls: off → verify off → wait off_seconds →
// on → verify on. One lock per port (a second cycle waits for the first), one driver call per
// switch at a time (a driver keeps one session while the switch has work, so cycles of several
// ports on one switch share it), a timeout and retries with backoff on every step, an event for
// each step, and the journal written before any off command is sent.
import type { Logger } from '../log.js'
import { own } from '../config/own.js'
import { createDriver } from './drivers/index.js'
import { PowerEvents, type PortStateAfter, type PowerAction, type PowerStep, type RecoveredEvent } from './events.js'
import { gracefulShutdown, type GracefulResult } from './graceful.js'
import type { PowerJournal } from './journal.js'
import { PowerError, errorMessage, type GracefulConfig, type PortStatus, type PowerDriver, type SwitchConfig } from './types.js'

export interface PortTarget {
  machine?: string
  switch: string
  port: string
  graceful?: GracefulConfig
}

export interface PowerOutcome {
  ok: boolean
  action: PowerAction
  machine?: string
  switch: string
  port: string
  /** last state read from the switch (null: the driver cannot read state, or nothing was read) */
  state: PortStatus | null
  port_state: PortStateAfter
  reason?: string
  /** a manual switch: a person has been asked to do it */
  manual?: boolean
  duration_ms: number
}

export interface CyclerOptions {
  journal: PowerJournal
  log: Logger
  events?: PowerEvents
  /** extra attempts per step after the first (default 2) */
  retries?: number
  /** wait before the first retry; doubles each time (default 1000 ms) */
  backoffMs?: number
  /** interval between state reads while verifying (default 1000 ms) */
  pollMs?: number
  /** seconds to wait for verify off (default 10) */
  offVerifySeconds?: number
  /** replaceable for tests */
  graceful?: (cfg: GracefulConfig, log: Logger) => Promise<GracefulResult>
  makeDriver?: (sw: SwitchConfig, log: Logger) => PowerDriver | null
}

type Serial = <T>(fn: () => Promise<T>) => Promise<T>

function serial(): Serial {
  let tail: Promise<unknown> = Promise.resolve()
  return <T>(fn: () => Promise<T>) => {
    const run = tail.then(fn)
    tail = run.catch(() => {})
    return run
  }
}

interface Slot {
  name: string
  config: SwitchConfig
  /** null: manual switch */
  driver: PowerDriver | null
  lock: Serial
  /** actions in progress; the driver session is released when it drops to 0 */
  active: number
}

interface Ctx {
  action: PowerAction | 'status' | 'recover'
  t: PortTarget
  slot: Slot
  driver: PowerDriver
  /** a switching command may have been carried out */
  changed: boolean
}

class StepFailure extends Error {
  constructor(readonly step: PowerStep, override readonly cause: PowerError) {
    super(cause.message)
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function asPowerError(err: unknown): PowerError {
  return err instanceof PowerError ? err : new PowerError('protocol', errorMessage(err))
}

function reached(s: PortStatus, want: 'on' | 'off'): boolean {
  return want === 'off' ? s.admin === 'off' && s.oper !== 'on' : s.admin === 'on' && s.oper !== 'off'
}

function timeoutOf(sw: SwitchConfig): number {
  return 'timeout_seconds' in sw && sw.timeout_seconds !== undefined ? sw.timeout_seconds : 20
}

export class PowerCycler {
  readonly events: PowerEvents
  readonly #journal: PowerJournal
  readonly #log: Logger
  readonly #retries: number
  readonly #backoffMs: number
  readonly #pollMs: number
  readonly #offVerifySeconds: number
  readonly #graceful: (cfg: GracefulConfig, log: Logger) => Promise<GracefulResult>
  readonly #makeDriver: (sw: SwitchConfig, log: Logger) => PowerDriver | null
  #slots = new Map<string, Slot>()
  #portLocks = new Map<string, Serial>()

  constructor(opts: CyclerOptions) {
    this.events = opts.events ?? new PowerEvents()
    this.#journal = opts.journal
    this.#log = opts.log
    this.#retries = opts.retries ?? 2
    this.#backoffMs = opts.backoffMs ?? 1000
    this.#pollMs = opts.pollMs ?? 1000
    this.#offVerifySeconds = opts.offVerifySeconds ?? 10
    this.#graceful = opts.graceful ?? ((cfg, log) => gracefulShutdown(cfg, log))
    this.#makeDriver = opts.makeDriver ?? createDriver
  }

  /** (Re)load switch definitions; a switch whose config object changed gets a fresh driver. */
  setSwitches(switches: Record<string, SwitchConfig>): void {
    for (const [name, slot] of this.#slots) {
      if (own(switches, name) !== slot.config) {
        this.#slots.delete(name)
        if (slot.active === 0) void slot.driver?.release()
      }
    }
    for (const [name, config] of Object.entries(switches)) {
      if (this.#slots.has(name)) continue
      this.#slots.set(name, { name, config, driver: this.#makeDriver(config, this.#log.child({ switch: name })), lock: serial(), active: 0 })
    }
  }

  /** canonical port name for the switch (for comparisons); the name itself if the switch is unknown */
  canonicalPort(sw: string, port: string): string {
    return this.#slots.get(sw)?.driver?.canonicalPort(port) ?? port.trim()
  }

  isProtected(sw: string, port: string): boolean {
    const slot = this.#slots.get(sw)
    if (!slot) return false
    const key = this.canonicalPort(sw, port)
    return slot.config.protected.some((p) => this.canonicalPort(sw, p) === key)
  }

  cycle(t: PortTarget, reason: string): Promise<PowerOutcome> {
    return this.#act('cycle', t, reason)
  }

  switchOn(t: PortTarget, reason: string): Promise<PowerOutcome> {
    return this.#act('on', t, reason)
  }

  switchOff(t: PortTarget, reason: string): Promise<PowerOutcome> {
    return this.#act('off', t, reason)
  }

  /** Read a port's state (null: this switch cannot tell). Throws PowerError. */
  async status(t: PortTarget): Promise<PortStatus | null> {
    const slot = this.#slots.get(t.switch)
    if (!slot) throw new PowerError('config', `no switch "${t.switch}" in the configuration`)
    if (!slot.driver) return null
    const ctx: Ctx = { action: 'status', t, slot, driver: slot.driver, changed: false }
    slot.active++
    try {
      return await this.#attempts(ctx, 'status', () => ctx.driver.status(t.port), (s) => s?.detail ?? 'no state available')
    } catch (err) {
      throw err instanceof StepFailure ? err.cause : err
    } finally {
      this.#idle(slot)
    }
  }

  /** Ports in the journal: those left off by an interrupted cycle are turned back on. */
  async recover(): Promise<RecoveredEvent[]> {
    const report: RecoveredEvent[] = []
    for (const rec of this.#journal.list()) {
      const where = { switch: rec.switch, port: rec.port, ...(rec.machine ? { machine: rec.machine } : {}) }
      let ev: RecoveredEvent
      if (rec.reason === 'off') {
        ev = { ...where, ok: true, detail: `left off: switched off on request at ${new Date(rec.since).toISOString()}` }
      } else if (!this.#slots.has(rec.switch)) {
        ev = { ...where, ok: false, detail: `left off by an interrupted cycle, but switch "${rec.switch}" is no longer configured` }
      } else {
        const out = await this.switchOn(where, 'left off by an interrupted cycle')
        ev = { ...where, ok: out.ok, detail: out.ok ? `turned back on (left off by an interrupted cycle at ${new Date(rec.since).toISOString()})` : `could not turn it back on: ${out.reason}` }
      }
      this.events.emit('power.recovered', ev)
      ;(ev.ok ? this.#log.info : this.#log.warn).call(this.#log, { ...ev }, 'power journal recovery')
      report.push(ev)
    }
    return report
  }

  async close(): Promise<void> {
    for (const slot of this.#slots.values()) await slot.driver?.release()
  }

  // --- internals ---

  #portLock(key: string): Serial {
    let l = this.#portLocks.get(key)
    if (!l) { l = serial(); this.#portLocks.set(key, l) }
    return l
  }

  #idle(slot: Slot): void {
    slot.active--
    if (slot.active === 0) void slot.driver?.release()
  }

  async #act(action: PowerAction, t: PortTarget, reason: string): Promise<PowerOutcome> {
    const t0 = Date.now()
    const where = { switch: t.switch, port: t.port, ...(t.machine ? { machine: t.machine } : {}) }
    const fail = (step: PowerStep, why: string, port_state: PortStateAfter, state: PortStatus | null = null): PowerOutcome => {
      const duration_ms = Date.now() - t0
      this.events.emit('power.cycle.failed', { ...where, action, step, reason: why, port_state, duration_ms })
      this.#log.warn({ ...where, action, step, port_state }, `power ${action} failed: ${why}`)
      return { ok: false, action, ...where, state, port_state, reason: why, duration_ms }
    }
    const slot = this.#slots.get(t.switch)
    const first: PowerStep = action === 'on' ? 'on' : 'off'
    if (!slot) return fail(first, `no switch "${t.switch}" in the configuration`, 'unchanged')
    if (this.isProtected(t.switch, t.port)) return fail(first, `port ${t.port} on ${t.switch} is protected; refusing to switch it`, 'unchanged')

    const key = `${t.switch}\0${this.canonicalPort(t.switch, t.port)}`
    return this.#portLock(key)(async () => {
      this.events.emit('power.cycle.started', { ...where, action, reason })
      if (!slot.driver) {
        const message = `power-${action === 'cycle' ? 'cycle' : action} ${t.machine ?? t.port} by hand (switch ${t.switch} is manual)`
        this.events.emit('power.manual_required', { ...where, action, message })
        this.#emitStep({ action, t }, 'manual', true, message, 1, t0)
        return { ok: true, action, ...where, state: null, port_state: 'unknown', manual: true, duration_ms: Date.now() - t0 }
      }
      const ctx: Ctx = { action, t, slot, driver: slot.driver, changed: false }
      const portKey = this.canonicalPort(t.switch, t.port)
      slot.active++
      try {
        let state: PortStatus | null = null
        if (action !== 'on') {
          if (t.graceful) await this.#gracefulStep(ctx)
          this.#journal.recordOff({ ...where, reason: action === 'cycle' ? 'cycle' : 'off', since: Date.now() }, portKey)
          try {
            await this.#attempts(ctx, 'off', () => ctx.driver.off(t.port), (r) => r.detail, true)
          } finally {
            if (!ctx.changed) this.#journal.clear(t.switch, portKey)
          }
          state = await this.#verify(ctx, 'verify_off', 'off', this.#offVerifySeconds)
        }
        if (action === 'cycle') {
          const offMs = ('off_seconds' in slot.config ? slot.config.off_seconds ?? 5 : 5) * 1000
          const w0 = Date.now()
          await sleep(offMs)
          this.#emitStep(ctx, 'wait', true, `off for ${offMs / 1000} s`, 1, w0)
        }
        if (action !== 'off') {
          await this.#attempts(ctx, 'on', () => ctx.driver.on(t.port), (r) => r.detail, true)
          this.#journal.clear(t.switch, portKey)
          const onSeconds = 'on_verify_seconds' in slot.config ? slot.config.on_verify_seconds ?? 15 : 15
          state = await this.#verify(ctx, 'verify_on', 'on', onSeconds)
        }
        const duration_ms = Date.now() - t0
        this.events.emit('power.cycle.done', { ...where, action, duration_ms, state })
        this.#log.info({ ...where, action, duration_ms }, `power ${action} done`)
        return { ok: true, action, ...where, state, port_state: state ? (state.admin === 'off' ? 'off' : 'on') : action === 'off' ? 'off' : 'on', duration_ms }
      } catch (err) {
        const f = err instanceof StepFailure ? err : new StepFailure(first, asPowerError(err))
        const known = ctx.changed ? await this.#finalState(ctx) : null
        const portState: PortStateAfter = !ctx.changed ? 'unchanged' : known && known.admin !== 'unknown' ? known.admin : 'unknown'
        return fail(f.step, f.cause.message, portState, known)
      } finally {
        this.#idle(slot)
      }
    })
  }

  #emitStep(ctx: Pick<Ctx, 'action' | 't'>, step: PowerStep, ok: boolean, detail: string, attempt: number, t0: number): void {
    const { t } = ctx
    this.events.emit('power.step', {
      ...(t.machine ? { machine: t.machine } : {}), switch: t.switch, port: t.port,
      action: ctx.action, step, ok, detail, attempt, duration_ms: Date.now() - t0,
    })
  }

  /** One driver call under the switch lock, bounded by a timeout; a hung session is dropped. */
  async #call<T>(ctx: Ctx, fn: () => Promise<T>): Promise<T> {
    const limitMs = timeoutOf(ctx.slot.config) * 1000 * 2 + 1000
    return ctx.slot.lock(async () => {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          void ctx.driver.release()
          reject(new PowerError('timeout', `${ctx.slot.name} did not complete the call within ${limitMs / 1000} s`))
        }, limitMs)
      })
      try {
        return await Promise.race([fn(), timeout])
      } finally {
        clearTimeout(timer)
      }
    })
  }

  async #attempts<T>(ctx: Ctx, step: PowerStep, fn: () => Promise<T>, describe: (r: T) => string, switching = false): Promise<T> {
    const max = this.#retries + 1
    for (let attempt = 1; ; attempt++) {
      const t0 = Date.now()
      try {
        const r = await this.#call(ctx, fn)
        if (switching) ctx.changed = true
        this.#emitStep(ctx, step, true, describe(r), attempt, t0)
        return r
      } catch (err) {
        const e = asPowerError(err)
        if (switching && e.applied) ctx.changed = true
        const last = !e.retryable || attempt >= max
        this.#emitStep(ctx, step, false, e.message + (last ? '' : '; retrying'), attempt, t0)
        if (last) throw new StepFailure(step, e)
        await sleep(this.#backoffMs * 2 ** (attempt - 1))
      }
    }
  }

  /** Poll the port's state until it reaches `want` or the time is up. */
  async #verify(ctx: Ctx, step: 'verify_off' | 'verify_on', want: 'on' | 'off', seconds: number): Promise<PortStatus | null> {
    const t0 = Date.now()
    const deadline = t0 + seconds * 1000
    let last: PortStatus | null = null
    let lastErr: PowerError | null = null
    for (let poll = 1; ; poll++) {
      try {
        last = await this.#call(ctx, () => ctx.driver.status(ctx.t.port))
        if (last === null) {
          this.#emitStep(ctx, step, true, 'this switch cannot report port state; not verified', poll, t0)
          return null
        }
        if (reached(last, want)) {
          this.#emitStep(ctx, step, true, last.detail, poll, t0)
          return last
        }
      } catch (err) {
        lastErr = asPowerError(err)
        if (!lastErr.retryable) {
          this.#emitStep(ctx, step, false, lastErr.message, poll, t0)
          throw new StepFailure(step, lastErr)
        }
      }
      if (Date.now() >= deadline) {
        let why: string
        if (last && want === 'on' && last.admin === 'on') why = `PoE is enabled but no powered device was detected within ${seconds} s (${last.detail})`
        else if (last) why = `port did not turn ${want} within ${seconds} s (${last.detail})`
        else why = `could not read the port state within ${seconds} s: ${lastErr?.message ?? 'no answer'}`
        this.#emitStep(ctx, step, false, why, poll, t0)
        throw new StepFailure(step, new PowerError('timeout', why))
      }
      await sleep(this.#pollMs)
    }
  }

  async #gracefulStep(ctx: Ctx): Promise<void> {
    const t0 = Date.now()
    const r = await this.#graceful(ctx.t.graceful!, this.#log.child({ machine: ctx.t.machine }))
    this.#emitStep(ctx, 'graceful', r.ok, r.detail, 1, t0)
  }

  /** After a failure: one best-effort state read so the failure says where the port stands. */
  async #finalState(ctx: Ctx): Promise<PortStatus | null> {
    try {
      return await this.#call(ctx, () => ctx.driver.status(ctx.t.port))
    } catch {
      return null
    }
  }
}
