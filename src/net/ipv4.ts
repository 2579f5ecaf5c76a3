// IPv4 address helpers: dotted strings ⇄ 32-bit unsigned integers, subnets, and the IPv4-mapped
// IPv6 form Node reports for IPv4 peers on dual-stack sockets.

export function ipToInt(ip: string): number {
  // a hand-rolled parser (this runs several times per DHCP packet): four groups of 1-3 decimal
  // digits, each at most 255, separated by dots, nothing else
  let n = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      if (++digits > 3) throw new Error(`not an IPv4 address: ${ip}`)
      part = part * 10 + (c - 48)
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (part > 255) throw new Error(`not an IPv4 address: ${ip}`)
      n = n * 256 + part
      part = 0
      digits = 0
      dots++
    } else {
      throw new Error(`not an IPv4 address: ${ip}`)
    }
  }
  if (dots !== 3 || digits === 0 || part > 255) throw new Error(`not an IPv4 address: ${ip}`)
  return (n * 256 + part) >>> 0
}

/** ipToInt, or null for anything that is not a dotted IPv4 address. */
export function parseIPv4(ip: string): number | null {
  try { return ipToInt(ip) } catch { return null }
}

/** A canonical dotted IPv4 address: four decimal octets 0–255 without leading zeros (as written in config). */
export function isIPv4(s: string): boolean {
  const parts = s.split('.')
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && String(Number(p)) === p)
}

/** "::ffff:10.0.0.5" → "10.0.0.5"; any other address unchanged. */
export function stripV4Mapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

export function prefixToMask(prefix: number): number {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`bad prefix length ${prefix}`)
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

export function maskToPrefix(mask: string): number {
  const m = ipToInt(mask)
  let prefix = 0
  while (prefix < 32 && ((m >>> (31 - prefix)) & 1) === 1) prefix++
  if (prefixToMask(prefix) !== m) throw new Error(`not a contiguous netmask: ${mask}`)
  return prefix
}

export interface Subnet {
  network: number
  prefix: number
  mask: number
}

/** "10.0.0.0/24" (host bits are cleared) */
export function parseCidr(cidr: string): Subnet {
  const [addr, len] = cidr.split('/')
  if (addr === undefined || len === undefined || !/^\d{1,2}$/.test(len)) throw new Error(`not a CIDR subnet: ${cidr}`)
  const prefix = Number(len)
  const mask = prefixToMask(prefix)
  return { network: (ipToInt(addr) & mask) >>> 0, prefix, mask }
}

export function inSubnet(ip: string | number, subnet: Subnet): boolean {
  const n = typeof ip === 'number' ? ip : ipToInt(ip)
  return ((n & subnet.mask) >>> 0) === subnet.network
}

export function broadcastOf(subnet: Subnet): number {
  return (subnet.network | (~subnet.mask >>> 0)) >>> 0
}

export function formatCidr(subnet: Subnet): string {
  return `${intToIp(subnet.network)}/${subnet.prefix}`
}
