// `bootlab uefi-vars list FILE` / `bootlab uefi-vars set FILE -o OUT NAME=VALUE…`: inspect and
// edit the EDK2 variable store of a firmware image (RPI_EFI.fd, OVMF/AAVMF *_VARS.fd) by hand.
// Exit status: 0 done, 2 usage (unknown name, bad value), 6 the image cannot be read or the edit
// is refused (no store, corrupt, full, authenticated variable).
import { Command } from 'commander'
import { readFile, rename, stat, writeFile } from 'node:fs/promises'
import { EXIT } from './exit-codes.js'
import {
  KNOWN_VARIABLES, UefiStoreError, describeAttributes, editVariables, knownVariable, parseHex, parseKnownValue, parseVarKey,
  readVariableStore, type VariableEdit, type VariableRecord,
} from '../uefi/index.js'

/** firmware images are a few MiB (AAVMF pads to 64 MiB); anything much larger is not one */
const MAX_IMAGE_BYTES = 128 * 1024 * 1024

class UsageError extends Error {}

async function readImage(file: string): Promise<Buffer> {
  const st = await stat(file)
  if (!st.isFile()) throw new UefiStoreError(`${file} is not a file`)
  if (st.size > MAX_IMAGE_BYTES) throw new UefiStoreError(`${file} is ${st.size} bytes; firmware images bootlab reads are at most ${MAX_IMAGE_BYTES}`)
  return await readFile(file)
}

function knownNames(): string {
  return KNOWN_VARIABLES.map((k) => k.name).join(', ')
}

/** "RamLimitTo3GB" or "GUID:Name" → where the variable lives */
function resolveName(name: string): { guid: string; name: string; known?: (typeof KNOWN_VARIABLES)[number] } {
  const k = knownVariable(name)
  if (k) return { guid: k.guid, name: k.name, known: k }
  const v = parseVarKey(name)
  if (v) return v
  throw new UsageError(`unknown variable ${JSON.stringify(name)}: use one of ${knownNames()}, or GUID:Name`)
}

export function parseAssignment(arg: string): VariableEdit {
  const eq = arg.lastIndexOf('=')
  if (eq <= 0) throw new UsageError(`${JSON.stringify(arg)} is not NAME=VALUE`)
  const target = resolveName(arg.slice(0, eq))
  const text = arg.slice(eq + 1)
  if (target.known) {
    const v = parseKnownValue(target.known, text)
    if ('error' in v) throw new UsageError(v.error)
    const data = Buffer.alloc(target.known.size)
    data.writeUIntLE(v.value, 0, target.known.size)
    return { op: 'set', guid: target.guid, name: target.name, data, attributes: target.known.attributes }
  }
  const data = parseHex(text)
  if (!data) throw new UsageError(`${target.guid}:${target.name}: the value must be hex bytes, e.g. 01000000, not ${JSON.stringify(text)}`)
  return { op: 'set', guid: target.guid, name: target.name, data }
}

function decodedValue(r: VariableRecord): string {
  const k = KNOWN_VARIABLES.find((x) => x.guid === r.guid && x.name === r.name)
  if (k && r.data.length === k.size) {
    const n = r.data.readUIntLE(0, k.size)
    const word = Object.entries(k.values ?? {}).find(([w, v]) => v === n && !['true', 'false', 'dt'].includes(w))?.[0]
    return ` (${k.name} = ${n}${word ? `, ${word}` : ''})`
  }
  if (k) return ` (${k.name}: expected ${k.size} bytes, the firmware will ignore it)`
  return ''
}

function describeRecord(r: VariableRecord): string {
  const hexData = r.data.length > 32 ? `${r.data.subarray(0, 32).toString('hex')}…` : r.data.toString('hex')
  const state = r.live ? '' : ` [deleted, state 0x${r.state.toString(16)}]`
  return `  ${r.guid}:${r.name}  ${describeAttributes(r.attributes)}  ${r.data.length} byte(s)  ${hexData}${decodedValue(r)}${state}`
}

