// A hostile host on the storm's LAN (fixture protocol, src/lab/fixture.ts), bounded in count, rate
// and time. argv[2] is JSON:
//   { "mode": "halfopen", "server": ip, "file": name, "count": 10000, "rate": 500, "holdMs": 4000 }
//     RRQs (blksize 1468, tsize 0) from a fresh port each, never acknowledged; each socket stays
//     open (no ICMP unreachable tells the server) for holdMs, then closes
//   { "mode": "dhcp-flood", "count": 10000, "rate": 1000 }
//     DISCOVERs from random (locally administered) MACs, never followed by a REQUEST
// Prints {"ready":true}, then {"event":"done", sent, answers, ms} and exits.
import { createSocket, type Socket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { encodePacket, MessageType, Opt, BROADCAST_FLAG, type DhcpPacket } from '../../src/dhcp/packet.js'
import { encodeRequest } from '../../src/tftp/packet.js'

interface Spec { mode: 'halfopen' | 'dhcp-flood'; server?: string; file?: string; count: number; rate: number; holdMs?: number }

const spec = JSON.parse(process.argv[2]!) as Spec
const count = Math.min(spec.count, 50_000)
const rate = Math.min(spec.rate, 5_000)
const t0 = Date.now()
let sent = 0
let answers = 0
let sendErrors = 0
console.log(JSON.stringify({ ready: true }))

/** calls fn `count` times at `rate` per second (batches every 20 ms) */
async function paced(fn: () => void): Promise<void> {
  while (sent < count) {
    const due = Math.min(count, Math.floor(((Date.now() - t0) / 1000) * rate) + 1)
    while (sent < due) { fn(); sent++ }
    await new Promise((r) => setTimeout(r, 20))
  }
}

if (spec.mode === 'halfopen') {
  const rrq = encodeRequest('rrq', spec.file ?? 'start4.elf', 'octet', { tsize: '0', blksize: '1468' })
  const open = new Set<Socket>()
  await paced(() => {
    const s = createSocket('udp4')
    s.on('error', () => { /* ignore */ })
    s.on('message', () => { answers++ })
    s.bind(0, () => { s.send(rrq, 69, spec.server!) })
    open.add(s)
    setTimeout(() => { open.delete(s); try { s.close() } catch { /* closed */ } }, spec.holdMs ?? 4000)
  })
  while (open.size > 0) await new Promise((r) => setTimeout(r, 100))
} else {
  const s = createSocket({ type: 'udp4', reuseAddr: true })
  s.on('error', () => { /* ignore */ })
  await new Promise<void>((r) => s.bind(68, '0.0.0.0', () => r()))
  s.setBroadcast(true)
  s.on('message', () => { answers++ })
  await paced(() => {
    const mac = randomBytes(6)
    mac[0] = (mac[0]! & 0xfc) | 0x02
    const chaddr = Buffer.alloc(16)
    mac.copy(chaddr)
    const p: DhcpPacket = {
      op: 1, htype: 1, hlen: 6, hops: 0, xid: randomBytes(4).readUInt32BE(0), secs: 0, flags: BROADCAST_FLAG,
      ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: Buffer.alloc(0), file: Buffer.alloc(0),
      options: new Map([[Opt.MESSAGE_TYPE, Buffer.from([MessageType.DISCOVER])], [Opt.PARAMETER_LIST, Buffer.from([1, 3, 6, 15])]]),
    }
    s.send(encodePacket(p), 67, '255.255.255.255', (err) => { if (err) sendErrors++ })
  })
  await new Promise((r) => setTimeout(r, 1000))
  s.close()
}
console.log(JSON.stringify({ event: 'done', sent: sent - sendErrors, answers, ms: Date.now() - t0 }))
process.exit(0)
