// Assign flow: a changed `profile:` on a machine with `power:` leads to exactly one power cycle.
// Config reload events are debounced per machine (an editor saving three times in a second is
// one assignment); an edit that ends where it started (a → b → a) cycles nothing.
import type { Logger } from '../log.js'
import type { ConfigChange } from '../config/diff.js'
import type { PowerOutcome } from './cycler.js'
import type { MachineConfig } from './types.js'

/** What the config module emits on hot reload. */
export type ConfigChangeEvent = ConfigChange

export interface AssignFlowOptions {
  /** current machine definition (after the reload) */
  machine: (name: string) => MachineConfig | undefined
  cycle: (machine: string, reason: string) => Promise<PowerOutcome>
  log: Logger
  /** quiet time after the last edit before cycling (default 2000 ms) */
  debounceMs?: number
}

/** how long a reload carrying an API assignment counts as its echo */
const API_ECHO_MS = 60_000

interface Pending {
  from: string | undefined
  to: string | undefined
  timer: NodeJS.Timeout
}

export class AssignFlow {
  readonly #opts: AssignFlowOptions
  readonly #debounceMs: number
  readonly #pending = new Map<string, Pending>()
  readonly #running = new Set<Promise<unknown>>()
  /** profiles assigned through the API: the reload that follows (if the API edits the YAML) is not a new assignment */
  readonly #viaApi = new Map<string, { profile: string; at: number }>()

  constructor(opts: AssignFlowOptions) {
    this.#opts = opts
    this.#debounceMs = opts.debounceMs ?? 2000
  }

  /** true when the machine is set up to be cycled on assignment */
  #eligible(name: string): boolean {
    const m = this.#opts.machine(name)
    return m !== undefined && m.power !== undefined && m.cycle_on_assign !== false
  }

  /** Feed every config change event here. */
  handle(ev: ConfigChangeEvent): void {
    if (ev.type === 'machine.removed') {
      this.#cancel(ev.machine)
      return
    }
    if (ev.type !== 'machine.profile_changed') return
    const api = this.#viaApi.get(ev.machine)
    if (api && api.profile === ev.to && Date.now() - api.at < API_ECHO_MS) {
      this.#viaApi.delete(ev.machine)
      return // the API already cycled for this assignment
    }
    const prev = this.#pending.get(ev.machine)
    if (prev) clearTimeout(prev.timer)
    const name = ev.machine
    const timer = setTimeout(() => this.#fire(name), this.#debounceMs)
    this.#pending.set(name, { from: prev ? prev.from : ev.from, to: ev.to, timer })
  }

  #cancel(name: string): void {
    const p = this.#pending.get(name)
    if (p) clearTimeout(p.timer)
    this.#pending.delete(name)
  }

  #fire(name: string): void {
    const p = this.#pending.get(name)
    this.#pending.delete(name)
    if (!p) return
    if (p.to === undefined || p.to === p.from) {
      this.#opts.log.info({ machine: name }, 'profile edits ended where they started; no power cycle')
      return
    }
    if (!this.#eligible(name)) return
    this.#start(name, `profile changed: ${p.from ?? '(none)'} → ${p.to}`)
  }

  #start(name: string, reason: string): Promise<PowerOutcome> {
    const run = this.#opts.cycle(name, reason)
    const tracked = run.catch((err) => { this.#opts.log.error({ machine: name, err }, 'assign cycle failed to start') })
    this.#running.add(tracked)
    void tracked.finally(() => this.#running.delete(tracked))
    return run
  }

  /**
   * An assignment made through the API: cycle now (any pending debounced edit of the same
   * machine is folded into it). null when the machine has no power control or opted out.
   */
  async assignNow(name: string, profile: string): Promise<PowerOutcome | null> {
    this.#cancel(name)
    this.#viaApi.set(name, { profile, at: Date.now() })
    if (!this.#eligible(name)) return null
    return this.#start(name, `profile assigned: ${profile}`)
  }

  /** machines with an edit waiting for its debounce */
  pending(): string[] {
    return [...this.#pending.keys()]
  }

  /** cancel pending edits and wait for cycles already started */
  async stop(): Promise<void> {
    for (const name of [...this.#pending.keys()]) this.#cancel(name)
    await Promise.all(this.#running)
  }
}
