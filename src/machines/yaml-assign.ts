// `bootlab assign` / POST /api/machines/:name/assign persist the assignment where the user keeps it:
// the machine's `profile:` line in the YAML file, edited in place (comments and layout preserved by
// the yaml Document API) and replaced atomically (temp file + fsync + rename). The hot reload then
// sees the change exactly as if it had been typed by hand.
import { open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseDocument, isMap, isScalar } from 'yaml'

export class AssignError extends Error {
  override name = 'AssignError'
}

/** Returns the new file text with machines.<name>.profile set to `profile`. */
export function setMachineProfile(text: string, machine: string, profile: string): string {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new AssignError(`config file does not parse: ${doc.errors[0]!.message}`)
  const machines = doc.get('machines', true)
  if (!isMap(machines) || !machines.has(machine)) throw new AssignError(`machine ${machine} is not in the config file`)
  const entry = machines.get(machine, true)
  if (!isMap(entry)) throw new AssignError(`machine ${machine} is not a mapping in the config file`)
  const value = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(profile) ? profile : JSON.stringify(profile)
  const cur = entry.get('profile', true)
  if (isScalar(cur) && cur.range) {
    // replace just the value's characters: layout and comments stay byte for byte
    return text.slice(0, cur.range[0]) + value + text.slice(cur.range[1])
  }
  const first = entry.items[0]?.key
  const last = entry.items[entry.items.length - 1]?.value
  if (!entry.flow && isScalar(first) && first.range && last && (isScalar(last) || isMap(last)) && last.range) {
    // block mapping: add a line after its last entry, at the indentation of its first key
    const lineStart = text.lastIndexOf('\n', first.range[0] - 1) + 1
    const indent = text.slice(lineStart, first.range[0])
    const end = last.range[1]
    const eol = end > 0 && text[end - 1] === '\n' ? end - 1 : text.indexOf('\n', end)
    const at = eol === -1 ? text.length : eol + 1
    const prefix = eol === -1 ? '\n' : ''
    if (/^\s*$/.test(indent)) return text.slice(0, at) + `${prefix}${indent}profile: ${value}\n` + text.slice(at)
  }
  entry.set('profile', profile)
  return doc.toString()
}

export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  let mode = 0o644
  try { mode = (await stat(file)).mode & 0o777 } catch {}
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(text, 'utf8')
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, file)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  const dir = await open(dirname(file), 'r')
  try { await dir.sync() } catch {} finally { await dir.close() }
}

export interface YamlAssignerOptions {
  configPath: string
  /** re-reads the config now (the loader's reload); resolves once the new config is active */
  reload: () => Promise<void>
}

/** The `persist` function the API's assign uses. Serialised: one edit at a time. */
export function createYamlAssigner(opts: YamlAssignerOptions): (machine: string, profile: string) => Promise<void> {
  let chain: Promise<void> = Promise.resolve()
  return (machine, profile) => {
    const run = chain.then(async () => {
      const text = await readFile(opts.configPath, 'utf8')
      const next = setMachineProfile(text, machine, profile)
      if (next !== text) await writeFileAtomic(opts.configPath, next)
      await opts.reload()
    })
    chain = run.catch(() => undefined)
    return run
  }
}
