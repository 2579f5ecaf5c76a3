// What changed between two valid configs, as typed events for the other modules.
import { isDeepStrictEqual } from 'node:util'
import type { Config } from './types.js'
import { Secret } from './secret.js'
import { own } from './own.js'

export type ConfigChange =
  | { type: 'machine.added'; machine: string }
  | { type: 'machine.removed'; machine: string }
  | { type: 'machine.changed'; machine: string; fields: string[] }
  | { type: 'machine.profile_changed'; machine: string; from: string | undefined; to: string | undefined }
  | { type: 'profile.added'; profile: string }
  | { type: 'profile.removed'; profile: string }
  | { type: 'profile.changed'; profile: string }
  | { type: 'switch.added'; switch: string }
  | { type: 'switch.removed'; switch: string }
  | { type: 'switch.changed'; switch: string }
  | { type: 'server.changed'; fields: string[] }

/** equality that compares secrets by value without revealing them */
function same(a: unknown, b: unknown): boolean {
  if (a instanceof Secret || b instanceof Secret) return a instanceof Secret && a.equals(b as Secret)
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    if (ka.length !== kb.length) return false
    return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return isDeepStrictEqual(a, b)
}

function changedFields(a: object, b: object): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].filter((k) => !same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])).sort()
}

function diffNamed<T extends object>(
  prev: Record<string, T>, next: Record<string, T>,
  added: (n: string) => ConfigChange, removed: (n: string) => ConfigChange, changed: (n: string, a: T, b: T) => ConfigChange[],
): ConfigChange[] {
  const out: ConfigChange[] = []
  for (const n of Object.keys(next)) {
    const a = own(prev, n)
    if (!a) out.push(added(n))
    else if (!same(a, next[n])) out.push(...changed(n, a, next[n]!))
  }
  for (const n of Object.keys(prev)) if (!Object.hasOwn(next, n)) out.push(removed(n))
  return out
}

export function diffConfig(prev: Config, next: Config): ConfigChange[] {
  const out: ConfigChange[] = []
  const serverFields = changedFields(prev.server, next.server)
  if (serverFields.length > 0) out.push({ type: 'server.changed', fields: serverFields })
  out.push(...diffNamed(prev.switches, next.switches,
    (n) => ({ type: 'switch.added', switch: n }), (n) => ({ type: 'switch.removed', switch: n }),
    (n) => [{ type: 'switch.changed', switch: n }]))
  out.push(...diffNamed(prev.profiles, next.profiles,
    (n) => ({ type: 'profile.added', profile: n }), (n) => ({ type: 'profile.removed', profile: n }),
    (n) => [{ type: 'profile.changed', profile: n }]))
  out.push(...diffNamed(prev.machines, next.machines,
    (n) => ({ type: 'machine.added', machine: n }), (n) => ({ type: 'machine.removed', machine: n }),
    (n, a, b) => {
      const fields = changedFields(a, b)
      const ev: ConfigChange[] = []
      if (fields.includes('profile')) ev.push({ type: 'machine.profile_changed', machine: n, from: a.profile, to: b.profile })
      const rest = fields.filter((f) => f !== 'profile')
      if (rest.length > 0) ev.push({ type: 'machine.changed', machine: n, fields: rest })
      return ev
    }))
  return out
}
