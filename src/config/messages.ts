// Turns zod's validation issues into sentences a person understands, with "did you mean".
import type { z } from 'zod'
import { didYouMean } from './names.js'

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'an empty value'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `the text "${value.length > 40 ? value.slice(0, 40) + '…' : value}"`
  return `${typeof value} ${String(value)}`
}

const TYPE_WORDS: Record<string, string> = {
  string: 'text', number: 'a number', boolean: 'true or false', object: 'a mapping (key: value lines)',
  array: 'a list', record: 'a mapping (key: value lines)',
}

export interface Explained {
  /** path relative to the schema root */
  path: (string | number)[]
  message: string
  /** point at the key rather than its value */
  atKey?: boolean
}

/** One zod issue → one or more explained problems (unknown keys produce one each). */
export function explain(issue: z.core.$ZodIssue, input: unknown, knownKeys: (path: PropertyKey[]) => string[]): Explained[] {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)) as (string | number)[]
  const valueAt = path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined), input)
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(issue.path)
      return issue.keys.map((k) => ({
        path: [...path, k],
        atKey: true,
        message: `unknown setting "${k}"${didYouMean(k, known) || (known.length ? ` (known here: ${known.join(', ')})` : '')}`,
      }))
    }
    case 'invalid_type': {
      if (valueAt === undefined) return [{ path, message: `is required but missing`, atKey: true }]
      const want = TYPE_WORDS[issue.expected] ?? issue.expected
      return [{ path, message: `must be ${want}, not ${describe(valueAt)}` }]
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => String(v))
      if (values.length === 1) return [{ path, message: `must be "${values[0]}", not ${describe(valueAt)}` }]
      const hint = typeof valueAt === 'string' ? didYouMean(valueAt, values) : ''
      return [{ path, message: `must be one of ${values.join(', ')}, not ${describe(valueAt)}${hint}` }]
    }
    case 'too_small':
      if (issue.origin === 'array') return [{ path, message: `needs at least ${String(issue.minimum)} item(s)` }]
      if (issue.origin === 'string') return [{ path, message: 'must not be empty' }]
      return [{ path, message: `must be at least ${String(issue.minimum)}, not ${String(valueAt)}` }]
    case 'too_big':
      return [{ path, message: `must be at most ${String(issue.maximum)}, not ${String(valueAt)}` }]
    case 'invalid_format':
    case 'custom':
      return [{ path, message: issue.message }]
    case 'invalid_union':
      return [{ path, message: `is not valid here: ${describe(valueAt)}` }]
    default:
      return [{ path, message: issue.message }]
  }
}
