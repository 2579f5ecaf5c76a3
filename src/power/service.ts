// PowerService: the one object the composition root wires. Machine names in, power actions out.
// Only ports bound to a machine in the configuration are ever switched; protected ports never.
import type { Logger } from '../log.js'
import { own } from '../config/own.js'
import { AssignFlow, type ConfigChangeEvent } from './assign.js'
import { PowerCycler, type CyclerOptions, type PortTarget, type PowerOutcome } from './cycler.js'
import { PowerEvents, type RecoveredEvent } from './events.js'
import type { PowerJournal } from './journal.js'
import { PowerError, type PortStatus, type PowerConfig } from './types.js'

export interface PowerServiceOptions {
  config: PowerConfig
  journal: PowerJournal
  log: Logger
  events?: PowerEvents
  /** cycler tuning (retries, backoff, poll interval); mostly for tests */
  cycler?: Omit<CyclerOptions, 'journal' | 'log' | 'events'>
  /** debounce of profile edits before the assign cycle (default 2000 ms) */
  assignDebounceMs?: number
}

export interface PortReport {
  machine: string
  switch: string
  port: string
  driver: string
  /** null: this switch cannot report state (manual, command without status, webhook without status) */
  state: PortStatus | null
  /** set when bootlab has this port recorded as switched off */
  off_since?: string
  off_reason?: 'cycle' | 'off'
}

export class PowerService {
  readonly name = 'power'
  readonly events: PowerEvents
  readonly #cycler: PowerCycler
  readonly #assign: AssignFlow
  readonly #journal: PowerJournal
  #config: PowerConfig

  constructor(opts: PowerServiceOptions) {
    this.events = opts.events ?? new PowerEvents()
    this.#config = opts.config
    this.#journal = opts.journal
    this.#cycler = new PowerCycler({ ...opts.cycler, journal: opts.journal, log: opts.log, events: this.events })
    this.#cycler.setSwitches(opts.config.switches)
    this.#assign = new AssignFlow({
      machine: (name) => own(this.#config.machines, name),
      cycle: (name, reason) => this.cycle(name, reason),
      log: opts.log,
      ...(opts.assignDebounceMs !== undefined ? { debounceMs: opts.assignDebounceMs } : {}),
    })
  }

  /** Turn back on the ports an interrupted cycle left off; returns what was done. */
  async start(): Promise<RecoveredEvent[]> {
    return this.#cycler.recover()
  }

  async stop(): Promise<void> {
    await this.#assign.stop()
    await this.#cycler.close()
  }

  /** A reloaded configuration (call before feeding its change events to onConfigChange). */
  updateConfig(config: PowerConfig): void {
    this.#config = config
    this.#cycler.setSwitches(config.switches)
  }

  /** Config hot-reload events: machine.profile_changed leads to one debounced cycle. */
  onConfigChange(ev: ConfigChangeEvent): void {
    this.#assign.handle(ev)
  }

  /** The API assigned a profile: cycle now. null when the machine has no power: or cycle_on_assign is false. */
  assigned(machine: string, profile: string): Promise<PowerOutcome | null> {
    return this.#assign.assignNow(machine, profile)
  }

  /** Resolve a machine to its port; refuses machines without power:, unknown switches, protected ports. */
  target(machine: string): PortTarget {
    const m = own(this.#config.machines, machine)
    if (!m) throw new PowerError('config', `no machine "${machine}" in the configuration`)
    if (!m.power) throw new PowerError('config', `machine "${machine}" has no power: section`)
    const sw = own(this.#config.switches, m.power.switch)
    if (!sw) throw new PowerError('config', `machine "${machine}" uses switch "${m.power.switch}", which is not in the configuration`)
    if (this.#cycler.isProtected(m.power.switch, m.power.port)) {
      throw new PowerError('refused', `port ${m.power.port} on ${m.power.switch} is protected; refusing to switch it`)
    }
    return { machine, switch: m.power.switch, port: m.power.port, ...(m.power.graceful ? { graceful: m.power.graceful } : {}) }
  }

  async cycle(machine: string, reason = 'requested'): Promise<PowerOutcome> {
    return this.#cycler.cycle(this.target(machine), reason)
  }

  async on(machine: string, reason = 'requested'): Promise<PowerOutcome> {
    return this.#cycler.switchOn(this.target(machine), reason)
  }

  async off(machine: string, reason = 'requested'): Promise<PowerOutcome> {
    return this.#cycler.switchOff(this.target(machine), reason)
  }

  async status(machine: string): Promise<PortReport> {
    const t = this.target(machine)
    const state = await this.#cycler.status(t)
    const key = this.#cycler.canonicalPort(t.switch, t.port)
    const rec = this.#journal.list().find((r) => r.switch === t.switch && this.#cycler.canonicalPort(r.switch, r.port) === key)
    return {
      machine, switch: t.switch, port: t.port, driver: own(this.#config.switches, t.switch)!.driver, state,
      ...(rec ? { off_since: new Date(rec.since).toISOString(), off_reason: rec.reason } : {}),
    }
  }
}