async function list(file: string, o: { json?: boolean; all?: boolean }): Promise<void> {
  const s = readVariableStore(await readImage(file))
  const records = o.all ? s.records : s.records.filter((r) => r.live)
  const free = s.storeOffset + s.storeSize - s.freeOffset
  if (o.json) {
    process.stdout.write(JSON.stringify({
      file, format: s.format, volume_offset: s.volume.offset, store_offset: s.storeOffset, store_size: s.storeSize, free_bytes: free,
      variables: records.map((r) => ({
        guid: r.guid, name: r.name, attributes: r.attributes, attributes_text: describeAttributes(r.attributes), size: r.data.length,
        data: r.data.toString('hex'), live: r.live, state: r.state,
        ...(r.auth ? { monotonic_count: r.auth.monotonicCount.toString(), timestamp: r.auth.timestamp.toString('hex'), pubkey_index: r.auth.pubKeyIndex } : {}),
      })),
    }, null, 2) + '\n')
    return
  }
  const live = s.records.filter((r) => r.live).length
  process.stdout.write(`${file}: ${s.format} variable store at 0x${s.storeOffset.toString(16)} (${s.storeSize} bytes, ${free} free), ${live} variable(s)` +
    `${s.records.length > live ? `, ${s.records.length - live} deleted record(s)` : ''}${s.dirtyTail ? '; the free area is not blank (the firmware will reclaim it)' : ''}\n`)
  for (const r of records) process.stdout.write(describeRecord(r) + '\n')
}

async function set(file: string, assignments: string[], o: { output: string; delete?: string[] }): Promise<void> {
  const edits: VariableEdit[] = assignments.map(parseAssignment)
  for (const d of o.delete ?? []) {
    const target = resolveName(d)
    edits.push({ op: 'delete', guid: target.guid, name: target.name })
  }
  if (edits.length === 0) throw new UsageError('nothing to do: give NAME=VALUE or --delete NAME')
  const r = editVariables(await readImage(file), edits)
  // write next to the target and rename, so OUT may be FILE and a failure leaves no half file
  const tmp = `${o.output}.bootlab-tmp-${process.pid}`
  await writeFile(tmp, r.image)
  await rename(tmp, o.output)
  const what = edits.map((e) => e.op === 'set' ? `set ${e.name}=${e.data.toString('hex')}` : `deleted ${e.name}`).join(', ')
  process.stdout.write(r.changed ? `wrote ${o.output}: ${what}${r.reclaimed ? ' (store reclaimed to make room)' : ''}\n` : `${o.output}: nothing changed (${what} already in place)\n`)
}

function run(fn: () => Promise<void>): Promise<void> {
  return fn().catch((err: unknown) => {
    if (err instanceof UsageError) { process.stderr.write(`bootlab uefi-vars: ${err.message}\n`); process.exitCode = EXIT.USAGE; return }
    if (err instanceof UefiStoreError) { process.stderr.write(`bootlab uefi-vars: ${err.message}\n`); process.exitCode = EXIT.FIRMWARE; return }
    if (err instanceof Error && 'code' in err && typeof err.code === 'string') {
      process.stderr.write(`bootlab uefi-vars: ${err.message}\n`)
      process.exitCode = EXIT.FIRMWARE
      return
    }
    throw err
  })
}

export function uefiVarsCommand(): Command {
  const c = new Command('uefi-vars').description('list or edit the UEFI variables stored in a firmware image (RPI_EFI.fd, *_VARS.fd)')
  c.command('list')
    .description('list the variables of FILE\'s EDK2 variable store')
    .argument('<file>', 'firmware image')
    .option('--json', 'machine-readable output (full data, as hex)')
    .option('--all', 'include deleted copies')
    .action((file: string, o: { json?: boolean; all?: boolean }) => run(() => list(file, o)))
  c.command('set')
    .description(`write variables into a copy of FILE: NAME=VALUE with a known pftf name (${knownNames()}), or GUID:Name=HEX`)
    .argument('<file>', 'firmware image (not modified unless it is also OUT)')
    .argument('[assignments...]', 'NAME=VALUE …')
    .requiredOption('-o, --output <out>', 'where to write the edited image')
    .option('-d, --delete <name...>', 'delete variables (known name or GUID:Name)')
    .action((file: string, assignments: string[], o: { output: string; delete?: string[] }) => run(() => set(file, assignments, o)))
  return c
}
