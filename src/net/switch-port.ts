// Cisco IOS switch port names: "Gi1/0/3", "gi 1/0/3" and "GigabitEthernet1/0/3" name the same port.
// One parser for the config checks (protected ports, one machine per port), the cisco-ios driver
// (its lock and journal key) and the `show power inline` table reader.

/** Long interface type names and the abbreviation IOS prints in tables. */
const IFACE_TYPES: ReadonlyArray<readonly [full: string, abbr: string]> = [
  ['GigabitEthernet', 'Gi'],
  ['FastEthernet', 'Fa'],
  ['TenGigabitEthernet', 'Te'],
  ['TwoGigabitEthernet', 'Tw'],
  ['FiveGigabitEthernet', 'Fi'],
  ['TwentyFiveGigE', 'Twe'],
  ['Ethernet', 'Et'],
]

export interface PortName {
  /** the interface type as IOS spells it in full ("GigabitEthernet"), undefined when not a known type */
  type: string | undefined
  /** its abbreviation ("Gi"), undefined when not a known type */
  abbr: string | undefined
  /** the type as written, lowercase ("gi", "gigabitethernet", "port-channel"); '' when there is none */
  written: string
  /** the rest without whitespace ("1/0/3") */
  number: string
}

/**
 * Splits a port name into its type and number. A type may be abbreviated as IOS allows: its
 * table abbreviation ("Tw"), or any prefix of the full name ("Giga"); the first match wins, in the
 * order IOS resolves them. Whitespace anywhere is ignored.
 */
export function parsePortName(name: string): PortName {
  const compact = name.replace(/\s+/g, '')
  const m = /^([A-Za-z-]+)(.*)$/.exec(compact)
  if (!m) return { type: undefined, abbr: undefined, written: '', number: compact }
  const written = m[1]!.toLowerCase()
  const t = IFACE_TYPES.find(([, abbr]) => abbr.toLowerCase() === written)
    ?? IFACE_TYPES.find(([full]) => full.toLowerCase().startsWith(written))
  return { type: t?.[0], abbr: t?.[1], written, number: m[2]! }
}

/** The form for comparisons and keys: "Gi1/0/3", "gi 1/0/3", "GigabitEthernet1/0/3" → "gigabitethernet1/0/3". */
export function canonicalPort(name: string): string {
  const p = parsePortName(name)
  return ((p.type ?? p.written) + p.number).toLowerCase()
}

/** The abbreviated form IOS prints in tables: "GigabitEthernet1/0/3" → "Gi1/0/3". */
export function shortPort(name: string): string {
  const p = parsePortName(name)
  return (p.abbr ?? p.written) + p.number
}


/**
 * True for a single physical Cisco IOS interface name ("Gi1/0/3", "gi 1/0/3", "GigabitEthernet1/0/3"):
 * a known type, at most one space, then 1–4 numbers separated by "/". Anything else (newlines,
 * ";", a second word) is refused before it can reach a switch CLI as a command.
 */
export function isIosInterface(name: string): boolean {
  if (!/^[A-Za-z-]+ ?\d{1,4}(\/\d{1,4}){0,3}$/.test(name)) return false
  return parsePortName(name).type !== undefined
}
