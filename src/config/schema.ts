// The shape of bootlab.yaml as written by the user (DESIGN §4), as zod schemas.
// Only per-field rules live here; references between sections are checked in crosscheck.ts,
// secrets and paths are resolved in resolve.ts.
import { z } from 'zod'
import { isIPv4, parseCidr } from '../net/ipv4.js'
import { normaliseMac, normaliseSerial, parseDuration } from './names.js'
import { uefiSettingsSchema } from '../uefi/schema.js'

const ipv4 = z.string().refine(isIPv4, { message: 'must be an IPv4 address such as 192.168.1.10' })
const port = z.number().int().min(1).max(65535)
const cidr = z.string().refine((v) => { try { parseCidr(v); return true } catch { return false } }, { message: 'must be a subnet such as 10.20.0.0/16' })
const duration = z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== null, {
  message: 'must be a duration such as 30s, 15m, 12h or 1d',
})
/** `env:NAME` reference to an environment variable; literal secrets do not belong in the YAML */
const secretRef = z.string().regex(/^env:[A-Za-z_][A-Za-z0-9_]*$/, {
  message: 'must be "env:VARIABLE"; put a literal secret in a file and use the matching *_file key',
})
const filePath = z.string().min(1)

export const SECRET_FIELDS = ['password', 'enable_secret', 'community', 'auth_key', 'priv_key', 'token'] as const
export type SecretField = (typeof SECRET_FIELDS)[number]

const powerCommon = {
  off_seconds: z.number().min(0).max(600).default(5),
  timeout_seconds: z.number().min(1).max(600).default(20),
  /** how long to wait, after switching on, for the port to report power delivered */
  on_verify_seconds: z.number().min(0).max(600).default(15),
  protected: z.array(z.string().min(1)).default([]),
}

const ciscoSwitchSchema = z.strictObject({
  driver: z.literal('cisco-ios'),
  host: z.string().min(1),
  port: port.default(22),
  username: z.string().min(1),
  password: secretRef.optional(),
  password_file: filePath.optional(),
  enable_secret: secretRef.optional(),
  enable_secret_file: filePath.optional(),
  host_key: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, { message: 'must be a pinned key fingerprint "SHA256:…" (43 base64 characters), as `ssh-keygen -lf` prints it' }),
  legacy_algorithms: z.boolean().default(false),
  ...powerCommon,
})

const snmpSwitchSchema = z.strictObject({
  driver: z.literal('snmp'),
  host: z.string().min(1),
  port: port.default(161),
  version: z.enum(['2c', '3']).default('2c'),
  community: secretRef.optional(),
  community_file: filePath.optional(),
  username: z.string().optional(),
  auth_protocol: z.enum(['md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512']).optional(),
  auth_key: secretRef.optional(),
  auth_key_file: filePath.optional(),
  priv_protocol: z.enum(['des', 'aes', 'aes256b', 'aes256r']).optional(),
  priv_key: secretRef.optional(),
  priv_key_file: filePath.optional(),
  /** port name → POWER-ETHERNET-MIB index "group.port"; a machine's port may also be given as "group.port" directly */
  ports: z.record(z.string(), z.string().regex(/^\d+\.\d+$/, { message: 'must be "group.port", e.g. "1.3"' })).default({}),
  ...powerCommon,
})

const argv = z.array(z.string()).min(1, { message: 'must name a program and its arguments' })
const commandSwitchSchema = z.strictObject({
  driver: z.literal('command'),
  on: argv,
  off: argv,
  status: argv.optional(),
  status_on_regex: z.string().optional(),
  /** name → "env:VARIABLE" or "file:PATH"; used as {secret:name} in on/off/status and environment */
  secrets: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'a secret name uses letters, digits, _ and -' }),
    z.string().regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/, { message: 'must be "env:VARIABLE" or "file:PATH"' })).default({}),
  /** extra environment variables for the command (values may use {secret:name}) */
  environment: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an environment variable name' }), z.string()).default({}),
  ...powerCommon,
})

