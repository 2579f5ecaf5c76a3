// Power control: the shapes this module works against. The config module hands over plain,
// validated objects of these shapes (structural typing); nothing here knows YAML or zod.

/** A secret value that never prints itself (the config module's Secret class fits). */
export interface SecretLike {
  reveal(): string
}

interface SwitchCommon {
  /** seconds a port stays off during a cycle (default 5) */
  off_seconds?: number
  /** ports that are never switched (uplinks) */
  protected: string[]
}

export interface CiscoIosSwitch extends SwitchCommon {
  driver: 'cisco-ios'
  host: string
  port?: number
  username: string
  password?: SecretLike
  enable_secret?: SecretLike
  /** pinned host key fingerprint, "SHA256:…" as printed by ssh-keygen -lf */
  host_key: string
  /** offer diffie-hellman-group14/1-sha1, CBC ciphers, hmac-sha1-96 (IOS 12.2/15.x) */
  legacy_algorithms?: boolean
  /** how long to wait for Oper=on after "power inline auto" (default 15) */
  on_verify_seconds?: number
  /** handshake and per-command timeout (default 20) */
  timeout_seconds?: number
}

export interface SnmpSwitch extends SwitchCommon {
  driver: 'snmp'
  host: string
  port?: number
  version: '2c' | '3'
  community?: SecretLike
  username?: string
  auth_protocol?: 'md5' | 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512'
  auth_key?: SecretLike
  priv_protocol?: 'aes' | 'des' | 'aes256b' | 'aes256r'
  priv_key?: SecretLike
  /** port name → "group.port" index into pethPsePortTable; a machine's port may also be "1.3" directly */
  ports?: Record<string, string>
  on_verify_seconds?: number
  timeout_seconds?: number
}

export interface CommandSwitch extends SwitchCommon {
  driver: 'command'
  /** argv, no shell; {port} and {action} are replaced in every element */
  on: string[]
  off: string[]
  status?: string[]
  /** regex searched in the status command's stdout; match = on (default /\bon\b/i) */
  status_on_regex?: string
  timeout_seconds?: number
  /** {secret:name} in argv and environment is replaced by these; never recorded */
  secrets?: Record<string, SecretLike>
  /** extra environment variables for the command */
  environment?: Record<string, string>
}

export interface WebhookRequest {
  url: string
  method?: string
  headers?: Record<string, string>
  body?: string
}

export interface WebhookSwitch extends SwitchCommon {
  driver: 'webhook'
  on: WebhookRequest
  off: WebhookRequest
  status?: WebhookRequest
  /** MAAS defaults: status.*\:.*running / status.*\:.*stopped */
  status_on_regex?: string
  status_off_regex?: string
  /** sent as Authorization: Bearer … */
  token?: SecretLike
  /** extra CA certificate(s) (PEM file) to trust, for self-signed endpoints; verification stays on */
  ca_file?: string
  /** allow the token over plain http:// to a host that is not loopback */
  allow_insecure?: boolean
  timeout_seconds?: number
}

export interface ManualSwitch {
  driver: 'manual'
  protected: string[]
}

export type SwitchConfig = CiscoIosSwitch | SnmpSwitch | CommandSwitch | WebhookSwitch | ManualSwitch

export interface GracefulConfig {
  host: string
  port?: number
  user: string
  key_file: string
  host_key: string
  /** default: sudo systemctl poweroff */
  command?: string
  /** how long to wait for the OS to stop answering (default 60) */
  timeout_seconds?: number
  /** extra wait after it stopped answering, for the OS to finish halting (default 5) */
  settle_seconds?: number
}

export interface MachinePower {
  switch: string
  port: string
  graceful?: GracefulConfig
}

export interface MachineConfig {
  power?: MachinePower
  profile?: string
  cycle_on_assign?: boolean
}

/** The part of the whole configuration power control reads. */
export interface PowerConfig {
  switches: Record<string, SwitchConfig>
  machines: Record<string, MachineConfig>
}

export type PowerState = 'on' | 'off' | 'unknown'

/** What a driver can tell about a port. admin = configured; oper = power actually delivered. */
export interface PortStatus {
  admin: PowerState
  oper: PowerState
  /** the device's own words, e.g. "Admin auto, Oper off" or "DetectionStatus searching(2)" */
  detail: string
}

/** The output a driver records for one operation (command output, HTTP status …), no secrets. */
export interface DriverResult {
  detail: string
}

/**
 * A power driver: one per switch. Calls for one switch are serialised by the cycler, so a
 * driver may keep one session open between calls; release() closes it when the switch is idle.
 */
export interface PowerDriver {
  readonly kind: SwitchConfig['driver']
  on(port: string): Promise<DriverResult>
  off(port: string): Promise<DriverResult>
  /** null when the driver cannot read state (command without status, manual) */
  status(port: string): Promise<PortStatus | null>
  /** close any session (idle, or after an error/timeout so the next call starts fresh) */
  release(): Promise<void>
  /** canonical form of a port name for comparisons (protected lists, locks) */
  canonicalPort(port: string): string
}

export type PowerErrorKind = 'hostkey' | 'auth' | 'rejected' | 'timeout' | 'connect' | 'protocol' | 'config' | 'refused'

/** A failed driver operation. `applied` = the switch may have carried the command out. */
export class PowerError extends Error {
  readonly kind: PowerErrorKind
  readonly retryable: boolean
  readonly applied: boolean
  constructor(kind: PowerErrorKind, message: string, opts: { retryable?: boolean; applied?: boolean } = {}) {
    super(message)
    this.name = 'PowerError'
    this.kind = kind
    this.retryable = opts.retryable ?? (kind === 'timeout' || kind === 'connect' || kind === 'protocol')
    this.applied = opts.applied ?? kind === 'timeout'
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
