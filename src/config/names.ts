// Small helpers for user-facing names: MAC normalisation, serials, durations, suggestions.
// (Switch port names: src/net/switch-port.ts; IPv4 addresses: src/net/ipv4.ts.)

/** Accepts dc:a6:32:00:00:03, DC-A6-32-00-00-03, dca632000003, dca6.3200.0003; returns lowercase colon form or null. */
export function normaliseMac(input: string): string | null {
  const hex = input.trim().toLowerCase().replace(/[:\-.]/g, '')
  if (!/^[0-9a-f]{12}$/.test(hex)) return null
  const sep = input.trim().match(/[:\-.]/g)
  // separators, when present, must be consistent with a real notation
  if (sep && !/^[0-9a-f]{2}([:-])([0-9a-f]{2}\1){4}[0-9a-f]{2}$/i.test(input.trim()) && !/^([0-9a-f]{4}\.){2}[0-9a-f]{4}$/i.test(input.trim())) return null
  return hex.match(/../g)!.join(':')
}

/** Raspberry Pi serial: 8 hex digits (the TFTP prefix) or the full 16-digit serial (low 8 digits are used). */
export function normaliseSerial(input: string): string | null {
  const s = input.trim().toLowerCase()
  if (/^[0-9a-f]{8}$/.test(s)) return s
  if (/^[0-9a-f]{16}$/.test(s)) return s.slice(8)
  return null
}

function levenshtein(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!
    dp[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return dp[b.length]!
}

const MAX_SUGGEST_CANDIDATES = 200
const MAX_SUGGEST_LENGTH = 64

/** The closest candidate, when it is close enough to be a likely typo. */
function suggest(input: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  // bounded work for huge files: a few hundred candidates of name length
  if (input.length > MAX_SUGGEST_LENGTH) return undefined
  let n = 0
  for (const c of candidates) {
    if (++n > MAX_SUGGEST_CANDIDATES) break
    if (c.length > MAX_SUGGEST_LENGTH) continue
    const d = levenshtein(input.toLowerCase(), c.toLowerCase())
    if (d < bestD) { bestD = d; best = c }
  }
  if (best === undefined) return undefined
  return bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined
}

export function didYouMean(input: string, candidates: Iterable<string>): string {
  const s = suggest(input, candidates)
  return s ? ` (did you mean "${s}"?)` : ''
}

/** "12h", "30m", "45s", "1d", or a plain number of seconds → seconds */
export function parseDuration(input: string | number): number | null {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : null
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$/.exec(input)
  if (!m) return null
  const n = Number(m[1])
  const mult = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd']
  return n * mult
}
