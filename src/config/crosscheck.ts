// Checks between sections of a config that passed the per-field schema: references exist,
// identities are unique, power ports are allowed, profile files stay inside images/.
import { posix } from 'node:path'
import type { RawConfig } from './schema.js'
import { didYouMean } from './names.js'
import { canonicalPort } from '../net/switch-port.js'
import { segmentProblem } from '../net/jail.js'
import { ipToInt, isIPv4 } from '../net/ipv4.js'
import type { PathSeg } from './locate.js'
import { controlCharPaths, portProblem } from './values.js'

export interface Problem { path: PathSeg[]; message: string; atKey?: boolean; /** reported, but the config is still valid */ warning?: boolean }

/** What load.ts knows of each switch, also of one that failed its schema. */
export interface SwitchInfo { protected: string[]; driver?: string; ports?: Readonly<Record<string, string>> }

type RawMachine = RawConfig['machines'][string]

/**
 * The parts of the file the cross-checks look at. `machines` holds the entries that passed their
 * schema and, for entries that did not, the settings that did (so a protected port is reported
 * together with a bad MAC); `profileNames` every declared profile, valid or not.
 */
export interface CrossInput {
  server: RawConfig['server']
  profiles: RawConfig['profiles']
  profileNames: ReadonlySet<string>
  machines: Readonly<Record<string, Partial<RawMachine>>>
}

const BOOT_KINDS = ['kernel', 'boot', 'chain', 'ipxe'] as const

