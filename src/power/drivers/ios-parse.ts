// Cisco IOS text: the `show power inline` table (IOS 12.2, 15.x, IOS XE) and error lines.
// Interface names are parsed by src/net/switch-port.ts.
import { canonicalPort } from '../../net/switch-port.js'
import type { PortStatus, PowerState } from '../types.js'

export interface PowerInlineRow {
  iface: string
  admin: string
  oper: string
}

const ADMIN_WORDS = new Set(['auto', 'static', 'off', 'never', 'consumption'])

/**
 * The row for `iface` in `show power inline [iface]` output. Only the first three columns are
 * used (Interface, Admin, Oper): device names contain spaces and trailing columns are sometimes
 * missing. Rows of other tables that start with the same interface (AdminPowerMax …) are skipped.
 */
export function parsePowerInline(output: string, iface: string): PowerInlineRow | null {
  const want = canonicalPort(iface)
  for (const line of output.split(/\r?\n/)) {
    const tokens = line.trim().split(/\s+/)
    if (tokens.length < 3) continue
    if (canonicalPort(tokens[0]!) !== want) continue
    const admin = tokens[1]!.toLowerCase()
    if (!ADMIN_WORDS.has(admin)) continue
    return { iface: tokens[0]!, admin, oper: tokens[2]!.toLowerCase() }
  }
  return null
}

export function rowToStatus(row: PowerInlineRow): PortStatus {
  const admin: PowerState = row.admin === 'auto' || row.admin === 'static' || row.admin === 'consumption' ? 'on'
    : row.admin === 'off' || row.admin === 'never' ? 'off' : 'unknown'
  // faulty, power-deny, err-disable: PoE is not delivered
  const oper: PowerState = row.oper === 'on' ? 'on'
    : ['off', 'faulty', 'power-deny', 'err-disable', 'errdisable'].includes(row.oper) ? 'off' : 'unknown'
  return { admin, oper, detail: `${row.iface} Admin ${row.admin}, Oper ${row.oper}` }
}

/**
 * Error lines IOS prints after a command ("% Invalid input detected at '^' marker.",
 * "% Ambiguous command:", "% Incomplete command.", "Command rejected: …"), ignoring syslog
 * messages such as "%ILPOWER-5-POWER_GRANTED: …" that may interleave.
 */
export function findIosError(output: string): string | null {
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.trim()
    if (/^%[A-Z0-9_]+-\d+-[A-Z0-9_]+:/.test(line)) continue
    if (/^\*?[A-Z][a-z]{2}\s+\d+\s+[\d:.]+:/.test(line)) continue // timestamped syslog
    if (line.startsWith('%') || /^Command rejected/i.test(line)) return line
  }
  return null
}
