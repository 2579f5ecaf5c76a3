// Crash safety: every port bootlab turns off is written down (synchronously) before the off
// command is sent, and removed once it is back on. At start-up, entries left by an interrupted
// cycle tell which ports to turn back on (SNMP admin state even survives a switch reboot).
import type { Database } from 'better-sqlite3'

export interface OffRecord {
  switch: string
  /** the port as configured (sent to the switch verbatim) */
  port: string
  machine?: string
  /** 'cycle': must come back on; 'off': a person asked for it to stay off */
  reason: 'cycle' | 'off'
  /** ms since epoch */
  since: number
}

export interface PowerJournal {
  recordOff(rec: OffRecord, key: string): void
  clear(sw: string, key: string): void
  list(): OffRecord[]
}

export class SqliteJournal implements PowerJournal {
  readonly #insert
  readonly #delete
  readonly #all

  /** `db` is the state database, migrated by src/store (its table comes from migration 2). */
  constructor(db: Database) {
    this.#insert = db.prepare(`INSERT INTO power_ports_off (switch, port_key, port, machine, reason, since)
      VALUES (@switch, @key, @port, @machine, @reason, @since)
      ON CONFLICT (switch, port_key) DO UPDATE SET port = excluded.port, machine = excluded.machine,
        reason = excluded.reason, since = excluded.since`)
    this.#delete = db.prepare('DELETE FROM power_ports_off WHERE switch = ? AND port_key = ?')
    this.#all = db.prepare('SELECT switch, port, machine, reason, since FROM power_ports_off ORDER BY since')
  }

  recordOff(rec: OffRecord, key: string): void {
    this.#insert.run({ switch: rec.switch, key, port: rec.port, machine: rec.machine ?? null, reason: rec.reason, since: rec.since })
  }

  clear(sw: string, key: string): void {
    this.#delete.run(sw, key)
  }

  list(): OffRecord[] {
    const rows = this.#all.all() as Array<{ switch: string; port: string; machine: string | null; reason: 'cycle' | 'off'; since: number }>
    return rows.map((r) => ({ switch: r.switch, port: r.port, reason: r.reason, since: r.since, ...(r.machine ? { machine: r.machine } : {}) }))
  }
}

/** For tests and one-shot use without a state directory. */
export class MemoryJournal implements PowerJournal {
  readonly #rows = new Map<string, OffRecord>()

  recordOff(rec: OffRecord, key: string): void {
    this.#rows.set(`${rec.switch}\0${key}`, rec)
  }

  clear(sw: string, key: string): void {
    this.#rows.delete(`${sw}\0${key}`)
  }

  list(): OffRecord[] {
    return [...this.#rows.values()].sort((a, b) => a.since - b.since)
  }
}
