// Session slots: who holds one of the server's transfer slots, overall and per client address, and
// which of them are still unacknowledged (the client's address unproven: a spoofed request costs
// the sender one datagram). Unacknowledged slots have their own, much lower caps, and are the ones
// given up to admit a new request when a cap is reached, oldest first.

export interface SlotLimits {
  maxSessions: number
  maxSessionsPerClient: number
  maxPendingSessions: number
  maxPendingPerClient: number
}

export interface Slot {
  readonly key: string
  readonly address: string
  acked: boolean
  /** dropped to make room for a newer request */
  evicted: boolean
  /** ends whatever holds the slot; must release it (called once, on eviction) */
  onEvict: (() => void) | null
  /**
   * whether the client has in fact ACKed already (a native transfer knows before its first-ACK
   * notice reaches the event loop): such a slot is acknowledged instead of evicted
   */
  isAcked?: () => boolean
}

function bump(m: Map<string, number>, k: string, d: number): void {
  const n = (m.get(k) ?? 0) + d
  if (n <= 0) m.delete(k)
  else m.set(k, n)
}

export class SessionSlots {
  private readonly all = new Map<string, Slot>()
  /** unacknowledged, oldest first (Map keeps insertion order) */
  private readonly pending = new Map<string, Slot>()
  private readonly perClient = new Map<string, number>()
  private readonly pendingPerClient = new Map<string, number>()
  evictions = 0

  constructor(private readonly limits: SlotLimits) {}

  get size(): number { return this.all.size }
  get pendingSize(): number { return this.pending.size }
  get(key: string): Slot | undefined { return this.all.get(key) }
  values(): IterableIterator<Slot> { return this.all.values() }

  /**
   * Makes room for one more request from `address`, evicting the oldest unacknowledged slots
   * (of this address when a per-client cap is reached, of anyone for a global cap). False when
   * the caps are reached by acknowledged transfers only: the request is to be refused.
   */
  makeRoom(address: string): boolean {
    const l = this.limits
    for (;;) {
      const perClient = (this.perClient.get(address) ?? 0) >= l.maxSessionsPerClient || (this.pendingPerClient.get(address) ?? 0) >= l.maxPendingPerClient
      const global = this.all.size >= l.maxSessions || this.pending.size >= l.maxPendingSessions
      if (!perClient && !global) return true
      let victim: Slot | undefined
      for (const s of this.pending.values()) {
        if (!perClient || s.address === address) { victim = s; break }
      }
      if (!victim) return false
      if (victim.isAcked?.()) this.acknowledge(victim) // under way: not a candidate any more
      else this.evict(victim)
    }
  }

  /** Takes a slot (unacknowledged) for `key` ("address:port"). */
  hold(key: string, address: string): Slot {
    const slot: Slot = { key, address, acked: false, evicted: false, onEvict: null }
    this.all.set(key, slot)
    this.pending.set(key, slot)
    bump(this.perClient, address, 1)
    bump(this.pendingPerClient, address, 1)
    return slot
  }

  /** The client acknowledged: the slot no longer counts as unacknowledged. */
  acknowledge(slot: Slot): void {
    if (slot.acked || this.all.get(slot.key) !== slot) return
    slot.acked = true
    this.pending.delete(slot.key)
    bump(this.pendingPerClient, slot.address, -1)
  }

  /** Gives the slot back (idempotent). */
  release(slot: Slot): void {
    if (this.all.get(slot.key) !== slot) return
    this.all.delete(slot.key)
    bump(this.perClient, slot.address, -1)
    if (!slot.acked) {
      this.pending.delete(slot.key)
      bump(this.pendingPerClient, slot.address, -1)
    }
  }

  private evict(slot: Slot): void {
    this.evictions++
    slot.evicted = true
    const end = slot.onEvict
    slot.onEvict = null
    end?.()
    this.release(slot)
  }
}
