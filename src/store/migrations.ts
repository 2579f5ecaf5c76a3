// Numbered schema migrations. Append only: never edit a migration that has shipped.
export interface Migration {
  version: number
  name: string
  sql: string
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'machines, deployments, boot tokens, events, power operations',
    sql: `
      CREATE TABLE deployments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mac TEXT NOT NULL,
        machine TEXT NOT NULL,
        profile TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'superseded')),
        created_at INTEGER NOT NULL,
        finished_at INTEGER
      );
      CREATE INDEX deployments_mac ON deployments(mac, id);

      CREATE TABLE machines (
        mac TEXT PRIMARY KEY,
        name TEXT,
        serial TEXT,
        arch TEXT,
        ip TEXT,
        first_seen INTEGER,
        last_seen INTEGER,
        state TEXT NOT NULL,
        state_reason TEXT,
        state_since INTEGER NOT NULL,
        netboot_step TEXT,
        deployment_id INTEGER REFERENCES deployments(id),
        applied_profile TEXT,
        deployed_at INTEGER
      );
      CREATE INDEX machines_ip ON machines(ip);
      CREATE INDEX machines_serial ON machines(serial);

      CREATE TABLE boot_tokens (
        token_hash TEXT PRIMARY KEY,
        deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        mac TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX boot_tokens_deployment ON boot_tokens(deployment_id);

      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        machine TEXT,
        mac TEXT,
        type TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_machine ON events(machine, id);

      CREATE TABLE power_ops (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        machine TEXT NOT NULL,
        action TEXT NOT NULL,
        requested_at INTEGER NOT NULL,
        finished_at INTEGER,
        outcome TEXT CHECK (outcome IS NULL OR outcome IN ('ok', 'error')),
        error TEXT
      );
    `,
  },
  {
    version: 2,
    name: 'power journal: ports bootlab switched off',
    // IF NOT EXISTS: before this migration the power journal created this same table itself
    sql: `
      CREATE TABLE IF NOT EXISTS power_ports_off (
        switch TEXT NOT NULL,
        port_key TEXT NOT NULL,
        port TEXT NOT NULL,
        machine TEXT,
        reason TEXT NOT NULL CHECK (reason IN ('cycle', 'off')),
        since INTEGER NOT NULL,
        PRIMARY KEY (switch, port_key)
      );
    `,
  },
  {
    version: 3,
    name: 'boot tokens: the address a token is bound to, and when it was first used; events by MAC (pruning)',
    sql: `
      ALTER TABLE boot_tokens ADD COLUMN ip TEXT;
      ALTER TABLE boot_tokens ADD COLUMN used_at INTEGER;
      CREATE INDEX IF NOT EXISTS events_mac ON events(mac, id);
    `,
  },
]
