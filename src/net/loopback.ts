// Whether a URL's hostname stays on this machine (localhost, 127.0.0.0/8, [::1]).
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname)
}
