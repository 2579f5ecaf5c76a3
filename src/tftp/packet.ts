// TFTP packet codec (RFC 1350, options per RFC 2347). Parsing never throws: a malformed datagram
// yields a reason string so the server can count the drop.

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const

/** RFC 1350 / 2347 error codes. */
export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const

export interface RequestPacket {
  op: 'rrq' | 'wrq'
  filename: string
  mode: string
  /** option names lower-cased; the first occurrence of a name wins */
  options: Map<string, string>
}
export interface DataPacket { op: 'data'; block: number; data: Buffer }
export interface AckPacket { op: 'ack'; block: number }
export interface ErrorPacket { op: 'error'; code: number; message: string }
export interface OackPacket { op: 'oack'; options: Map<string, string> }
export type Packet = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket

export type ParseResult = { ok: true; packet: Packet } | { ok: false; reason: string }

const MAX_STRING = 512

/** Splits a run of NUL-terminated strings; null if the last one is unterminated or not text. */
function cstrings(buf: Buffer, start: number): string[] | null {
  const out: string[] = []
  let i = start
  while (i < buf.length) {
    const end = buf.indexOf(0, i)
    if (end < 0) return null
    if (end - i > MAX_STRING) return null
    // latin1 keeps every byte visible to the jail checks (no UTF-8 replacement characters)
    out.push(buf.toString('latin1', i, end))
    i = end + 1
  }
  return out
}

export function parsePacket(buf: Buffer): ParseResult {
  if (buf.length < 2) return { ok: false, reason: 'short' }
  const op = buf.readUInt16BE(0)
  switch (op) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const parts = cstrings(buf, 2)
      if (!parts || parts.length < 2) return { ok: false, reason: 'malformed_request' }
      if (parts.length % 2 !== 0) return { ok: false, reason: 'malformed_options' }
      const [filename, mode] = parts as [string, string, ...string[]]
      if (filename.length === 0) return { ok: false, reason: 'malformed_request' }
      const options = new Map<string, string>()
      for (let k = 2; k < parts.length; k += 2) {
        const name = parts[k]!.toLowerCase()
        if (name.length === 0) return { ok: false, reason: 'malformed_options' }
        if (!options.has(name)) options.set(name, parts[k + 1]!)
      }
      return { ok: true, packet: { op: op === Opcode.RRQ ? 'rrq' : 'wrq', filename, mode: mode.toLowerCase(), options } }
    }
    case Opcode.DATA:
      if (buf.length < 4) return { ok: false, reason: 'short' }
      return { ok: true, packet: { op: 'data', block: buf.readUInt16BE(2), data: buf.subarray(4) } }
    case Opcode.ACK:
      if (buf.length < 4) return { ok: false, reason: 'short' }
      return { ok: true, packet: { op: 'ack', block: buf.readUInt16BE(2) } }
    case Opcode.ERROR: {
      if (buf.length < 4) return { ok: false, reason: 'short' }
      const end = buf.indexOf(0, 4)
      const message = buf.toString('latin1', 4, end < 0 ? Math.min(buf.length, 4 + MAX_STRING) : Math.min(end, 4 + MAX_STRING))
      return { ok: true, packet: { op: 'error', code: buf.readUInt16BE(2), message } }
    }
    case Opcode.OACK: {
      const parts = cstrings(buf, 2)
      if (!parts || parts.length % 2 !== 0) return { ok: false, reason: 'malformed_options' }
      const options = new Map<string, string>()
      for (let k = 0; k < parts.length; k += 2) options.set(parts[k]!.toLowerCase(), parts[k + 1]!)
      return { ok: true, packet: { op: 'oack', options } }
    }
    default:
      return { ok: false, reason: 'bad_opcode' }
  }
}

function strings(op: number, items: string[]): Buffer {
  const parts = items.map((s) => Buffer.from(s + '\0', 'latin1'))
  const head = Buffer.alloc(2)
  head.writeUInt16BE(op, 0)
  return Buffer.concat([head, ...parts])
}

export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode: string, options: Record<string, string> = {}): Buffer {
  return strings(op === 'rrq' ? Opcode.RRQ : Opcode.WRQ, [filename, mode, ...Object.entries(options).flat()])
}

export function encodeOack(options: Map<string, string>): Buffer {
  return strings(Opcode.OACK, [...options].flat())
}

export function encodeError(code: number, message: string): Buffer {
  const msg = Buffer.from(message.slice(0, 200) + '\0', 'latin1')
  const head = Buffer.alloc(4)
  head.writeUInt16BE(Opcode.ERROR, 0)
  head.writeUInt16BE(code, 2)
  return Buffer.concat([head, msg])
}

export function encodeAck(block: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt16BE(Opcode.ACK, 0)
  b.writeUInt16BE(block & 0xffff, 2)
  return b
}

/** The 4-byte DATA header; the payload is sent alongside it (scatter/gather, no copy). */
export function dataHeader(block: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt16BE(Opcode.DATA, 0)
  b.writeUInt16BE(block & 0xffff, 2)
  return b
}