const httpRequest = z.strictObject({
  url: z.string().regex(/^https?:\/\//, { message: 'must be an http:// or https:// URL' }),
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
})
const webhookSwitchSchema = z.strictObject({
  driver: z.literal('webhook'),
  on: httpRequest,
  off: httpRequest,
  status: httpRequest.optional(),
  status_on_regex: z.string().optional(),
  status_off_regex: z.string().optional(),
  token: secretRef.optional(),
  token_file: filePath.optional(),
  ca_file: filePath.optional(),
  /** send the token over plain http:// to a host that is not loopback (anyone on the LAN can read it) */
  allow_insecure: z.boolean().default(false),
  ...powerCommon,
})

const manualSwitchSchema = z.strictObject({
  driver: z.literal('manual'),
  ...powerCommon,
})

export const SWITCH_SCHEMAS = {
  'cisco-ios': ciscoSwitchSchema,
  snmp: snmpSwitchSchema,
  command: commandSwitchSchema,
  webhook: webhookSwitchSchema,
  manual: manualSwitchSchema,
} as const
export type SwitchDriver = keyof typeof SWITCH_SCHEMAS
export const SWITCH_DRIVERS = Object.keys(SWITCH_SCHEMAS) as SwitchDriver[]

export const serverSchema = z.strictObject({
  interface: z.string().min(1).optional(),
  advertise: ipv4.optional(),
  http: z.strictObject({
    port: port.default(8080),
    listen: ipv4.default('0.0.0.0'),
    /** status page, event stream and machine details readable without the API token (docs/http.md: a risk) */
    public_read: z.boolean().default(false),
    /** names (besides the advertised/listen address, loopback and the hostname) the status page and API answer to (docs/security.md) */
    hosts: z.array(z.string().min(1).max(253)).max(64).default([]),
  }).prefault({}),
  tftp: z.strictObject({ port: port.default(69), listen: ipv4.default('0.0.0.0') }).prefault({}),
  dhcp: z.strictObject({
    mode: z.enum(['proxy', 'full', 'off']).default('proxy'),
    pool: z.string().regex(/^\s*\d+\.\d+\.\d+\.\d+\s*-\s*\d+\.\d+\.\d+\.\d+\s*$/, { message: 'must be a range "first-last", e.g. 192.168.1.100-192.168.1.199' }).optional(),
    router: ipv4.optional(),
    dns: z.array(ipv4).default([]),
    domain: z.string().optional(),
    lease: duration.default('12h'),
    // protocol limits (docs/security.md "Protocol limits")
    /** full mode: only machines configured with their MAC get addresses */
    known_only: z.boolean().default(false),
    /** relay agents (giaddr) answered, besides the interface's own subnet */
    relays: z.array(cidr).default([]),
    /** full mode: share of the pool that MACs not in the config may hold (offers and leases) */
    unknown_share: z.number().min(0).max(1).default(0.5),
    /** DHCP packets per minute from one MAC / client id (burst: the same number) */
    rate_per_client: z.number().int().min(1).max(100000).default(30),
    /** DHCP packets per minute from everyone together */
    rate_total: z.number().int().min(1).max(1000000).default(6000),
  }).prefault({}),
  unknown: z.enum(['ignore', 'discover']).default('discover'),
  unknown_profile: z.string().default('discovery'),
  /** unconfigured (discovered) machines not seen for this long are forgotten, with their events (docs/security.md) */
  discovered_expire: duration.default('7d'),
  state_dir: z.string().min(1).default('/var/lib/bootlab'),
  paths: z.strictObject({
    images: z.string().optional(),
    firmware: z.string().optional(),
    tftproot: z.string().optional(),
  }).prefault({}),
  api_token_file: filePath.optional(),
})

const stringList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]))

export const profileSchema = z.strictObject({
  description: z.string().optional(),
  kernel: z.string().min(1).optional(),
  initrd: stringList.default([]),
  cmdline: z.string().optional(),
  boot: z.literal('local').optional(),
  chain: z.string().min(1).optional(),
  ipxe: z.string().min(1).optional(),
  grub: z.string().min(1).optional(),
  cloud_init: z.strictObject({
    user_data: filePath.optional(),
    meta_data: filePath.optional(),
    vendor_data: filePath.optional(),
    network_config: filePath.optional(),
  }).optional(),
  then: z.string().optional(),
})

export const ARCHES = ['rpi4', 'rpi5', 'arm64', 'x86_64', 'bios'] as const

export const machineSchema = z.strictObject({
  mac: z.string().refine((v) => normaliseMac(v) !== null, { message: 'must be a MAC address such as dc:a6:32:01:02:03' }).transform((v) => normaliseMac(v)!),
  serial: z.string().refine((v) => normaliseSerial(v) !== null, { message: 'must be the 8 hex digits of the board serial (its TFTP prefix), e.g. 1a2b3c4d' }).transform((v) => normaliseSerial(v)!).optional(),
  arch: z.enum(ARCHES),
  ip: ipv4.optional(),
  profile: z.string().optional(),
  local_boot: z.enum(['exit', 'sanboot', 'grub-chain']).optional(),
  cycle_on_assign: z.boolean().default(true),
  power: z.strictObject({
    switch: z.string().min(1),
    port: z.string().min(1),
    graceful: z.strictObject({
      host: z.string().min(1),
      user: z.string().min(1).default('root'),
      port: port.default(22),
      key_file: filePath,
      host_key: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, { message: 'must be a pinned key fingerprint "SHA256:…"' }),
      command: z.string().default('sudo systemctl poweroff'),
      timeout_seconds: z.number().min(1).max(600).default(60),
      /** extra wait after the OS stopped answering, before PoE is cut */
      settle_seconds: z.number().min(0).max(600).default(5),
    }).optional(),
  }).optional(),
  vars: z.record(z.string(), z.string()).default({}),
  /** pftf UEFI settings written into this machine's own RPI_EFI.fd (docs/uefi.md) */
  uefi: uefiSettingsSchema.optional(),
  /** pin a Raspberry Pi 4 to one pftf firmware version under firmware/rpi4-uefi/ (docs/pi.md) */
  firmware: z.string().regex(/^v?\d+\.\d+$/, { message: 'must be a pftf firmware version such as v1.38' }).optional(),
})

export const rawConfigSchema = z.strictObject({
  server: serverSchema.prefault({}),
  /** validated per driver in load.ts, so that errors name the right fields */
  switches: z.record(z.string(), z.unknown()).default({}),
  profiles: z.record(z.string(), profileSchema).default({}),
  machines: z.record(z.string(), machineSchema).default({}),
})

export type RawConfig = z.output<typeof rawConfigSchema>
export type RawSwitch = z.output<(typeof SWITCH_SCHEMAS)[SwitchDriver]>
