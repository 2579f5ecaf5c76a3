// The validated, resolved configuration the rest of bootlab sees. Built by load.ts from the YAML.
import type { RawConfig, RawSwitch, SecretField } from './schema.js'
import type { Secret } from './secret.js'

export interface ConfigIssue {
  file: string
  line: number
  column: number
  /** dotted path of the setting, e.g. "machines.pi-03.power.switch" ("" for the whole file) */
  path: string
  message: string
}

type Raw = RawConfig
type SecretFileKey = `${SecretField}_file`

/** Omit applied to each member of a union (plain Omit would merge the drivers' shapes into one) */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

type CommandRaw = Extract<RawSwitch, { driver: 'command' }>
type ResolvedSwitch<T> = T extends CommandRaw ? Omit<T, 'secrets'> & { secrets: Record<string, Secret> } : T

export type SwitchConfig = ResolvedSwitch<DistributiveOmit<RawSwitch, SecretField | SecretFileKey>> & {
  name: string
} & { [K in SecretField]?: Secret }

export type ServerConfig = Omit<Raw['server'], 'paths' | 'dhcp' | 'state_dir'> & {
  /** absolute */
  state_dir: string
  /** absolute directories */
  paths: { images: string; firmware: string; tftproot: string }
  dhcp: Omit<Raw['server']['dhcp'], 'lease' | 'pool'> & {
    lease_seconds: number
    pool?: { start: string; end: string }
  }
}

export type Profile = Raw['profiles'][string] & { name: string }
export type Machine = Raw['machines'][string] & { name: string }

export interface Config {
  /** absolute path of the YAML file */
  file: string
  server: ServerConfig
  switches: Record<string, SwitchConfig>
  profiles: Record<string, Profile>
  machines: Record<string, Machine>
}

export type LoadResult =
  | { ok: true; config: Config; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] }

export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file
  return i.path ? `${where} ${i.path}: ${i.message}` : `${where} ${i.message}`
}
