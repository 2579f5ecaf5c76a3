// DNS rebinding guard: a browser tricked into talking to bootlab under an attacker's name sends that
// name in `Host`. The status page, login, API and event stream answer only to names bootlab knows
// (the advertised and listen addresses, loopback, this machine's hostname, `server.http.hosts`);
// anything else gets 421. Boot paths stay open to any Host: firmware and installers send odd
// values (bare IPs with or without port, no port, names from DHCP option 66).
import { hostname } from 'node:os'
import type { Request, Response, NextFunction, RequestHandler } from 'express'

/** paths firmware, iPXE, GRUB and installers fetch: not checked */
const BOOT_PATHS = /^\/(?:boot\.ipxe$|boot\/|grub\.cfg$|grub\/|files(?:\/|$)|cloud-init\/|healthz$)/

/** `Host` without its port, lower case, IPv6 brackets kept: "[::1]", "bootlab.lan", "10.0.0.1" */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end > 0 ? h.slice(0, end + 1) : h
  }
  const colon = h.indexOf(':')
  return (colon >= 0 ? h.slice(0, colon) : h).replace(/\.$/, '')
}

export interface HostCheckOptions {
  /** the names and addresses accepted besides loopback and the hostname (advertised, listen, server.http.hosts) */
  names: () => Iterable<string | undefined>
  /** counted refusals (metrics) */
  stats?: { refused: number }
}

export function allowedHosts(extra: Iterable<string | undefined>): Set<string> {
  const host = hostname().toLowerCase()
  const names = new Set<string>(['localhost', '127.0.0.1', '[::1]', host, `${host}.local`])
  for (const n of extra) {
    if (!n || n === '0.0.0.0' || n === '::') continue
    names.add(hostName(n.includes(':') && !n.startsWith('[') && n.split(':').length > 2 ? `[${n}]` : n))
  }
  return names
}

/** Refuses (421) requests for the status page and API whose Host names something bootlab is not. */
export function hostCheck(opts: HostCheckOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.host
    // no Host (HTTP/1.0 tools): not a browser, nothing to rebind
    if (header === undefined || BOOT_PATHS.test(req.path)) return next()
    if (allowedHosts(opts.names()).has(hostName(header))) return next()
    if (opts.stats) opts.stats.refused++
    res.status(421).type('text/plain').send('misdirected request: this Host is not one bootlab answers to (add it to server.http.hosts)\n')
  }
}
