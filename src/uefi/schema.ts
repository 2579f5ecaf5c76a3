// The `uefi:` key of a machine in bootlab.yaml (zod; config/schema.ts plugs it into the machine).
// Every value is checked here, so a bad one is reported with line:column like any other key and
// never reaches the firmware generator.
import { z } from 'zod'
import { KNOWN_VARIABLES, SYSTEM_TABLE_MODES, parseHex, parseVarKey, type SystemTableMode } from './pftf.js'
import { MAX_NAME_CHARS, MAX_WRITTEN_VARIABLE_SIZE } from './varstore.js'

/** at most this many `vars` entries per machine */
export const MAX_EXPERT_VARS = 32

/** the variables the named settings write; `vars` may not write them too */
const NAMED: Record<string, string> = { RamLimitTo3GB: 'ram_limit_3gb', SystemTableMode: 'system_table', Timeout: 'boot_timeout' }

export const uefiSettingsSchema = z.strictObject({
  /** pftf RamLimitTo3GB: true limits the OS to 3 GB (the firmware default) */
  ram_limit_3gb: z.boolean().optional(),
  /** pftf SystemTableMode: what the OS gets, ACPI tables (default), a Device Tree, or both */
  system_table: z.enum(Object.keys(SYSTEM_TABLE_MODES) as [SystemTableMode, ...SystemTableMode[]]).optional(),
  /** UEFI Timeout: seconds the boot manager waits (65535: wait for a key) */
  boot_timeout: z.number().int().min(0).max(0xffff).optional(),
  /** any other variable, for experts: "GUID:Name" → hex bytes (null deletes the variable) */
  vars: z.record(z.string(), z.union([z.string().max(2 * MAX_WRITTEN_VARIABLE_SIZE + 64), z.null()])).optional(),
}).superRefine((s, ctx) => {
  const entries = Object.entries(s.vars ?? {})
  if (entries.length > MAX_EXPERT_VARS) ctx.addIssue({ code: 'custom', path: ['vars'], message: `at most ${MAX_EXPERT_VARS} variables` })
  for (const [key, value] of entries) {
    const path = ['vars', key]
    const v = parseVarKey(key)
    if (!v || v.name.length > MAX_NAME_CHARS || v.name.includes('\0')) {
      ctx.addIssue({ code: 'custom', path, message: `must be "GUID:Name", e.g. "cd7cc258-31db-22e6-9f22-63b0b8eed6b5:FanOnGpio"` })
      continue
    }
    const known = KNOWN_VARIABLES.find((k) => k.guid === v.guid && k.name === v.name)
    const named = known ? NAMED[known.name] : undefined
    if (named && s[named as keyof typeof s] !== undefined) {
      ctx.addIssue({ code: 'custom', path, message: `${v.name} is already set by ${named}; set it in one place` })
      continue
    }
    if (value === null) continue
    const data = parseHex(value)
    if (!data) { ctx.addIssue({ code: 'custom', path, message: 'must be hex bytes such as "01000000" (or null to delete the variable)' }); continue }
    if (known && data.length !== known.size) {
      ctx.addIssue({ code: 'custom', path, message: `${v.name} is a ${known.size}-byte little-endian integer in pftf (e.g. "${Buffer.alloc(known.size, 0).toString('hex')}"), not ${data.length} byte(s)` })
    }
  }
})

export type UefiSettingsInput = z.input<typeof uefiSettingsSchema>
