// YAML text → validated Config, or every problem at once, each with file:line:column.
import { resolve as resolvePath } from 'node:path'
import { LineCounter, parseDocument, type YAMLError } from 'yaml'
import type { z } from 'zod'
import { Locator, pathString, type PathSeg } from './locate.js'
import { explain } from './messages.js'
import { crossCheck, type Problem, type SwitchInfo } from './crosscheck.js'
import { nameMap, RESERVED_NAMES } from './own.js'
import { controlCharPaths, hasControlChars, portProblem } from './values.js'
import { resolveConfig, resolveSwitch } from './resolve.js'
import { didYouMean } from './names.js'
import { checkText, readConfigText, scanDocument, MAX_ALIAS_COUNT } from './yaml-guard.js'
import { machineSchema, profileSchema, serverSchema, SWITCH_DRIVERS, SWITCH_SCHEMAS, type RawConfig, type RawSwitch, type SwitchDriver } from './schema.js'
import type { ConfigIssue, LoadResult } from './types.js'

export { MAX_CONFIG_BYTES, MAX_CONFIG_NODES, readConfigText } from './yaml-guard.js'

/** Settings the command line may override (e.g. `bootlab serve --interface veth0`). */
export interface ConfigOverrides {
  interface?: string
  advertise?: string
  state_dir?: string
  http_port?: number
  tftp_port?: number
  dhcp_mode?: 'proxy' | 'full' | 'off'
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv
  /** read secret files (default true) */
  readSecrets?: boolean
  overrides?: ConfigOverrides
}

const TOP_KEYS = ['server', 'switches', 'profiles', 'machines']

type AnyZod = z.ZodType
interface Def { type: string; shape?: Record<string, AnyZod>; innerType?: AnyZod; in?: AnyZod; valueType?: AnyZod; element?: AnyZod }
const defOf = (s: AnyZod): Def => (s as unknown as { _zod: { def: Def } })._zod.def

/** The setting names a schema accepts at a path (for "did you mean"). */
function keysAt(schema: AnyZod, path: PropertyKey[]): string[] {
  let s: AnyZod | undefined = schema
  const unwrap = (): void => {
    for (let d = s && defOf(s); d && s; d = defOf(s)) {
      if (d.innerType) s = d.innerType
      else if (d.type === 'pipe' && d.in) s = d.in
      else break
    }
  }
  unwrap()
  for (const seg of path) {
    if (!s) return []
    const d = defOf(s)
    if (d.type === 'object' && d.shape) s = d.shape[String(seg)]
    else if (d.type === 'record') s = d.valueType
    else if (d.type === 'array') s = d.element
    else return []
    unwrap()
  }
  if (!s) return []
  const d = defOf(s)
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : []
}

function applyOverrides(data: Record<string, unknown>, o: ConfigOverrides | undefined): void {
  if (!o) return
  const server = (data.server && typeof data.server === 'object' ? data.server : (data.server = {})) as Record<string, unknown>
  const sub = (k: string): Record<string, unknown> => (server[k] && typeof server[k] === 'object' ? server[k] : (server[k] = {})) as Record<string, unknown>
  if (o.interface !== undefined) server.interface = o.interface
  if (o.advertise !== undefined) server.advertise = o.advertise
  if (o.state_dir !== undefined) server.state_dir = o.state_dir
  if (o.http_port !== undefined) sub('http').port = o.http_port
  if (o.tftp_port !== undefined) sub('tftp').port = o.tftp_port
  if (o.dhcp_mode !== undefined) sub('dhcp').mode = o.dhcp_mode
}

