// Reaches a TCP service inside a lab namespace from the host's loopback, without touching any
// real interface: a listener on host 127.0.0.1:<port> pipes each connection to a unix socket, and
// a forwarder inside the namespace (./forward-main.ts) pipes that socket to the service. Used for
// bootlab's status page and API during `bootlab demo` (http://127.0.0.1:<port>/).
import { createServer, type Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { MAX_CONNECTIONS, connectTo, forwarderArgv, splice } from './forward.js'
import { startFixture, type Fixture } from './fixture.js'
import type { Lab } from './netns.js'


export interface HostForward {
  /** http://127.0.0.1:<port> */
  url: string
  port: number
  stop(): Promise<void>
}

/** forwards host 127.0.0.1:hostPort (0: a free port) to `target` (tcp:<ip>:<port>) as seen from `ns` */
export async function forwardToHost(lab: Lab, ns: string, target: string, workDir: string, hostPort = 0): Promise<HostForward> {
  const sock = join(workDir, `fwd-${Math.random().toString(36).slice(2, 8)}.sock`)
  const inner: Fixture = await startFixture(lab, ns, forwarderArgv(`unix:${sock}`, target))
  let server: Server
  const open = new Set<import('node:net').Socket>()
  try {
    server = createServer((c) => {
      open.add(c)
      c.once('close', () => open.delete(c))
      splice(c, connectTo({ unix: sock }))
    })
    server.maxConnections = MAX_CONNECTIONS
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(hostPort, '127.0.0.1', () => resolve())
    })
  } catch (err) {
    await inner.stop()
    throw err
  }
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      const closed = new Promise<void>((r) => server.close(() => r()))
      for (const c of open) c.destroy()
      await closed
      await inner.stop()
    },
  }
}
