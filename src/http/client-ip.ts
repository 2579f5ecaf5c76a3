import type { Request } from 'express'
import { stripV4Mapped } from '../net/ipv4.js'

/** The peer's IPv4 address as the machine module knows it (no ::ffff: prefix; X-Forwarded-For is ignored). */
export function clientIp(req: Request): string | undefined {
  const a = req.socket.remoteAddress
  if (!a) return undefined
  return stripV4Mapped(a)
}
