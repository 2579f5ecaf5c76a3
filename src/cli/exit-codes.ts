// bootlab's exit codes, documented in the README.
export const EXIT = {
  OK: 0,
  /** the configuration is invalid (check, serve) */
  CONFIG: 1,
  /** wrong command-line usage */
  USAGE: 2,
  /** serve could not start (port in use, missing permission, …) */
  START: 3,
  /** a command talking to a running server failed (unreachable, refused) */
  REMOTE: 4,
  /** a power action (on, off, cycle) failed */
  POWER: 5,
  /** a firmware image could not be read, or an edit of its UEFI variables was refused (uefi-vars) */
  FIRMWARE: 6,
  /** the state database is damaged (serve): move it aside, bootlab recreates it (docs/security.md) */
  STATE: 7,
  /** bootlab fetch: a download, verification or unpack failed (nothing was put in place) */
  FETCH: 8,
} as const
