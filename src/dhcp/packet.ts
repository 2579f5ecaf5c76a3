// BOOTP/DHCP message codec (RFC 951, RFC 2131, RFC 2132; long/split options RFC 3396; overload 52).
// Decoding is strict: any length that runs past the buffer, a bad magic cookie or an impossible
// header throws a DecodeError whose `reason` is a short counter key. Encoding lays out options in the
// given order, spills into `file`/`sname` through option 52 when the options field is full, and pads
// to the BOOTP minimum of 300 bytes.
import { intToIp, ipToInt } from '../net/ipv4.js'

export const BOOTREQUEST = 1
export const BOOTREPLY = 2
export const MAGIC_COOKIE = 0x63825363
/** fixed header (236) + magic cookie (4) */
const HEADER_SIZE = 240
/** RFC 951: a BOOTP message is at least 300 bytes */
const BOOTP_MIN_SIZE = 300
/** RFC 2131: without option 57 the client accepts 576-byte IP datagrams: 576 - 20 (IP) - 8 (UDP) */
export const DEFAULT_MAX_PAYLOAD = 548
/**
 * The largest request accepted: one Ethernet frame's payload, 1500 (MTU) - 20 (IP) - 8 (UDP).
 * A client without an address sends from a raw socket and cannot fragment; RFC 2131 promises only
 * 576-byte datagrams, real requests are 300-350 bytes (test/dhcp/vectors), a relay's option 82
 * adds tens of bytes. Anything larger is refused before its options are looked at.
 */
export const MAX_REQUEST_SIZE = 1472

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const
export const messageTypeName: Record<number, string> = {
  1: 'discover', 2: 'offer', 3: 'request', 4: 'decline', 5: 'ack', 6: 'nak', 7: 'release', 8: 'inform',
}

export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  RELAY_AGENT_INFO: 82,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  IPXE_ENCAP: 175,
  END: 255,
} as const

export class DecodeError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message)
    this.name = 'DecodeError'
  }
}

export interface DhcpPacket {
  op: number
  htype: number
  hlen: number
  hops: number
  xid: number
  secs: number
  flags: number
  ciaddr: string
  yiaddr: string
  siaddr: string
  giaddr: string
  /** the 16-byte chaddr field as sent */
  chaddr: Buffer
  /** sname field (64 bytes) when not used for overloaded options, NULs stripped */
  sname: Buffer
  /** file field (128 bytes) when not used for overloaded options, NULs stripped */
  file: Buffer
  /** option code → value; repeated instances are concatenated (RFC 3396). Insertion order = wire order. */
  options: Map<number, Buffer>
}

export const BROADCAST_FLAG = 0x8000

function readIp(buf: Buffer, off: number): string {
  return intToIp(buf.readUInt32BE(off))
}

function stripNul(b: Buffer): Buffer {
  const i = b.indexOf(0)
  return i === -1 ? b : b.subarray(0, i)
}

/**
 * Parses one option area (options field, or file/sname when overloaded) into `into`: the pieces of
 * each option, in order, joined once at the end by joinPieces (RFC 3396), not at every repeat.
 */
/** options as parsed: the first piece of each (in wire order), and all pieces of the repeated ones */
interface OptionPieces { first: Map<number, Buffer>; more: Map<number, Buffer[]> | null }

function parseOptionArea(buf: Buffer, start: number, end: number, into: OptionPieces, area: string): void {
  let i = start
  while (i < end) {
    const code = buf[i]!
    if (code === Opt.PAD) { i++; continue }
    if (code === Opt.END) return
    if (i + 1 >= end) throw new DecodeError('truncated-option', `${area}: option ${code} has no length byte`)
    const len = buf[i + 1]!
    if (i + 2 + len > end) throw new DecodeError('truncated-option', `${area}: option ${code} (length ${len}) runs past the end`)
    const value = buf.subarray(i + 2, i + 2 + len)
    const first = into.first.get(code)
    if (first === undefined) {
      into.first.set(code, value)
    } else {
      into.more ??= new Map()
      const parts = into.more.get(code)
      if (parts) parts.push(value)
      else into.more.set(code, [first, value])
    }
    i += 2 + len
  }
  // An area that ends without END is accepted when the last option ended exactly at its boundary
  // (several firmware clients do this); anything else was caught above.
}

/** all pieces of one option joined (RFC 3396), or its only piece */
function joined(pieces: OptionPieces, code: number): Buffer | undefined {
  const parts = pieces.more?.get(code)
  return parts ? Buffer.concat(parts) : pieces.first.get(code)
}

