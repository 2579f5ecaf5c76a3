// What bootlab knows of the pftf Raspberry Pi 4 UEFI firmware's settings. Source:
// edk2-platforms Platform/RaspberryPi: RPi4/RPi4.dsc [PcdsDynamicHii] (variable names and GUIDs,
// firmware defaults), Drivers/ConfigDxe/ConfigDxeHii.vfr (every form variable is an efivarstore
// with NV|BS|RT and NUMERIC_SIZE_4, i.e. a UINT32), Include/ConfigVars.h (the enums), and
// Drivers/ConfigDxe/ConfigDxeFormSetGuid.h (gConfigDxeFormSetGuid). The firmware reads these
// variables through HII PCDs: a variable of the wrong size is ignored or breaks the PCD read, so
// the sizes here are enforced.
import { EFI_GLOBAL_VARIABLE_GUID, normaliseGuid } from './guid.js'
import { ATTR_NV_BS_RT, type VariableEdit } from './varstore.js'

/** gConfigDxeFormSetGuid: the GUID of pftf's own settings (ConfigDxe) */
export const PFTF_CONFIG_GUID = 'cd7cc258-31db-22e6-9f22-63b0b8eed6b5'

export interface KnownVariable {
  name: string
  guid: string
  /** bytes, little-endian unsigned integer */
  size: 1 | 2 | 4
  attributes: number
  /** words accepted instead of numbers */
  values?: Record<string, number>
  min?: number
  max?: number
  /** pftf's default when the variable is absent */
  firmwareDefault: number
  description: string
}

const cfg = (name: string, description: string, firmwareDefault: number, extra: Partial<KnownVariable> = {}): KnownVariable =>
  ({ name, guid: PFTF_CONFIG_GUID, size: 4, attributes: ATTR_NV_BS_RT, firmwareDefault, description, ...extra })
const onOff = { values: { off: 0, on: 1, false: 0, true: 1 }, min: 0, max: 1 }

export const SYSTEM_TABLE_MODES = { acpi: 0, both: 1, devicetree: 2 } as const
export type SystemTableMode = keyof typeof SYSTEM_TABLE_MODES

export const KNOWN_VARIABLES: readonly KnownVariable[] = [
  cfg('RamLimitTo3GB', 'limit the RAM the OS sees to 3 GB (1) or expose all of it (0); only boards with more than 3 GB', 1, onOff),
  cfg('SystemTableMode', 'what the OS is given: 0 ACPI, 1 ACPI and Device Tree, 2 Device Tree', 0, { values: { ...SYSTEM_TABLE_MODES, dt: 2 }, min: 0, max: 2 }),
  { name: 'Timeout', guid: EFI_GLOBAL_VARIABLE_GUID, size: 2, attributes: ATTR_NV_BS_RT, firmwareDefault: 5, min: 0, max: 0xffff, description: 'seconds the boot manager waits before booting (UEFI global variable; 0xFFFF waits for a key)' },
  cfg('CpuClock', 'CPU clock: 0 low (800 MHz), 1 default, 2 max (overclock), 3 custom (CustomCpuClock)', 1, { values: { low: 0, default: 1, max: 2, custom: 3 }, min: 0, max: 3 }),
  cfg('CustomCpuClock', 'CPU clock in MHz when CpuClock is 3 (custom), 100-2200', 1500, { min: 100, max: 2200 }),
  cfg('FanOnGpio', 'GPIO pin of a fan switched by the ACPI thermal zone: 0 none, 18 or 19 (ACPI mode only)', 0, { min: 0, max: 19 }),
  cfg('FanTemp', 'temperature in °C at which the ACPI fan turns on, 50-80', 60, { min: 50, max: 80 }),
  cfg('XhciPci', 'ACPI: 0 expose the XHCI USB controller, 1 the PCIe bridge instead', 0, { min: 0, max: 2 }),
  cfg('SdIsArasan', 'SD card on the Arasan controller (1) or eMMC2 (0)', 0, onOff),
  cfg('MmcDisableMulti', 'disable multi-block SD transfers', 0, onOff),
  cfg('MmcForce1Bit', 'force 1-bit SD bus', 0, onOff),
  cfg('MmcForceDefaultSpeed', 'force SD default speed', 0, onOff),
  cfg('MmcSdDefaultSpeedMHz', 'SD default-speed clock, 25-100 MHz', 25, { min: 25, max: 100 }),
  cfg('MmcSdHighSpeedMHz', 'SD high-speed clock, 50-100 MHz', 50, { min: 50, max: 100 }),
  cfg('MmcEnableDma', 'DMA for eMMC2 (1) or PIO (0)', 1, onOff),
  cfg('DebugEnableJTAG', 'route JTAG to the GPIO header', 0, onOff),
  cfg('DisplayEnableSShot', 'screenshot hotkey', 1, onOff),
  { ...cfg('DisplayEnableScaledVModes', 'bit mask of the scaled video modes offered (UINT8)', 0x20, { min: 0, max: 0xff }), size: 1 },
]

