// Test helpers: the real packet vectors, a client-side packet builder, a policy built on the defaults.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { BOOTREQUEST, decodePacket, encodePacket, Opt, type DhcpPacket } from '../../src/dhcp/packet.js'
import { defaultBootDecision, type BootDecision, type DhcpPolicy } from '../../src/dhcp/policy.js'
import type { ClassifiedClient } from '../../src/dhcp/classify.js'

const here = dirname(fileURLToPath(import.meta.url))

/** a real packet vector by name: test/dhcp/vectors/<name>.hex (see the README there) */
export function vector(name: string): Buffer {
  return Buffer.from(readFileSync(join(here, 'vectors', `${name}.hex`), 'utf8').trim(), 'hex')
}

export interface ClientPacketSpec {
  type: number
  mac: string
  xid?: number
  flags?: number
  ciaddr?: string
  giaddr?: string
  options?: Array<[number, Buffer | string | number[]]>
}

export function clientPacket(s: ClientPacketSpec): Buffer {
  const chaddr = Buffer.alloc(16)
  Buffer.from(s.mac.replace(/:/g, ''), 'hex').copy(chaddr)
  const options = new Map<number, Buffer>()
  options.set(Opt.MESSAGE_TYPE, Buffer.from([s.type]))
  for (const [code, v] of s.options ?? []) {
    options.set(code, Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v))
  }
  const p: DhcpPacket = {
    op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid: s.xid ?? 0x12345678, secs: 0, flags: s.flags ?? 0,
    ciaddr: s.ciaddr ?? '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: s.giaddr ?? '0.0.0.0',
    chaddr, sname: Buffer.alloc(0), file: Buffer.alloc(0), options,
  }
  return encodePacket(p, { maxSize: 1400 })
}

export const decode = decodePacket

/** The policy a real config would give: defaults for every class, optional per-MAC overrides. */
export class TestPolicy implements DhcpPolicy {
  readonly reservations = new Map<string, string>()
  readonly overrides = new Map<string, BootDecision | null>()
  /** configured machines without a reservation (machines with one are known too) */
  readonly known = new Set<string>()
  constructor(readonly serverAddress: string, readonly httpPort = 8080) {}
  bootFor(client: ClassifiedClient): BootDecision | null {
    if (this.overrides.has(client.mac)) return this.overrides.get(client.mac) ?? null
    return defaultBootDecision(client, { serverAddress: this.serverAddress, httpPort: this.httpPort })
  }
  reservationFor(mac: string): string | null {
    return this.reservations.get(mac) ?? null
  }
  isKnown(mac: string): boolean {
    return this.known.has(mac) || this.reservations.has(mac)
  }
  isReserved(ip: string): boolean {
    for (const v of this.reservations.values()) if (v === ip) return true
    return false
  }
}
