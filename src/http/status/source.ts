// What the status page, the event stream and `bootlab status --watch` read: one narrow interface,
// so the page does not depend on how src/machines is built inside. `statusSourceFrom` adapts the
// machine service, the config source and the power control to it (wired in src/http/routes.ts).
import { EventEmitter } from 'node:events'
import type { EventRow } from '../../store/store.js'
import type { MachineView } from '../../machines/lifecycle.js'
import type { Config } from '../../boot/types.js'
import type { ConfigIssue } from '../../config/types.js'

export type { EventRow as StatusEvent } from '../../store/store.js'
export type { MachineView } from '../../machines/lifecycle.js'

export type PowerState = 'on' | 'off' | 'unknown'

export interface ConfigView {
  ok: boolean
  file: string
  loaded_at: string
  rejected_at?: string
  errors: ConfigIssue[]
  warnings: ConfigIssue[]
}

export interface ServerView {
  version: string
  started: number
  dhcp: { mode: string; interface: string | null }
}

export interface StatusSource {
  machines(): MachineView[]
  machine(nameOrMac: string): MachineView | undefined
  /** newest first, like the store; `afterId` for replay */
  events(q: { machine?: string; limit?: number; afterId?: number }): EventRow[]
  /** every lifecycle, power and config event as it is recorded; returns the unsubscribe function */
  subscribe(fn: (e: EventRow) => void): () => void
  config(): ConfigView
  server(): ServerView
  profiles(): string[]
  /** the machine has a power: section, power control is configured and its port is not protected */
  powerControl(name: string): boolean
  /** last known state of the machine's port, from the recorded power events (no switch session) */
  powerState(machine: MachineView): PowerState | null
  /** forgets a discovered (not configured) machine; false when there is no such machine */
  forget(mac: string): boolean
}

/** The config loader as the status source needs it (src/config/watch.ts ConfigSource). */
export interface ConfigFeed {
  readonly status: ConfigView
  on(ev: 'applied', fn: (config: unknown, changes: unknown[]) => void): unknown
  on(ev: 'rejected', fn: (errors: ConfigIssue[]) => void): unknown
}

/** The machine service as the status source needs it (src/machines/service.ts MachineService). */
export interface MachineFeed {
  lifecycle: {
    list(): MachineView[]
    get(nameOrMac: string): MachineView | undefined
    events(q: { machine?: string; limit?: number; afterId?: number }): EventRow[]
    bus: { on(ev: 'event', fn: (e: EventRow) => void): unknown; off(ev: 'event', fn: (e: EventRow) => void): unknown }
  }
  store: {
    addEvent(e: { machine?: string | null; mac?: string | null; type: string; data?: Record<string, unknown> }): EventRow
    deleteMachine(mac: string): void
    tx<T>(fn: () => T): T
  }
}

export interface StatusSourceOptions {
  machines: MachineFeed
  getConfig: () => Config
  config?: ConfigFeed
  server: ServerView
  /** from src/power: has power and the port is not protected */
  powerControl?: (name: string) => boolean
}

const SECRET_PATH = /password|secret|community|token|passphrase|auth|key/i

/** Config errors as shown on the page: a value quoted in the message is hidden under secret-looking settings. */
export function shownIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((i) => (SECRET_PATH.test(i.path) ? { ...i, message: i.message.replace(/"[^"]*"/g, '"…"') } : i))
}

export function statusSourceFrom(o: StatusSourceOptions): StatusSource {
  const { lifecycle, store } = o.machines
  const local = new EventEmitter<{ event: [EventRow] }>()
  local.setMaxListeners(0)
  const emit = (e: EventRow): void => { local.emit('event', e) }
  lifecycle.bus.on('event', emit)
  // config events are kept with the machine events, so they get row ids and replay like the rest
  o.config?.on('applied', (_c, changes) => emit(store.addEvent({ type: 'config.applied', data: { changes: changes.length } })))
  o.config?.on('rejected', (errors) => emit(store.addEvent({
    type: 'config.rejected',
    data: { errors: shownIssues(errors).map((e) => ({ file: e.file, line: e.line, column: e.column, path: e.path, message: e.message })) },
  })))

  return {
    machines: () => lifecycle.list(),
    machine: (n) => lifecycle.get(n),
    events: (q) => lifecycle.events(q),
    subscribe(fn) {
      local.on('event', fn)
      return () => { local.off('event', fn) }
    },
    config() {
      const s = o.config?.status
      if (!s) return { ok: true, file: '', loaded_at: new Date(o.server.started).toISOString(), errors: [], warnings: [] }
      return { ok: s.ok, file: s.file, loaded_at: s.loaded_at, ...(s.rejected_at ? { rejected_at: s.rejected_at } : {}), errors: shownIssues(s.errors), warnings: shownIssues(s.warnings) }
    },
    server: () => o.server,
    profiles: () => Object.keys(o.getConfig().profiles).sort(),
    powerControl: (name) => o.getConfig().machines[name]?.power !== undefined && (o.powerControl?.(name) ?? false),
    powerState(m) {
      if (!m.power || !m.name) return null
      for (const e of lifecycle.events({ machine: m.name, limit: 200 })) {
        if (e.type === 'power.done') return e.data.action === 'off' ? 'off' : 'on'
        if (e.type === 'power.failed') {
          const after = e.data.port_state
          return after === 'on' || after === 'off' ? after : 'unknown'
        }
      }
      return 'unknown'
    },
    forget(mac) {
      const m = lifecycle.get(mac)
      if (!m || m.configured || m.mac !== mac) return false
      const ev = store.tx(() => {
        store.deleteMachine(mac)
        return store.addEvent({ machine: mac, mac, type: 'forgotten', data: {} })
      })
      emit(ev)
      return true
    },
  }
}