export function knownVariable(name: string): KnownVariable | undefined {
  const lower = name.toLowerCase()
  return KNOWN_VARIABLES.find((k) => k.name.toLowerCase() === lower)
}

export function encodeUint(value: number, size: 1 | 2 | 4): Buffer {
  const b = Buffer.alloc(size)
  b.writeUIntLE(value, 0, size)
  return b
}

/** The value of a known variable from text ("on", "devicetree", "5", "0x20"), or an error message. */
export function parseKnownValue(k: KnownVariable, text: string): { value: number } | { error: string } {
  const t = text.trim().toLowerCase()
  const named = k.values?.[t]
  const value = named ?? (/^(0x[0-9a-f]+|\d+)$/.test(t) ? Number(t) : NaN)
  const max = k.max ?? 2 ** (8 * k.size) - 1
  const min = k.min ?? 0
  if (!Number.isInteger(value) || value < min || value > max) {
    const words = k.values ? ` or one of ${Object.keys(k.values).join(', ')}` : ''
    return { error: `${k.name} must be an integer ${min}-${max}${words}, not ${JSON.stringify(text)}` }
  }
  return { value }
}

/** Per-machine settings, as in the `uefi:` key of a machine in bootlab.yaml. */
export interface UefiSettings {
  ram_limit_3gb?: boolean
  system_table?: SystemTableMode
  boot_timeout?: number
  /** "GUID:Name" → hex data, or null to delete the variable */
  vars?: Record<string, string | null>
}

/** Splits "GUID:Name"; null when it is not that shape. */
export function parseVarKey(key: string): { guid: string; name: string } | null {
  const i = key.indexOf(':')
  if (i < 0) return null
  const guid = normaliseGuid(key.slice(0, i))
  const name = key.slice(i + 1)
  if (!guid || name.length === 0) return null
  return { guid, name }
}

/** Hex data ("01000000", "01 00 00 00", "0x01"), or null when not hex. */
export function parseHex(text: string): Buffer | null {
  const t = text.replace(/\s+/g, '').replace(/^0x/i, '')
  if (t.length === 0 || t.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(t)) return null
  return Buffer.from(t, 'hex')
}

function knownSet(name: string, value: number): VariableEdit {
  const k = knownVariable(name)!
  return { op: 'set', guid: k.guid, name: k.name, data: encodeUint(value, k.size), attributes: k.attributes }
}

/**
 * The variable edits for a machine's settings, in a fixed order (named settings first, then
 * `vars` sorted by key) so that equal settings give byte-identical images. Throws on a malformed
 * `vars` entry; the config schema rejects those earlier, with line:column.
 */
export function settingsEdits(s: UefiSettings): VariableEdit[] {
  const edits: VariableEdit[] = []
  if (s.ram_limit_3gb !== undefined) edits.push(knownSet('RamLimitTo3GB', s.ram_limit_3gb ? 1 : 0))
  if (s.system_table !== undefined) edits.push(knownSet('SystemTableMode', SYSTEM_TABLE_MODES[s.system_table]))
  if (s.boot_timeout !== undefined) edits.push(knownSet('Timeout', s.boot_timeout))
  for (const key of Object.keys(s.vars ?? {}).sort()) {
    const v = parseVarKey(key)
    if (!v) throw new Error(`uefi.vars: ${JSON.stringify(key)} is not "GUID:Name"`)
    const value = s.vars![key]
    if (value === null || value === undefined) { edits.push({ op: 'delete', ...v }); continue }
    const data = parseHex(value)
    if (!data) throw new Error(`uefi.vars.${key}: ${JSON.stringify(value)} is not hex data`)
    const k = knownVariable(v.name)
    const attributes = k && k.guid === v.guid ? k.attributes : undefined
    edits.push({ op: 'set', ...v, data, ...(attributes !== undefined ? { attributes } : {}) })
  }
  return edits
}

/** One line per setting, for the machine's timeline ("RamLimitTo3GB=0 SystemTableMode=2 …"). */
export function describeSettings(s: UefiSettings): string[] {
  const out: string[] = []
  if (s.ram_limit_3gb !== undefined) out.push(`RamLimitTo3GB=${s.ram_limit_3gb ? 1 : 0} (RAM ${s.ram_limit_3gb ? 'limited to 3 GB' : 'not limited'})`)
  if (s.system_table !== undefined) out.push(`SystemTableMode=${SYSTEM_TABLE_MODES[s.system_table]} (${s.system_table})`)
  if (s.boot_timeout !== undefined) out.push(`Timeout=${s.boot_timeout} s`)
  for (const key of Object.keys(s.vars ?? {}).sort()) {
    const value = s.vars![key]
    out.push(value === null || value === undefined ? `${key} deleted` : `${key}=${value.replace(/\s+/g, '').replace(/^0x/i, '').toLowerCase()}`)
  }
  return out
}
