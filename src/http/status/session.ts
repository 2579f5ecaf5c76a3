// Browser sessions for the status page: logging in with the API token once gives an HttpOnly,
// SameSite=Strict cookie holding a random session id (never the token). Sessions live in memory,
// expire, and are capped (the oldest goes first). Each session has its own CSRF token, which every
// form on the page carries. Login attempts are rate-limited per source address.
import { createHash, randomBytes } from 'node:crypto'
import { tokenMatches } from '../token.js'

export const SESSION_COOKIE = 'bootlab_session'

export interface Session {
  /** sha256 of the cookie value: the store never holds a usable id */
  key: string
  csrf: string
  created: number
  expires: number
}

export interface SessionOptions {
  /** session lifetime (default 12 h) */
  ttlMs?: number
  /** sessions kept at most (default 64); the oldest is dropped for a new one */
  max?: number
  now?: () => number
}

const keyOf = (id: string): string => createHash('sha256').update(id).digest('hex')

export class SessionStore {
  readonly #sessions = new Map<string, Session>()
  readonly ttlMs: number
  readonly #max: number
  readonly #now: () => number

  constructor(o: SessionOptions = {}) {
    this.ttlMs = o.ttlMs ?? 12 * 3600_000
    this.#max = Math.max(1, o.max ?? 64)
    this.#now = o.now ?? Date.now
  }

  /** A new session: the cookie value to hand out and the session. */
  create(): { id: string; session: Session } {
    this.#sweep()
    while (this.#sessions.size >= this.#max) this.#sessions.delete(this.#sessions.keys().next().value!)
    const id = randomBytes(32).toString('base64url')
    const now = this.#now()
    const session: Session = { key: keyOf(id), csrf: randomBytes(24).toString('base64url'), created: now, expires: now + this.ttlMs }
    this.#sessions.set(session.key, session)
    return { id, session }
  }

  get(id: string | undefined): Session | undefined {
    if (!id || id.length > 100) return undefined
    const s = this.#sessions.get(keyOf(id))
    if (!s) return undefined
    if (s.expires <= this.#now()) {
      this.#sessions.delete(s.key)
      return undefined
    }
    return s
  }

  delete(id: string | undefined): void {
    if (id) this.#sessions.delete(keyOf(id))
  }

  get size(): number {
    return this.#sessions.size
  }

  #sweep(): void {
    const now = this.#now()
    for (const [k, s] of this.#sessions) if (s.expires <= now) this.#sessions.delete(k)
  }
}

/** The form's CSRF token against the session's, in constant time. */
export function csrfMatches(session: Session | undefined, given: unknown): boolean {
  return session !== undefined && typeof given === 'string' && given !== '' && tokenMatches(session.csrf, given)
}

/** Set-Cookie value for a session (Secure is added when the page was reached over https). */
export function sessionCookie(id: string, maxAgeMs: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeMs / 1000)}${secure ? '; Secure' : ''}`
}

export function clearedCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`
}

/** The value of one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined
  for (const part of header.split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return undefined
}

export interface LimiterOptions {
  /** failed attempts allowed per source within the window (default 5) */
  attempts?: number
  windowMs?: number
  /** sources tracked at most (default 1024; the oldest entry goes first) */
  maxSources?: number
  now?: () => number
}

/** Failed logins per source address in a fixed window. */
export class LoginLimiter {
  readonly #fails = new Map<string, { count: number; since: number }>()
  readonly #attempts: number
  readonly #windowMs: number
  readonly #max: number
  readonly #now: () => number

  constructor(o: LimiterOptions = {}) {
    this.#attempts = o.attempts ?? 5
    this.#windowMs = o.windowMs ?? 60_000
    this.#max = o.maxSources ?? 1024
    this.#now = o.now ?? Date.now
  }

  /** seconds until this source may try again, 0 when it may now */
  blockedFor(source: string): number {
    const e = this.#fails.get(source)
    if (!e) return 0
    const left = e.since + this.#windowMs - this.#now()
    if (left <= 0) {
      this.#fails.delete(source)
      return 0
    }
    return e.count >= this.#attempts ? Math.ceil(left / 1000) : 0
  }

  failed(source: string): void {
    const now = this.#now()
    const e = this.#fails.get(source)
    if (e && e.since + this.#windowMs > now) {
      e.count++
      return
    }
    this.#fails.delete(source)
    while (this.#fails.size >= this.#max) this.#fails.delete(this.#fails.keys().next().value!)
    this.#fails.set(source, { count: 1, since: now })
  }

  succeeded(source: string): void {
    this.#fails.delete(source)
  }
}
