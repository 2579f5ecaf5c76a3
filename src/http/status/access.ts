// Who may read machine details (the status page, the event stream, the JSON API's reads) and who
// may act: the API token as `Authorization: Bearer`, or a logged-in browser session; reads are open
// to everyone only with `server.http.public_read: true`.
import type { NextFunction, Request, Response } from 'express'
import { bearerToken, tokenMatches } from '../token.js'
import { SESSION_COOKIE, readCookie, type Session, type SessionStore } from './session.js'

export interface AccessOptions {
  token: string | (() => string)
  sessions: SessionStore
  publicRead: boolean
}

export type Viewer =
  | { kind: 'bearer' }
  | { kind: 'session'; session: Session }
  | { kind: 'public' }
  /** a bearer header with a wrong or malformed token */
  | { kind: 'refused' }
  | { kind: 'anonymous' }

export function tokenOf(o: AccessOptions): string {
  return typeof o.token === 'function' ? o.token() : o.token
}

export function viewerOf(req: Request, o: AccessOptions): Viewer {
  const bearer = bearerToken(req.headers.authorization)
  if (bearer !== undefined) return bearer !== null && tokenMatches(tokenOf(o), bearer) ? { kind: 'bearer' } : { kind: 'refused' }
  const session = o.sessions.get(readCookie(req.headers.cookie, SESSION_COOKIE))
  if (session) return { kind: 'session', session }
  return o.publicRead ? { kind: 'public' } : { kind: 'anonymous' }
}

function refuse(res: Response, v: Viewer): void {
  if (v.kind === 'refused') {
    res.status(403).json({ error: 'invalid token' })
    return
  }
  res.status(401).set('WWW-Authenticate', 'Bearer realm="bootlab"').json({ error: 'authorization required' })
}

/** JSON/stream reads: bearer, session, or public_read. */
export function requireRead(o: AccessOptions) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const v = viewerOf(req, o)
    if (v.kind === 'refused' || v.kind === 'anonymous') return refuse(res, v)
    res.locals.viewer = v
    next()
  }
}

/** JSON API mutations: the bearer token only (a browser acts through the page's CSRF-checked forms). */
export function requireToken(o: Pick<AccessOptions, 'token'>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const bearer = bearerToken(req.headers.authorization)
    if (bearer === undefined) return refuse(res, { kind: 'anonymous' })
    if (bearer === null || !tokenMatches(tokenOf(o as AccessOptions), bearer)) return refuse(res, { kind: 'refused' })
    next()
  }
}