/**
 * One buffer per option: a view into the datagram when the option came in one piece, a new buffer
 * when pieces were joined (once, at the end). The decoded packet shares the datagram's memory:
 * nothing writes to it.
 */
function joinPieces(pieces: OptionPieces): Map<number, Buffer> {
  if (pieces.more) for (const [code, parts] of pieces.more) pieces.first.set(code, Buffer.concat(parts))
  return pieces.first
}

export function decodePacket(buf: Buffer): DhcpPacket {
  if (buf.length < HEADER_SIZE) throw new DecodeError('too-short', `${buf.length} bytes, need at least ${HEADER_SIZE}`)
  if (buf.length > MAX_REQUEST_SIZE) throw new DecodeError('too-long', `${buf.length} bytes, at most ${MAX_REQUEST_SIZE}`)
  const op = buf[0]!
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DecodeError('bad-op', `op ${op}`)
  const htype = buf[1]!
  const hlen = buf[2]!
  if (hlen > 16) throw new DecodeError('bad-hlen', `hlen ${hlen}`)
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE) throw new DecodeError('bad-cookie', 'no DHCP magic cookie')
  const pieces: OptionPieces = { first: new Map(), more: null }
  parseOptionArea(buf, HEADER_SIZE, buf.length, pieces, 'options')
  let sname = stripNul(buf.subarray(44, 108))
  let file = stripNul(buf.subarray(108, 236))
  const overload = joined(pieces, Opt.OVERLOAD)
  if (overload) {
    if (overload.length !== 1 || overload[0]! < 1 || overload[0]! > 3) throw new DecodeError('bad-overload', 'option 52 must be one byte 1..3')
    const v = overload[0]!
    // RFC 2131 §4.1: file first, then sname
    if (v & 1) { parseOptionArea(buf, 108, 236, pieces, 'file'); file = Buffer.alloc(0) }
    if (v & 2) { parseOptionArea(buf, 44, 108, pieces, 'sname'); sname = Buffer.alloc(0) }
  }
  const options = joinPieces(pieces)
  return {
    op,
    htype,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: readIp(buf, 12),
    yiaddr: readIp(buf, 16),
    siaddr: readIp(buf, 20),
    giaddr: readIp(buf, 24),
    chaddr: buf.subarray(28, 44),
    sname,
    file,
    options,
  }
}

export interface EncodeOptions {
  /** largest UDP payload the client accepts (from its option 57, minus IP/UDP headers) */
  maxSize?: number
}

export class EncodeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EncodeError'
  }
}

/** Splits a value longer than 255 bytes into several instances of the same option (RFC 3396). */
function optionChunks(code: number, value: Buffer): Buffer[] {
  const chunks: Buffer[] = []
  if (value.length === 0) return [Buffer.from([code, 0])]
  for (let off = 0; off < value.length; off += 255) {
    const part = value.subarray(off, Math.min(value.length, off + 255))
    chunks.push(Buffer.concat([Buffer.from([code, part.length]), part]))
  }
  return chunks
}

/** the fixed header: op … giaddr, chaddr, sname, file (the caller has checked their sizes) */
function writeHeader(buf: Buffer, p: DhcpPacket): void {
  buf[0] = p.op
  buf[1] = p.htype
  buf[2] = p.hlen
  buf[3] = p.hops
  buf.writeUInt32BE(p.xid >>> 0, 4)
  buf.writeUInt16BE(p.secs & 0xffff, 8)
  buf.writeUInt16BE(p.flags & 0xffff, 10)
  buf.writeUInt32BE(ipToInt(p.ciaddr), 12)
  buf.writeUInt32BE(ipToInt(p.yiaddr), 16)
  buf.writeUInt32BE(ipToInt(p.siaddr), 20)
  buf.writeUInt32BE(ipToInt(p.giaddr), 24)
  p.chaddr.copy(buf, 28, 0, Math.min(16, p.chaddr.length))
  buf.writeUInt32BE(MAGIC_COOKIE, 236)
}

/**
 * The common case in one allocation: every option shorter than 256 bytes and all of them in the
 * options field. null when the general path is needed (long options, overload).
 */
function encodeSimple(p: DhcpPacket, maxSize: number): Buffer | null {
  let total = 0
  for (const [code, value] of p.options) {
    if (code === Opt.PAD || code === Opt.END || code === Opt.OVERLOAD) continue
    if (value.length > 255) return null
    total += 2 + value.length
  }
  if (total > maxSize - HEADER_SIZE - 1) return null
  // from Node's buffer pool (Buffer.alloc makes a new ArrayBuffer each time), zeroed here
  const buf = Buffer.allocUnsafe(Math.max(BOOTP_MIN_SIZE, HEADER_SIZE + total + 1)).fill(0)
  writeHeader(buf, p)
  p.sname.copy(buf, 44)
  p.file.copy(buf, 108)
  let off = HEADER_SIZE
  for (const [code, value] of p.options) {
    if (code === Opt.PAD || code === Opt.END || code === Opt.OVERLOAD) continue
    buf[off] = code
    buf[off + 1] = value.length
    value.copy(buf, off + 2)
    off += 2 + value.length
  }
  buf[off] = Opt.END
  return buf
}

