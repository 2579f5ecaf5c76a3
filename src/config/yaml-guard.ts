// Bounds on the YAML text before and while it is parsed, so that one edit (a 10 MB file, 400k keys,
// an alias bomb) can never pin the CPU: a size cap, a count of keys and values taken by the lexer
// before anything is built, duplicate keys found with a Set (the yaml library's own check is
// quadratic), and alias expansion capped with its position reported.
import { open } from 'node:fs/promises'
import { CST, isScalar, Lexer, visit, type Document } from 'yaml'

/** the largest config file bootlab reads (docs/security.md) */
export const MAX_CONFIG_BYTES = 1024 * 1024
/** keys, values, list items and separators (":", ",", "-") in one file, as the lexer counts them */
export const MAX_CONFIG_NODES = 40_000
/** aliases (*name) expanded when the document is turned into data */
export const MAX_ALIAS_COUNT = 1000

export interface GuardProblem { offset: number; message: string }

/** lexer tokens that start a node (or stand for an empty one): an upper bound of the node count */
const NODE_TOKENS = new Set(['scalar', 'single-quoted-scalar', 'double-quoted-scalar', 'alias', 'flow-map-start', 'flow-seq-start', 'seq-item-ind', 'map-value-ind', 'explicit-key-ind', 'comma'])
/** lexer markers that stand for no source text */
const MARKERS = new Set(['doc-mode', 'flow-error-end', 'scalar'])

/** Before parsing: the size cap, then the node cap (the lexer stops at the first node too many). */
export function checkText(text: string): GuardProblem | null {
  if (text.length > MAX_CONFIG_BYTES || Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    return { offset: 0, message: `the file is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB (${Buffer.byteLength(text)} bytes); bootlab refuses it (docs/security.md)` }
  }
  let nodes = 0
  let offset = 0
  for (const tok of new Lexer().lex(text)) {
    const kind = CST.tokenType(tok)
    if (kind && NODE_TOKENS.has(kind) && ++nodes > MAX_CONFIG_NODES) {
      return { offset, message: `the file has more than ${MAX_CONFIG_NODES} keys and values; bootlab refuses it (docs/security.md)` }
    }
    if (!kind || !MARKERS.has(kind)) offset += tok.length
  }
  return null
}

/** After parsing (with uniqueKeys off): every key that appears twice in one mapping, and the first alias. */
export function scanDocument(doc: Document): { duplicates: number[]; firstAlias: number | undefined } {
  const duplicates: number[] = []
  let firstAlias: number | undefined
  visit(doc, {
    Map(_k, map) {
      const seen = new Set<string>()
      for (const pair of map.items) {
        // scalar keys only (what a config uses); a repeated one is an error, as with uniqueKeys
        if (!isScalar(pair.key)) continue
        const key = String(pair.key.value)
        if (seen.has(key)) duplicates.push(pair.key.range?.[0] ?? 0)
        else seen.add(key)
      }
    },
    Alias(_k, a) {
      if (firstAlias === undefined) firstAlias = a.range?.[0]
    },
  })
  return { duplicates, firstAlias }
}

/**
 * The file's text, read no further than one byte past the cap (a larger file is then refused by
 * checkText without being read whole). Throws what open/read throw.
 */
export async function readConfigText(file: string): Promise<string> {
  const fh = await open(file, 'r')
  try {
    // sized to the file, not to the cap: the watcher reads it again whenever it may have changed
    let buf = Buffer.allocUnsafe(Math.min((await fh.stat()).size, MAX_CONFIG_BYTES) + 1)
    let n = 0
    for (;;) {
      if (n === buf.length) {
        if (n > MAX_CONFIG_BYTES) break
        // it grew since the stat: room up to one byte past the cap
        const bigger = Buffer.allocUnsafe(MAX_CONFIG_BYTES + 1)
        buf.copy(bigger, 0, 0, n)
        buf = bigger
      }
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null)
      if (bytesRead === 0) break
      n += bytesRead
    }
    return buf.subarray(0, n).toString('utf8')
  } finally {
    await fh.close()
  }
}
