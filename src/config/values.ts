// Rules for values that reach a device (a switch CLI, a command line, an HTTP request): no control
// characters anywhere, and port names in the syntax of the switch's driver.
import { isIosInterface } from '../net/switch-port.js'
import { hasControlChars } from '../net/control-chars.js'
import type { PathSeg } from './locate.js'

export { hasControlChars }

/** Paths of every string (keys included) under `value` that holds a control character. */
export function controlCharPaths(value: unknown, path: PathSeg[] = [], out: PathSeg[][] = []): PathSeg[][] {
  if (typeof value === 'string') {
    if (hasControlChars(value)) out.push(path)
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => controlCharPaths(v, [...path, i], out))
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (hasControlChars(k)) out.push([...path, k])
      else controlCharPaths(v, [...path, k], out)
    }
  }
  return out
}

/** characters a port name may use with the command, webhook and manual drivers */
const SAFE_PORT = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,63}$/

/** Why `port` is not a port name for a switch of this driver, or null when it is. */
export function portProblem(driver: string, port: string, snmpPorts?: Readonly<Record<string, string>>): string | null {
  if (hasControlChars(port)) return 'must not contain control characters'
  switch (driver) {
    case 'cisco-ios':
      return isIosInterface(port) ? null : `${JSON.stringify(port)} is not a Cisco IOS interface such as Gi1/0/3 or GigabitEthernet1/0/3`
    case 'snmp':
      if (snmpPorts && Object.hasOwn(snmpPorts, port)) return null
      return /^\d{1,9}\.\d{1,9}$/.test(port) ? null : `${JSON.stringify(port)} is neither a PoE index "group.index" (two integers, e.g. 1.3) nor a name listed under the switch's ports:`
    default:
      return SAFE_PORT.test(port) ? null : `${JSON.stringify(port)} may only use letters, digits and . _ : / @ + - (at most 64 characters, starting with a letter or digit)`
  }
}