/** A profile path must be relative and stay inside images/ (URLs are allowed as they are). */
function profilePathProblem(p: string): string | null {
  if (/^https?:\/\//.test(p)) return null
  if (p.includes('\0')) return 'must not contain a NUL byte'
  if (p.includes('\\')) return 'must use "/" as separator'
  if (posix.isAbsolute(p)) return `must be relative to the images folder, not absolute ("${p}")`
  const norm = posix.normalize(p)
  if (norm === '..' || norm.startsWith('../')) return `leaves the images folder ("${p}")`
  // the same rules /files applies when the machine asks for it
  const refused = p.split('/').map(segmentProblem).find((why) => why !== null)
  return refused ? `would be refused by the file server: ${refused} (${JSON.stringify(p)})` : null
}

/** beyond this many problems the checks stop (each later one would only add to a list nobody reads) */
const MAX_PROBLEMS = 200

export function crossCheck(cfg: CrossInput, switchNames: ReadonlyMap<string, SwitchInfo>): Problem[] {
  const out: Problem[] = []
  const profiles = [...cfg.profileNames]
  const isProfile = (name: string): boolean => cfg.profileNames.has(name)

  for (const [name, p] of Object.entries(cfg.profiles)) {
    if (out.length >= MAX_PROBLEMS) break
    const kinds = BOOT_KINDS.filter((k) => p[k] !== undefined)
    if (kinds.length !== 1) {
      out.push({
        path: ['profiles', name], atKey: true,
        message: kinds.length === 0
          ? 'says nothing about how to boot: give it one of kernel, boot: local, chain or ipxe'
          : `has ${kinds.join(' and ')}; a profile boots one way only, keep one of them`,
      })
    }
    if (p.kernel === undefined && (p.initrd.length > 0 || p.cmdline !== undefined)) {
      out.push({ path: ['profiles', name, p.initrd.length > 0 ? 'initrd' : 'cmdline'], atKey: true, message: 'only makes sense together with kernel' })
    }
    if (p.then !== undefined && !isProfile(p.then)) {
      out.push({ path: ['profiles', name, 'then'], message: `no profile named "${p.then}"${didYouMean(p.then, profiles)}` })
    }
    if (p.then === name) out.push({ path: ['profiles', name, 'then'], message: 'names the profile itself' })
    if (p.kernel !== undefined) {
      const why = profilePathProblem(p.kernel)
      if (why) out.push({ path: ['profiles', name, 'kernel'], message: why })
    }
    p.initrd.forEach((f, i) => {
      const why = profilePathProblem(f)
      if (why) out.push({ path: ['profiles', name, 'initrd', i], message: why })
    })
  }

  const seen = { mac: new Map<string, string>(), serial: new Map<string, string>(), ip: new Map<string, string>(), port: new Map<string, string>() }
  for (const [name, m] of Object.entries(cfg.machines)) {
    if (out.length >= MAX_PROBLEMS) break
    if (m.profile !== undefined && !isProfile(m.profile)) {
      out.push({ path: ['machines', name, 'profile'], message: `no profile named "${m.profile}"${didYouMean(m.profile, profiles)}` })
    }
    for (const field of ['mac', 'serial', 'ip'] as const) {
      const v = m[field]
      if (v === undefined) continue
      const other = seen[field].get(v)
      if (other) out.push({ path: ['machines', name, field], message: `${v} is already used by machine "${other}"` })
      else seen[field].set(v, name)
    }
    if (m.serial !== undefined && m.arch !== undefined && m.arch !== 'rpi4' && m.arch !== 'rpi5') {
      out.push({ path: ['machines', name, 'serial'], atKey: true, message: `a serial (TFTP prefix) only applies to Raspberry Pis; set arch: rpi4 (or rpi5) or remove it` })
    }
    if (m.power?.graceful) {
      // host, user and command go to an SSH session on the machine
      for (const path of controlCharPaths(m.power.graceful, ['machines', name, 'power', 'graceful'])) out.push({ path, message: 'must not contain control characters' })
    }
    if (m.power) {
      const sw = switchNames.get(m.power.switch)
      if (!sw) {
        out.push({ path: ['machines', name, 'power', 'switch'], message: `no switch named "${m.power.switch}"${didYouMean(m.power.switch, switchNames.keys())}` })
      } else if (sw.driver !== undefined && portProblem(sw.driver, m.power.port, sw.ports)) {
        out.push({ path: ['machines', name, 'power', 'port'], message: portProblem(sw.driver, m.power.port, sw.ports)! })
      } else {
        const port = canonicalPort(m.power.port)
        if (sw.protected.some((p) => canonicalPort(p) === port)) {
          out.push({ path: ['machines', name, 'power', 'port'], message: `${m.power.port} is a protected port of switch "${m.power.switch}" and is never switched off` })
        }
        const key = `${m.power.switch}/${port}`
        const other = seen.port.get(key)
        if (other) out.push({ path: ['machines', name, 'power', 'port'], message: `${m.power.switch} ${m.power.port} already powers machine "${other}"` })
        else seen.port.set(key, name)
      }
    }
  }

  const s = cfg.server
  if (s.unknown === 'discover' && !isProfile(s.unknown_profile)) {
    if (s.unknown_profile === 'discovery') {
      // the defaults work without it: unknown machines are recorded, and not booted
      out.push({
        path: ['server', 'unknown'], warning: true,
        message: 'no profile "discovery": unknown machines are recorded (discovered) but not booted; add a discovery profile to boot them, or set unknown: ignore to stop recording them',
      })
    } else {
      out.push({ path: ['server', 'unknown_profile'], message: `unknown machines boot profile "${s.unknown_profile}", which does not exist${didYouMean(s.unknown_profile, profiles)}; add it or set unknown: ignore` })
    }
  }
  if (s.dhcp.mode === 'full') {
    if (!s.dhcp.pool) out.push({ path: ['server', 'dhcp', 'mode'], message: 'full mode hands out addresses and needs a pool: (e.g. pool: 192.168.1.100-192.168.1.199)' })
    if (!s.interface) out.push({ path: ['server', 'dhcp', 'mode'], message: 'full mode needs server.interface, the network it serves' })
  }
  if (s.dhcp.pool) {
    const [a, b] = s.dhcp.pool.split('-').map((x) => x.trim())
    const bad = [a, b].find((x) => !isIPv4(x!))
    if (bad) out.push({ path: ['server', 'dhcp', 'pool'], message: `"${bad}" is not an IPv4 address` })
    else if (ipToInt(a!) > ipToInt(b!)) out.push({ path: ['server', 'dhcp', 'pool'], message: `starts after it ends (${a} > ${b})` })
    else if (ipToInt(b!) - ipToInt(a!) > 65535) out.push({ path: ['server', 'dhcp', 'pool'], message: 'is larger than 65536 addresses' })
  }
  return out
}