export function parseConfig(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const issue = (line: number, column: number, path: string, message: string): ConfigIssue => ({ file, line, column, path, message })
  const lines = new LineCounter()
  const at = (offset: number, message: string): ConfigIssue => {
    lines.addNewLine(0)
    for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1)
    const p = lines.linePos(offset)
    return issue(p.line, p.col, '', message)
  }
  const tooBig = checkText(text)
  if (tooBig) return { ok: false, errors: [at(tooBig.offset, tooBig.message)], warnings: [] }
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false })
  const warnings: ConfigIssue[] = doc.warnings.map((w) => issue(w.linePos?.[0]?.line ?? 0, w.linePos?.[0]?.col ?? 0, '', w.message.split('\n')[0]!))
  if (doc.errors.length > 0) return { ok: false, errors: yamlErrors(doc.errors, lines, issue), warnings }
  const scan = scanDocument(doc)
  if (scan.duplicates.length > 0) {
    return { ok: false, errors: scan.duplicates.map((o) => { const p = lines.linePos(o); return issue(p.line, p.col, '', 'this key appears twice in the same mapping; keep one') }), warnings }
  }

  if (doc.contents === null) {
    // also what a reload sees while an editor is rewriting the file: never applied as "no machines"
    return { ok: false, errors: [issue(1, 1, '', 'the file is empty: it needs at least a profiles: or machines: section')], warnings }
  }
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {}
  } catch (err) {
    // the yaml library throws on too many alias expansions (a "billion laughs" document)
    const p = lines.linePos(scan.firstAlias ?? 0)
    const why = err instanceof ReferenceError ? `expands its aliases (*name) more than ${MAX_ALIAS_COUNT} times; bootlab refuses it (docs/security.md)` : `cannot be read: ${(err as Error).message}`
    return { ok: false, errors: [issue(p.line, p.col, '', `the file ${why}`)], warnings }
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, errors: [issue(1, 1, '', 'the file must be a mapping with the sections server, switches, profiles and machines')], warnings }
  }
  const root = data as Record<string, unknown>
  applyOverrides(root, opts.overrides)

  const v = new SectionValidator(root)
  v.checkTopKeys()
  const server = v.check(serverSchema, root.server ?? {}, ['server'])
  const profiles = v.checkEach('profiles', profileSchema)
  const machines = v.checkEach('machines', machineSchema)
  const { switches, switchInfo } = v.checkSwitches()

  const abs = resolvePath(file)
  const problems = v.problems
  // cross-checks run even when the server section is broken, and on the parts of entries that
  // did validate, so all mistakes show at once
  const raw: RawConfig = { server: server ?? serverSchema.parse({ unknown: 'ignore' }), switches, profiles: profiles.valid, machines: machines.valid }
  const cross = { server: raw.server, profiles: profiles.valid, profileNames: profiles.names, machines: machines.partial }
  problems.push(...crossCheck(cross, switchInfo).filter((p) => server || p.path[0] !== 'server'))
  const config = server ? resolveConfig(abs, raw) : undefined
  const resolved = Object.entries(switches).map(([name, sw]) => resolveSwitch(name, sw, resolvePath(abs, '..'), { env: opts.env ?? process.env, readSecrets: opts.readSecrets ?? true }, problems))
  if (config) for (const sw of resolved) config.switches[sw.name] = sw

  const locator = new Locator(doc, lines)
  warnings.push(...located(problems.filter((p) => p.warning), locator, issue))
  const errors = problems.filter((p) => !p.warning)
  if (errors.length > 0 || !config) return { ok: false, errors: located(errors, locator, issue), warnings }
  return { ok: true, config, warnings }
}

type IssueAt = (line: number, column: number, path: string, message: string) => ConfigIssue

/** YAML syntax errors (and duplicate keys) with their positions. */
function yamlErrors(errors: readonly YAMLError[], lines: LineCounter, issue: IssueAt): ConfigIssue[] {
  return errors.map((e) => {
    const p = e.linePos?.[0] ?? lines.linePos(e.pos[0])
    const msg = e.code === 'DUPLICATE_KEY' ? 'this key appears twice in the same mapping; keep one' : `YAML syntax: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`
    return issue(p.line, p.col, '', msg)
  })
}

/** the most problems reported for one file (a summary line says how many more there are) */
const MAX_REPORTED = 100

/** Problems placed at their line:column in the file, in file order. */
function located(problems: Problem[], locator: Locator, issue: IssueAt): ConfigIssue[] {
  const errors = problems.slice(0, MAX_REPORTED).map((p) => {
    const pos = locator.at(p.path, { key: p.atKey })
    return issue(pos.line, pos.column, pathString(p.path), p.message)
  })
  errors.sort((a, b) => a.line - b.line || a.column - b.column)
  if (problems.length > MAX_REPORTED) errors.push(issue(0, 0, '', `… and ${problems.length - MAX_REPORTED} more problem(s) not shown; fix these first`))
  return errors
}

/** Validates each part of the file on its own, so one mistake never hides another; collects every problem. */
class SectionValidator {
  readonly problems: Problem[] = []

  constructor(private readonly root: Record<string, unknown>) {}

  checkTopKeys(): void {
    for (const k of Object.keys(this.root)) {
      if (!TOP_KEYS.includes(k)) this.problems.push({ path: [k], atKey: true, message: `unknown section "${k}"${didYouMean(k, TOP_KEYS) || ` (sections: ${TOP_KEYS.join(', ')})`}` })
    }
  }

  check<S extends AnyZod>(schema: S, value: unknown, prefix: PathSeg[]): z.output<S> | undefined {
    const r = schema.safeParse(value)
    if (r.success) return r.data
    for (const i of r.error.issues) {
      for (const e of explain(i, value, (p) => keysAt(schema, p))) this.problems.push({ ...e, path: [...prefix, ...e.path] })
    }
    return undefined
  }

