// The one place machine events are published: the lifecycle emits every recorded event (after its
// transaction committed) and the new view of the machine it touched. The status page (SSE), metrics
// and tests subscribe here.
import { EventEmitter } from 'node:events'
import type { EventRow } from '../store/store.js'
import type { MachineView } from './views.js'

export interface BusEvents {
  event: [EventRow]
  machine: [MachineView]
}

export class MachineBus extends EventEmitter<BusEvents> {
  constructor() {
    super()
    this.setMaxListeners(100)
  }
}
