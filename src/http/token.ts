// The API bearer token: generated on first start into <state_dir>/api-token (mode 0600), or read from
// `server.api_token_file`. Compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export function defaultTokenFile(stateDir: string): string {
  return join(stateDir, 'api-token')
}

/** Reads the token file, creating it (0600, 256 random bits) if it does not exist. */
export async function loadOrCreateToken(file: string): Promise<string> {
  try {
    const st = await stat(file)
    if ((st.mode & 0o077) !== 0) await chmod(file, 0o600)
    const t = (await readFile(file, 'utf8')).trim()
    if (t.length < 16) throw new Error(`API token in ${file} is too short (16 characters at least)`)
    return t
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const token = randomBytes(32).toString('base64url')
  try {
    const fh = await open(file, 'wx', 0o600)
    try {
      await fh.writeFile(token + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    return token
  } catch (err) {
    // another process created it first
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim()
    throw err
  }
}

/** Reads a token file without creating it (CLI); undefined when absent or unreadable. */
export async function readToken(file: string): Promise<string | undefined> {
  try {
    const t = (await readFile(file, 'utf8')).trim()
    return t || undefined
  } catch {
    return undefined
  }
}

/** Constant-time comparison (hashes first, so lengths do not leak either). */
export function tokenMatches(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest()
  const b = createHash('sha256').update(given).digest()
  return timingSafeEqual(a, b)
}

/**
 * The token of an `Authorization: Bearer <token>` header: undefined without the header,
 * null when the header is there but is not a bearer token.
 */
export function bearerToken(header: string | undefined): string | null | undefined {
  if (header === undefined || header === '') return undefined
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m ? m[1]! : null
}
