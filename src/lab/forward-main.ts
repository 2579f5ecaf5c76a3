// A byte forwarder, run inside a lab namespace (fixture protocol, src/lab/fixture.ts): accepts on
// <listen> and pipes each connection to <connect>. Each end is tcp:<ipv4>:<port> or unix:<path>.
// A unix socket is the bridge between namespaces (the file system is shared): the lab's PoE
// switch listens on one in the demo's own process, bootlab reaches it as 127.0.0.1:2222 in its
// namespace; the status page goes the other way, to the host's 127.0.0.1.
//   node --import tsx src/lab/forward-main.ts tcp:127.0.0.1:2222 unix:/tmp/x/switch.sock
import { createServer } from 'node:net'
import { rmSync } from 'node:fs'
import { MAX_CONNECTIONS, connectTo, parseEndpoint, splice } from './forward.js'

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

main().catch((err: unknown) => { process.stderr.write(`forward-main: ${err instanceof Error ? err.message : String(err)}\n`); process.exit(1) })
