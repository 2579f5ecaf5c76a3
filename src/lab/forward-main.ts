// A byte forwarder, run inside a lab namespace (fixture protocol, src/lab/fixture.ts): accepts on
// <listen> and pipes each connection to <connect>. Each end is tcp:<ipv4>:<port> or unix:<path>.
// A unix socket is the bridge between namespaces (the file system is shared): the lab's PoE
// switch listens on one in the demo's own process, bootlab reaches it as 127.0.0.1:2222 in its
// namespace; the status page goes the other way, to the host's 127.0.0.1.
//   node --import tsx src/lab/forward-main.ts tcp:127.0.0.1:2222 unix:/tmp/x/switch.sock
import { createConnection, createServer, type Socket } from 'node:net'
import { rmSync } from 'node:fs'

/** connections open at once, at most */
const MAX_CONNECTIONS = 64

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

async function main(): Promise<void> {
  const [listenArg, connectArg] = process.argv.slice(2)
  if (!listenArg || !connectArg) throw new Error('usage: forward-main <listen> <connect>')
  const listen = parseEndpoint(listenArg)
  const target = parseEndpoint(connectArg)
  let open = 0
  const server = createServer((sock) => {
    if (open >= MAX_CONNECTIONS) { sock.destroy(); return }
    open++
    sock.once('close', () => { open-- })
    splice(sock, connectTo(target))
  })
  server.maxConnections = MAX_CONNECTIONS
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    if ('tcp' in listen) server.listen(listen.tcp.port, listen.tcp.host, () => resolve())
    else { rmSync(listen.unix, { force: true }); server.listen(listen.unix, () => resolve()) }
  })
  process.stdout.write(JSON.stringify({ ready: true, listen: listenArg, connect: connectArg }) + '\n')
  process.once('SIGTERM', () => { server.close(); process.exit(0) })
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  main().catch((err: unknown) => { process.stderr.write(`forward-main: ${err instanceof Error ? err.message : String(err)}\n`); process.exit(1) })
}
