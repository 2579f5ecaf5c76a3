// Option negotiation: RFC 2347 (OACK), 2348 (blksize), 2349 (timeout, tsize), 7440 (windowsize).
// Options the server does not know, or whose values are invalid, are left out of the OACK (the
// client then falls back to the RFC 1350 default for them), as RFC 2347 allows.

export interface OptionLimits {
  /** largest block size granted (RFC 2348 allows 8–65464) */
  maxBlksize: number
  /** largest window granted (RFC 7440 allows 1–65535) */
  maxWindowsize: number
}

export interface Negotiated {
  blksize: number
  windowsize: number
  /** client-requested retransmission timeout in ms (RFC 2349), or null */
  timeoutMs: number | null
  /** whether tsize was asked for (answered with the size of the file) */
  tsize: boolean
  /** the options to acknowledge in an OACK, in the order asked; empty → no OACK, DATA 1 directly */
  ack: Map<string, string>
}

const DEFAULT_BLKSIZE = 512

function intValue(v: string): number | null {
  if (!/^[0-9]{1,10}$/.test(v)) return null
  return Number(v)
}

/**
 * Decides the transfer parameters from the requested options. `size` is the number of bytes the
 * client will receive (after netascii conversion), known before the OACK is sent.
 */
export function negotiate(requested: Map<string, string>, size: number, limits: OptionLimits): Negotiated {
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutMs: null, tsize: false, ack: new Map() }
  for (const [name, value] of requested) {
    const n = intValue(value)
    switch (name) {
      case 'blksize':
        if (n === null || n < 8) break
        out.blksize = Math.min(n, limits.maxBlksize, 65464)
        out.ack.set(name, String(out.blksize))
        break
      case 'windowsize':
        if (n === null || n < 1 || n > 65535) break
        out.windowsize = Math.min(n, limits.maxWindowsize)
        out.ack.set(name, String(out.windowsize))
        break
      case 'timeout':
        if (n === null || n < 1 || n > 255) break
        out.timeoutMs = n * 1000
        out.ack.set(name, String(n))
        break
      case 'tsize':
        // a read request carries tsize 0; the OACK carries the real size. An empty file gets no
        // tsize in the OACK: curl rejects "tsize 0" as invalid (RFC 2349 lets the server omit it)
        if (n === null || size === 0) break
        out.tsize = true
        out.ack.set(name, String(size))
        break
      default:
        break
    }
  }
  return out
}
