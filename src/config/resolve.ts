// Resolves what the YAML only refers to: secrets (files, environment variables) and relative
// paths (relative to the config file's folder). Problems are returned, never thrown.
import { readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path'
import { Secret } from './secret.js'
import { SECRET_FIELDS, type RawConfig, type RawSwitch } from './schema.js'
import type { Config, Machine, Profile, SwitchConfig } from './types.js'
import type { Problem } from './crosscheck.js'
import type { PathSeg } from './locate.js'
import { parseDuration } from './names.js'
import { nameMap } from './own.js'
import { isLoopbackHost } from '../net/loopback.js'

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
  if (ref !== undefined) return secretFromEnv(ref.slice(4), [...path, field], opts, problems)
  if (file !== undefined) return secretFromFile(file, base, [...path, `${field}_file`], opts, problems)
  return undefined
}

function secretFromEnv(name: string, path: PathSeg[], opts: ResolveOptions, problems: Problem[]): Secret | undefined {
  const v = opts.env[name]
  if (v === undefined || v === '') {
    problems.push({ path, message: `environment variable ${name} is not set` })
    return undefined
  }
  return new Secret(v, `env ${name}`)
}

function secretFromFile(file: string, base: string, path: PathSeg[], opts: ResolveOptions, problems: Problem[]): Secret | undefined {
  const abs = isAbsolute(file) ? file : resolvePath(base, file)
  if (!opts.readSecrets) return new Secret('', `file ${abs}`)
  const access = secretFileProblem(abs)
  if (access) {
    problems.push({ path, ...access })
    if (!access.warning) return undefined
  }
  try {
    return new Secret(readFileSync(abs, 'utf8').replace(/\r?\n$/, ''), `file ${abs}`)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by bootlab' : `cannot be read (${code ?? String(err)})`
    problems.push({ path, message: `${abs} ${why}` })
    return undefined
  }
}

const SECRET_PLACEHOLDER = /\{secret:([^}]*)\}/g

/**
 * A command switch's `secrets:` ("env:VAR" or "file:PATH"), for {secret:NAME} in its argv and
 * environment; every {secret:NAME} used must be defined.
 */
function commandSecrets(name: string, sw: Extract<RawSwitch, { driver: 'command' }>, base: string, opts: ResolveOptions, problems: Problem[]): Record<string, Secret> {
  const out = nameMap<Secret>()
  for (const [key, ref] of Object.entries(sw.secrets)) {
    const path = ['switches', name, 'secrets', key]
    const s = ref.startsWith('env:') ? secretFromEnv(ref.slice(4), path, opts, problems) : secretFromFile(ref.slice(5), base, path, opts, problems)
    if (s) out[key] = s
  }
  const uses: Array<[PathSeg[], string]> = [
    ...(['on', 'off', 'status'] as const).flatMap((k) => (sw[k] ?? []).map((a, i): [PathSeg[], string] => [['switches', name, k, i], a])),
    ...Object.entries(sw.environment).map(([k, v]): [PathSeg[], string] => [['switches', name, 'environment', k], v]),
  ]
  for (const [path, text] of uses) {
    for (const m of text.matchAll(SECRET_PLACEHOLDER)) {
      if (!Object.hasOwn(sw.secrets, m[1]!)) problems.push({ path, message: `{secret:${m[1]!}} is not defined under secrets:` })
    }
  }
  return out
}

/**
 * Who else can touch a secret file. World-writable is refused (anyone could swap the secret).
 * Warnings: readable by every user; group bits for a group bootlab is not in (root:bootlab 0640,
 * the documented set-up, is fine); owned by a user other than bootlab's or root. Never reads the content.
 */
export function secretFileProblem(abs: string): { message: string; warning?: boolean } | null {
  let st
  try {
    st = statSync(abs)
  } catch {
    return null // reading it reports why
  }
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
  if (st.mode & 0o002) return { message: `${abs} is writable by every user (mode ${mode}); bootlab refuses it: chmod 600 ${abs}` }
  if (st.mode & 0o004) return { warning: true, message: `${abs} is readable by other users (mode ${mode}); chmod 600 ${abs} (or 640 with group bootlab)` }
  const groups = new Set([process.getgid?.(), process.getegid?.(), ...(process.getgroups?.() ?? [])])
  if (st.mode & 0o060 && !groups.has(st.gid)) return { warning: true, message: `${abs} is open to group ${st.gid} (mode ${mode}), a group bootlab is not in; chmod 600 ${abs}` }
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) return { warning: true, message: `${abs} belongs to uid ${st.uid}, not to the user bootlab runs as (uid ${uid}) or root; chown it` }
  return null
}

/** A webhook token must not cross the LAN in clear: http:// only to loopback, unless allow_insecure. */
function webhookTransportProblems(name: string, sw: Extract<RawSwitch, { driver: 'webhook' }>, problems: Problem[]): void {
  if (sw.token === undefined && sw.token_file === undefined) return
  if (sw.allow_insecure) return
  for (const key of ['on', 'off', 'status'] as const) {
    const req = sw[key]
    if (!req) continue
    let url: URL
    try {
      url = new URL(req.url.replaceAll('{port}', 'port').replaceAll('{action}', 'action'))
    } catch {
      continue
    }
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      problems.push({ path: ['switches', name, key, 'url'], message: `would send the token over plain http to ${url.hostname}, where anyone on the network can read it; use https:// (ca_file for a self-signed certificate), or set allow_insecure: true to accept that` })
    }
  }
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
  if (sw.driver === 'webhook') webhookTransportProblems(name, sw, problems)
  if (sw.driver === 'command') out.secrets = commandSecrets(name, sw, base, opts, problems)
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

  const profiles = nameMap<Profile>()
  for (const [name, p] of Object.entries(raw.profiles)) {
    const ci = p.cloud_init
    profiles[name] = {
      ...p,
      name,
      ...(ci ? { cloud_init: Object.fromEntries(Object.entries(ci).map(([k, v]) => [k, v === undefined ? v : abs(v)])) } : {}),
    }
  }

  const machines = nameMap<Machine>()
  for (const [name, m] of Object.entries(raw.machines)) {
    const g = m.power?.graceful
    machines[name] = {
      ...m,
      name,
      ...(m.power ? { power: { ...m.power, ...(g ? { graceful: { ...g, key_file: abs(g.key_file) } } : {}) } } : {}),
    }
  }

  return { file, server, switches: nameMap<SwitchConfig>(), profiles, machines }
}
