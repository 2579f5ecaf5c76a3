// UDP sockets that receive and send on one interface only. Preferred: the native helper
// (native/bindsock) makes a socket with SO_BINDTODEVICE + SO_REUSEADDR + SO_BROADCAST bound to
// 0.0.0.0:<port>, which node:dgram wraps with bind({ fd }); it receives broadcasts from that interface
// only and its broadcasts leave through it whatever the routing table says. Fallback (helper not
// built): one socket on 0.0.0.0:<port> to receive (it hears every interface; the server then filters
// what it can) and one on <interface address>:<port> to send, which makes limited broadcasts leave
// through that interface.
import dgram from 'node:dgram'
import { createRequire } from 'node:module'
import type { Logger } from '../log.js'

interface BindSockAddon {
  openBoundUdpSocket(ifname: string, port: number): number
  closeFd(fd: number): void
}

let addon: BindSockAddon | null | undefined

/** receive buffer of the DHCP socket (the native helper sets the same size) */
const RECV_BUFFER_BYTES = 2 << 20

/** The native helper, or null when it is not built (or BOOTLAB_NO_NATIVE=1). */
export function loadBindSock(): BindSockAddon | null {
  if (addon !== undefined) return addon
  if (process.env.BOOTLAB_NO_NATIVE === '1') return (addon = null)
  const require = createRequire(import.meta.url)
  // src/dhcp/ and dist/dhcp/ both sit two levels below the project root
  try { addon = require('../../native/bindsock/build/Release/bindsock.node') as BindSockAddon } catch { addon = null }
  return addon
}

export interface InterfaceSocket {
  /** 'device': SO_BINDTODEVICE; 'address': fallback (receives from all interfaces) */
  readonly binding: 'device' | 'address'
  /** sends one datagram; `done` gets the error, if any */
  send(buf: Buffer, port: number, address: string, done: (err: Error | null) => void): void
  close(): Promise<void>
}

export type MessageHandler = (msg: Buffer, rinfo: dgram.RemoteInfo) => void

function bindSocket(sock: dgram.Socket, opts: dgram.BindOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err)
    sock.once('error', onError)
    sock.bind(opts, () => {
      sock.off('error', onError)
      resolve()
    })
  })
}

function sendOn(sock: dgram.Socket, buf: Buffer, port: number, address: string, done: (err: Error | null) => void): void {
  try {
    sock.send(buf, port, address, (err) => done(err ?? null))
  } catch (err) {
    done(err as Error) // a closed socket throws
  }
}

function closeSocket(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try { sock.close(() => resolve()) } catch { resolve() }
  })
}

export async function openInterfaceSocket(ifname: string, address: string, port: number, onMessage: MessageHandler, logger: Logger): Promise<InterfaceSocket> {
  const native = loadBindSock()
  if (native) {
    const fd = native.openBoundUdpSocket(ifname, port)
    const sock = dgram.createSocket({ type: 'udp4' })
    sock.on('message', onMessage)
    sock.on('error', (err) => logger.error({ err, ifname, port }, 'dhcp socket error'))
    try {
      await bindSocket(sock, { fd })
    } catch (err) {
      native.closeFd(fd)
      throw err
    }
    sock.setBroadcast(true)
    return {
      binding: 'device',
      send: (buf, p, a, done) => sendOn(sock, buf, p, a, done),
      close: () => closeSocket(sock),
    }
  }
  logger.warn({ ifname, port }, 'native socket helper not built (npm run build:native): DHCP falls back to address binding and hears broadcasts from every interface')
  const rx = dgram.createSocket({ type: 'udp4', reuseAddr: true })
  const tx = dgram.createSocket({ type: 'udp4', reuseAddr: true })
  for (const s of [rx, tx]) {
    s.on('message', onMessage)
    s.on('error', (err) => logger.error({ err, ifname, port }, 'dhcp socket error'))
  }
  await bindSocket(rx, { port, address: '0.0.0.0', exclusive: false })
  // bursts wait in the kernel instead of being dropped (the native helper forces 2 MiB; here the
  // kernel caps the size at net.core.rmem_max)
  try { rx.setRecvBufferSize(RECV_BUFFER_BYTES) } catch { /* keep the default */ }
  try {
    await bindSocket(tx, { port, address, exclusive: false })
  } catch (err) {
    await closeSocket(rx)
    throw err
  }
  tx.setBroadcast(true)
  return {
    binding: 'address',
    send: (buf, p, a, done) => sendOn(tx, buf, p, a, done),
    close: async () => { await closeSocket(rx); await closeSocket(tx) },
  }
}
