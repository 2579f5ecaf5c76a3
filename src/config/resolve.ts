// Resolves what the YAML only refers to: secrets (files, environment variables) and relative
// paths (relative to the config file's folder). Problems are returned, never thrown.
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path'
import { Secret } from './secret.js'
import { SECRET_FIELDS, type RawConfig, type RawSwitch } from './schema.js'
import type { Config, Machine, Profile, SwitchConfig } from './types.js'
import type { Problem } from './crosscheck.js'
import { parseDuration } from './names.js'

export interface ResolveOptions {
  env: NodeJS.ProcessEnv
  /** read secret files (off for `bootlab check --no-secrets`, never for serve) */
  readSecrets: boolean
}

function readSecret(raw: Record<string, unknown>, field: string, base: string, path: (string | number)[], opts: ResolveOptions, problems: Problem[]): Secret | undefined {
  const ref = raw[field] as string | undefined
  const file = raw[`${field}_file`] as string | undefined
  if (ref !== undefined && file !== undefined) {
    problems.push({ path: [...path, `${field}_file`], atKey: true, message: `give either ${field} or ${field}_file, not both` })
    return undefined
  }
  if (ref !== undefined) {
    const name = ref.slice(4)
    const v = opts.env[name]
    if (v === undefined || v === '') {
      problems.push({ path: [...path, field], message: `environment variable ${name} is not set` })
      return undefined
    }
    return new Secret(v, `env ${name}`)
  }
  if (file !== undefined) {
    const abs = isAbsolute(file) ? file : resolvePath(base, file)
    if (!opts.readSecrets) return new Secret('', `file ${abs}`)
    try {
      return new Secret(readFileSync(abs, 'utf8').replace(/\r?\n$/, ''), `file ${abs}`)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by bootlab' : `cannot be read (${code ?? String(err)})`
      problems.push({ path: [...path, `${field}_file`], message: `${abs} ${why}` })
      return undefined
    }
  }
  return undefined
}

export function resolveSwitch(name: string, sw: RawSwitch, base: string, opts: ResolveOptions, problems: Problem[]): SwitchConfig {
  const raw = sw as unknown as Record<string, unknown>
  const out: Record<string, unknown> = { name }
  for (const [k, v] of Object.entries(raw)) {
    if ((SECRET_FIELDS as readonly string[]).includes(k) || (SECRET_FIELDS as readonly string[]).some((f) => k === `${f}_file`)) continue
    out[k] = v
  }
  for (const field of SECRET_FIELDS) {
    if (raw[field] === undefined && raw[`${field}_file`] === undefined) continue
    const s = readSecret(raw, field, base, ['switches', name], opts, problems)
    if (s) out[field] = s
  }
  if (sw.driver === 'cisco-ios' && raw.password === undefined && raw.password_file === undefined) {
    problems.push({ path: ['switches', name, 'username'], atKey: true, message: 'a cisco-ios switch needs password_file (or password: env:NAME)' })
  }
  if (sw.driver === 'snmp') {
    if (sw.version === '2c' && raw.community === undefined && raw.community_file === undefined) {
      problems.push({ path: ['switches', name, 'version'], atKey: true, message: 'SNMP v2c needs community_file (or community: env:NAME)' })
    }
    if (sw.version === '3' && !sw.username) {
      problems.push({ path: ['switches', name, 'version'], atKey: true, message: 'SNMP v3 needs username (and auth_key_file / priv_key_file for authPriv)' })
    }
  }
  if (sw.driver === 'webhook' && sw.ca_file !== undefined && !isAbsolute(sw.ca_file)) out.ca_file = resolvePath(base, sw.ca_file)
  return out as unknown as SwitchConfig
}

export function resolveConfig(file: string, raw: RawConfig): Config {
  const base = dirname(file)
  const abs = (p: string): string => (isAbsolute(p) ? p : resolvePath(base, p))
  const s = raw.server
  const stateDir = abs(s.state_dir)
  const pool = s.dhcp.pool?.split('-').map((x) => x.trim())
  const { lease, pool: _pool, ...dhcpRest } = s.dhcp
  const server: Config['server'] = {
    ...s,
    state_dir: stateDir,
    paths: {
      images: abs(s.paths.images ?? resolvePath(stateDir, 'images')),
      firmware: abs(s.paths.firmware ?? resolvePath(stateDir, 'firmware')),
      tftproot: abs(s.paths.tftproot ?? resolvePath(stateDir, 'tftproot')),
    },
    dhcp: { ...dhcpRest, lease_seconds: parseDuration(lease)!, ...(pool ? { pool: { start: pool[0]!, end: pool[1]! } } : {}) },
    ...(s.api_token_file ? { api_token_file: abs(s.api_token_file) } : {}),
  }

  const profiles: Record<string, Profile> = {}
  for (const [name, p] of Object.entries(raw.profiles)) {
    const ci = p.cloud_init
    profiles[name] = {
      ...p,
      name,
      ...(ci ? { cloud_init: Object.fromEntries(Object.entries(ci).map(([k, v]) => [k, v === undefined ? v : abs(v)])) } : {}),
    }
  }

  const machines: Record<string, Machine> = {}
  for (const [name, m] of Object.entries(raw.machines)) {
    const g = m.power?.graceful
    machines[name] = {
      ...m,
      name,
      ...(m.power ? { power: { ...m.power, ...(g ? { graceful: { ...g, key_file: abs(g.key_file) } } : {}) } } : {}),
    }
  }

  return { file, server, switches: {}, profiles, machines }
}
