// Typed events of power control. None of them ever carries a secret.
import { EventEmitter } from 'node:events'
import type { PortStatus } from './types.js'

export type PowerAction = 'cycle' | 'on' | 'off'
export type PowerStep = 'graceful' | 'off' | 'verify_off' | 'wait' | 'on' | 'verify_on' | 'status' | 'manual' | 'recover'

/** what is known about a port after a failure */
export type PortStateAfter = 'on' | 'off' | 'unchanged' | 'unknown'

interface Where {
  machine?: string
  switch: string
  port: string
}

export interface StepEvent extends Where {
  action: PowerAction | 'status' | 'recover'
  step: PowerStep
  ok: boolean
  /** the device's words: commands sent, command output, HTTP status, error text */
  detail: string
  attempt: number
  duration_ms: number
}

export interface StartedEvent extends Where { action: PowerAction; reason: string }
export interface DoneEvent extends Where { action: PowerAction; duration_ms: number; state: PortStatus | null }
export interface FailedEvent extends Where {
  action: PowerAction
  step: PowerStep
  /** one sentence a person can act on */
  reason: string
  port_state: PortStateAfter
  duration_ms: number
}
export interface ManualEvent extends Where { action: PowerAction; message: string }
export interface RecoveredEvent extends Where { ok: boolean; detail: string }

export interface PowerEventMap {
  'power.step': [StepEvent]
  /** emitted for every action: cycle, on and off (see `action`) */
  'power.cycle.started': [StartedEvent]
  'power.cycle.done': [DoneEvent]
  'power.cycle.failed': [FailedEvent]
  /** a manual switch: a person must do it; the machine's lifecycle waits for the netboot */
  'power.manual_required': [ManualEvent]
  /** start-up: a port an interrupted cycle left off was turned back on (or could not be) */
  'power.recovered': [RecoveredEvent]
}

export class PowerEvents extends EventEmitter<PowerEventMap> {}
