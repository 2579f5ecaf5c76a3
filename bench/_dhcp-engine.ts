// JavaScript cost of a DORA in the DHCP engine alone (no sockets, lease store in memory), steadier
// than anything measured over the network on a shared machine:
//   npx tsx bench/_dhcp-engine.ts [doras=200000] [clients=200]
// Relayed requests (giaddr) like perfdhcp's, each client's DISCOVER then REQUEST, clients in turn.
import { DhcpEngine } from '../src/dhcp/engine.js'
import { Opt, decodePacket, MessageType } from '../src/dhcp/packet.js'
import { silentLogger } from '../src/log.js'
import { TestPolicy, clientPacket } from '../test/dhcp/helpers.js'

const doras = Number(process.argv[2] ?? 200_000)
const clients = Number(process.argv[3] ?? 200)
const SERVER = '10.78.0.1'
const RELAY = '10.78.0.2'
const e = new DhcpEngine({
  mode: 'full', serverAddress: SERVER, interfaceSubnet: '10.78.0.0/16', policy: new TestPolicy(SERVER),
  pools: [{ subnet: '10.78.0.0/16', start: '10.78.1.0', end: '10.78.255.254', leaseSeconds: 3600 }],
  logger: silentLogger(), limits: { ratePerClient: 1e9, rateTotal: 1e9 },
})
await e.load()
const macs = Array.from({ length: clients }, (_, i) => `00:0c:01:02:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`)
const discovers = macs.map((mac) => clientPacket({ type: MessageType.DISCOVER, mac, giaddr: RELAY, options: [[Opt.PARAMETER_LIST, [1, 3, 6, 15, 28, 51, 58, 59]]] }))
const src = { address: RELAY, port: 67 }
const requests: Buffer[] = []
for (let i = 0; i < clients; i++) {
  const offer = decodePacket((await e.handle(discovers[i]!, src, 'dhcp'))!.buf)
  requests.push(clientPacket({ type: MessageType.REQUEST, mac: macs[i]!, giaddr: RELAY, options: [[Opt.REQUESTED_IP, offer.yiaddr.split('.').map(Number)], [Opt.SERVER_ID, SERVER.split('.').map(Number)], [Opt.PARAMETER_LIST, [1, 3, 6, 15, 28, 51, 58, 59]]] }))
}
for (let round = 0; round < 3; round++) {
  const cpu0 = process.cpuUsage()
  for (let n = 0; n < doras; n++) {
    const i = n % clients
    await e.handle(discovers[i]!, src, 'dhcp')
    await e.handle(requests[i]!, src, 'dhcp')
  }
  const cpu = process.cpuUsage(cpu0)
  console.log(`round ${round}: ${((cpu.user + cpu.system) / doras).toFixed(1)} µs CPU per DORA (${doras} DORAs, ${clients} clients)`)
}
const s = e.stats()
console.log(`answered ${s.answered}, dropped ${JSON.stringify(s.dropped)}`)