export function encodePacket(p: DhcpPacket, opts: EncodeOptions = {}): Buffer {
  const maxSize = Math.max(BOOTP_MIN_SIZE, Math.min(opts.maxSize ?? DEFAULT_MAX_PAYLOAD, 65507))
  if (p.sname.length > 63) throw new EncodeError('sname longer than 63 bytes')
  if (p.file.length > 127) throw new EncodeError('file longer than 127 bytes')
  const simple = encodeSimple(p, maxSize)
  if (simple) return simple
  const chunks: Buffer[] = []
  for (const [code, value] of p.options) {
    if (code === Opt.PAD || code === Opt.END || code === Opt.OVERLOAD) continue
    chunks.push(...optionChunks(code, value))
  }
  // Main area: everything fits in maxSize - 240, minus 1 for END, minus 3 for a possible option 52.
  const mainCap = maxSize - HEADER_SIZE - 1
  const total = chunks.reduce((n, c) => n + c.length, 0)
  const main: Buffer[] = []
  const inFile: Buffer[] = []
  const inSname: Buffer[] = []
  let overload = 0
  if (total <= mainCap) {
    main.push(...chunks)
  } else {
    const cap = mainCap - 3
    const fileFree = p.file.length === 0
    const snameFree = p.sname.length === 0
    let used = 0
    let fileUsed = 0
    let snameUsed = 0
    for (const c of chunks) {
      if (used + c.length <= cap) { main.push(c); used += c.length; continue }
      if (fileFree && fileUsed + c.length <= 127) { inFile.push(c); fileUsed += c.length; overload |= 1; continue }
      if (snameFree && snameUsed + c.length <= 63) { inSname.push(c); snameUsed += c.length; overload |= 2; continue }
      throw new EncodeError(`options do not fit in ${maxSize} bytes`)
    }
    if (overload !== 0) main.unshift(Buffer.from([Opt.OVERLOAD, 1, overload]))
  }
  const mainBytes = Buffer.concat([...main, Buffer.from([Opt.END])])
  const size = Math.max(BOOTP_MIN_SIZE, HEADER_SIZE + mainBytes.length)
  const buf = Buffer.alloc(size)
  writeHeader(buf, p)
  if (overload & 2) Buffer.concat([...inSname, Buffer.from([Opt.END])]).copy(buf, 44)
  else p.sname.copy(buf, 44)
  if (overload & 1) Buffer.concat([...inFile, Buffer.from([Opt.END])]).copy(buf, 108)
  else p.file.copy(buf, 108)
  mainBytes.copy(buf, HEADER_SIZE)
  return buf
}

// ---- typed option accessors -------------------------------------------------------------------

export function optU8(p: DhcpPacket, code: number): number | undefined {
  const v = p.options.get(code)
  return v && v.length === 1 ? v[0] : undefined
}

export function optU16(p: DhcpPacket, code: number): number | undefined {
  const v = p.options.get(code)
  return v && v.length === 2 ? v.readUInt16BE(0) : undefined
}

export function optIp(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code)
  return v && v.length === 4 ? readIp(v, 0) : undefined
}

/** printable ASCII view of a string option (non-printable bytes become '?') */
export function optString(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code)
  return v ? asciiOf(v) : undefined
}

export function asciiOf(v: Buffer): string {
  let s = ''
  for (const b of v) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '?'
  return s.replace(/\?+$/, (m) => (v[v.length - 1] === 0 ? '' : m))
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))

export function macOf(p: DhcpPacket): string {
  const n = Math.min(p.htype === 1 && p.hlen === 6 ? 6 : Math.min(16, p.hlen), p.chaddr.length)
  let s = ''
  for (let i = 0; i < n; i++) s += (i === 0 ? '' : ':') + HEX[p.chaddr[i]!]!
  return s
}

export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4) // all four bytes written below
  b.writeUInt32BE(n >>> 0)
  return b
}

export function ipBytes(...ips: string[]): Buffer {
  if (ips.length === 1) return u32(ipToInt(ips[0]!))
  return Buffer.concat(ips.map((ip) => u32(ipToInt(ip))))
}
