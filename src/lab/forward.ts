// Byte forwarding between a TCP or unix-socket listener and a target, for the lab's forwarders
// (./forward-main.ts inside a namespace, ./host-forward.ts on the host).
import { createConnection, type Socket } from 'node:net'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** connections open at once, at most */
export const MAX_CONNECTIONS = 64

export type Endpoint = { tcp: { host: string; port: number } } | { unix: string }

export function parseEndpoint(s: string): Endpoint {
  const tcp = /^tcp:(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s)
  if (tcp && Number(tcp[2]) < 65536) return { tcp: { host: tcp[1]!, port: Number(tcp[2]) } }
  const unix = /^unix:(\/\S+)$/.exec(s)
  if (unix) return { unix: unix[1]! }
  throw new Error(`not an endpoint: ${s} (tcp:<ipv4>:<port> or unix:/path)`)
}

export function connectTo(e: Endpoint): Socket {
  return 'tcp' in e ? createConnection(e.tcp.port, e.tcp.host) : createConnection(e.unix)
}

/** pipes two sockets both ways; either side ending or failing ends both */
export function splice(a: Socket, b: Socket): void {
  const end = (): void => { a.destroy(); b.destroy() }
  a.on('error', end).on('close', end)
  b.on('error', end).on('close', end)
  a.pipe(b)
  b.pipe(a)
}


/** argv that runs ./forward-main in a namespace: the TypeScript source under tsx, or the compiled .js (dist/) */
export function forwarderArgv(listen: string, connect: string): string[] {
  const ts = fileURLToPath(new URL('./forward-main.ts', import.meta.url))
  if (existsSync(ts)) return [process.execPath, '--import', import.meta.resolve('tsx'), ts, listen, connect]
  return [process.execPath, fileURLToPath(new URL('./forward-main.js', import.meta.url)), listen, connect]
}