  /**
   * Every entry of a name → settings section that passes its schema (`valid`); every entry with
   * the settings that pass (`partial`: whole valid entries, the valid part of the others), so the
   * cross-checks still see them; every declared name.
   */
  checkEach<S extends z.ZodObject>(name: 'profiles' | 'machines', schema: S): { valid: Record<string, z.output<S>>; partial: Record<string, Partial<z.output<S>>>; names: Set<string> } {
    const valid = nameMap<z.output<S>>()
    /** in file order: the valid entries and the valid part of the others */
    const partial = nameMap<Partial<z.output<S>>>()
    const names = new Set<string>()
    for (const [key, v] of Object.entries(this.section(name))) {
      names.add(key)
      const value = v ?? {}
      const parsed = this.check(schema, value, [name, key])
      if (parsed) valid[key] = partial[key] = parsed
      else {
        const rest = validPart(schema, value)
        if (rest) partial[key] = rest
      }
    }
    return { valid, partial, names }
  }

  /** Switches by driver schema, and each switch's protected ports (also for switches that fail validation). */
  checkSwitches(): { switches: Record<string, RawSwitch>; switchInfo: Map<string, { protected: string[] }> } {
    const switches = nameMap<RawSwitch>()
    const switchInfo = new Map<string, SwitchInfo>()
    for (const [name, v] of Object.entries(this.section('switches'))) {
      const settings = v as Record<string, unknown> | null
      // nothing with a control character reaches a device (a CLI line, an argv, an HTTP header)
      for (const path of controlCharPaths(settings, ['switches', name])) this.problems.push({ path, message: 'must not contain control characters' })
      const prot = settings?.protected
      const rawProtected = Array.isArray(prot) ? prot.map(String) : []
      const driver = settings?.driver
      if (typeof driver !== 'string' || !(SWITCH_DRIVERS as string[]).includes(driver)) {
        this.problems.push({
          path: ['switches', name, ...(driver === undefined ? [] : ['driver'])], atKey: driver === undefined,
          message: driver === undefined ? `needs a driver: one of ${SWITCH_DRIVERS.join(', ')}` : `unknown driver "${String(driver)}"${didYouMean(String(driver), SWITCH_DRIVERS)} (drivers: ${SWITCH_DRIVERS.join(', ')})`,
        })
        switchInfo.set(name, { protected: rawProtected })
        continue
      }
      const sw = this.check(SWITCH_SCHEMAS[driver as SwitchDriver], v, ['switches', name]) as RawSwitch | undefined
      if (sw) switches[name] = sw
      const ports = sw?.driver === 'snmp' ? sw.ports : undefined
      const protectedPorts = sw ? sw.protected : rawProtected
      protectedPorts.forEach((p, i) => {
        const why = hasControlChars(p) ? null : portProblem(driver, p, ports) // control characters: reported above
        if (why) this.problems.push({ path: ['switches', name, 'protected', i], message: why })
      })
      switchInfo.set(name, { protected: protectedPorts, driver, ...(ports ? { ports } : {}) })
    }
    return { switches, switchInfo }
  }

  private section(name: string): Record<string, unknown> {
    const v = this.root[name]
    if (v === undefined || v === null) return {}
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.problems.push({ path: [name], message: `must be a mapping of names to settings` })
      return {}
    }
    const out = nameMap<unknown>()
    for (const [key, value] of Object.entries(v)) {
      if (RESERVED_NAMES.has(key)) this.problems.push({ path: [name, key], atKey: true, message: `"${key}" is a reserved name; choose another` })
      else if (hasControlChars(key)) this.problems.push({ path: [name, key], atKey: true, message: 'a name must not contain control characters' })
      else out[key] = value
    }
    return out
  }
}

/** The settings of an entry that pass their schema on their own: the entry minus the keys with problems. */
function validPart<S extends z.ZodObject>(schema: S, value: unknown): Partial<z.output<S>> | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined
  const r = schema.safeParse(value)
  if (r.success) return r.data
  const bad = new Set<string>()
  for (const i of r.error.issues) {
    if (i.code === 'unrecognized_keys') i.keys.forEach((k) => bad.add(k))
    else if (i.path.length > 0) bad.add(String(i.path[0]))
  }
  const rest = Object.fromEntries(Object.entries(value).filter(([k]) => !bad.has(k)))
  const p = schema.partial().safeParse(rest)
  return p.success ? (p.data as Partial<z.output<S>>) : undefined
}

export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  let text: string
  try {
    text = await readConfigText(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : `cannot be read (${code ?? String(err)})`
    return { ok: false, errors: [{ file, line: 0, column: 0, path: '', message: `the config file ${why}` }], warnings: [] }
  }
  return parseConfig(text, file, opts)
}
