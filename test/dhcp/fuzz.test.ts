// 100,000 mutated packets (from the real vectors and from packets of every client class) through the
// engine in proxy and full mode: nothing throws, every packet is counted exactly once as answered,
// accepted or dropped, and every reply decodes and respects the size limits.
import t from 'tap'
import { DhcpEngine } from '../../src/dhcp/engine.js'
import { DEFAULT_MAX_PAYLOAD, MessageType, Opt, decodePacket } from '../../src/dhcp/packet.js'
import { silentLogger } from '../../src/log.js'
import { TestPolicy, clientPacket, vector } from './helpers.js'

const SERVER = '10.0.0.1'
const TOTAL = 100_000

/** small deterministic PRNG (mulberry32) so a failure can be replayed */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function seeds(): Buffer[] {
  const mac = '52:54:00:12:34:56'
  return [
    vector('pi4-eeprom-discover'),
    vector('pi4-eeprom-request'),
    vector('rpi4-edk2-uefi-pxe-discover'),
    vector('pi4-dnsmasq-proxy-offer'),
    clientPacket({ type: MessageType.DISCOVER, mac, options: [[Opt.VENDOR_CLASS, 'PXEClient:Arch:00007:UNDI:003016'], [Opt.CLIENT_ARCH, [0, 7]], [Opt.MAX_MESSAGE_SIZE, [5, 0xc0]]] }),
    clientPacket({ type: MessageType.DISCOVER, mac, options: [[Opt.USER_CLASS, 'iPXE'], [Opt.IPXE_ENCAP, [1, 1, 1]], [Opt.CLIENT_ARCH, [0, 0]]] }),
    clientPacket({ type: MessageType.DISCOVER, mac, options: [[Opt.VENDOR_CLASS, 'HTTPClient:Arch:00019:UNDI:003000'], [Opt.CLIENT_ARCH, [0, 19]]] }),
    clientPacket({ type: MessageType.DISCOVER, mac, giaddr: '10.0.0.254', options: [[Opt.RELAY_AGENT_INFO, [1, 2, 3, 4]], [Opt.CLIENT_ID, [1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]]] }),
    clientPacket({ type: MessageType.REQUEST, mac, options: [[Opt.REQUESTED_IP, [10, 0, 0, 100]], [Opt.SERVER_ID, [10, 0, 0, 1]]] }),
    clientPacket({ type: MessageType.REQUEST, mac, ciaddr: '10.0.0.100' }),
    clientPacket({ type: MessageType.RELEASE, mac, ciaddr: '10.0.0.100' }),
    clientPacket({ type: MessageType.DECLINE, mac, options: [[Opt.REQUESTED_IP, [10, 0, 0, 100]]] }),
    clientPacket({ type: MessageType.INFORM, mac, ciaddr: '10.0.0.9', options: [[Opt.VENDOR_CLASS, 'PXEClient:Arch:00000:UNDI:002001']] }),
    clientPacket({ type: MessageType.REQUEST, mac, ciaddr: '10.0.0.9', options: [[Opt.VENDOR_CLASS, 'PXEClient:Arch:00011:UNDI:003000'], [Opt.VENDOR_SPECIFIC, [71, 4, 0, 0, 0, 0, 255]]] }),
  ]
}

function mutate(src: Buffer, rnd: () => number): Buffer {
  const pick = (n: number): number => Math.floor(rnd() * n)
  let b = Buffer.from(src)
  const rounds = 1 + pick(4)
  for (let r = 0; r < rounds; r++) {
    switch (pick(8)) {
      case 0: { const n = 1 + pick(8); for (let i = 0; i < n; i++) b[pick(b.length)] = pick(256); break } // random bytes
      case 1: b = b.subarray(0, pick(b.length + 1)); break // truncate
      case 2: b = Buffer.concat([b, Buffer.from(Array.from({ length: pick(64) }, () => pick(256)))]); break // append garbage
      case 3: if (b.length > 241) b[240 + pick(b.length - 240)] = pick(256); break // hit the options area
      case 4: if (b.length > 242) { const i = 240 + pick(b.length - 241); b[i + 1] = pick(256) } break // likely an option length
      case 5: { const opt = Buffer.from([[52, 53, 43, 60, 61, 77, 82, 93, 97, 175, 55, 57][pick(12)]!, pick(20), ...Array.from({ length: pick(20) }, () => pick(256))]); b = Buffer.concat([b.subarray(0, 240 + pick(Math.max(1, b.length - 240))), opt, b.subarray(240)]); break } // splice an option
      case 6: if (b.length > 242) { const i = b.indexOf(53, 240); if (i > 0 && i + 2 < b.length) b[i + 2] = pick(10) } break // message type
      default: b = Buffer.from(Array.from({ length: pick(600) }, () => pick(256))) // pure noise
    }
  }
  return b
}

t.test(`${TOTAL} mutated packets: no crash, every one counted`, async (t) => {
  const rnd = prng(0x5eed)
  const corpus = seeds()
  const engines = [
    new DhcpEngine({ mode: 'proxy', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy: new TestPolicy(SERVER), logger: silentLogger() }),
    new DhcpEngine({ mode: 'full', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy: new TestPolicy(SERVER), logger: silentLogger(),
      pools: [{ subnet: '10.0.0.0/24', start: '10.0.0.100', end: '10.0.0.200', router: '10.0.0.1', dns: ['10.0.0.53'], leaseSeconds: 600 }] }),
  ]
  let replies = 0
  let badReplies = 0
  let thrown = 0
  for (let i = 0; i < TOTAL; i++) {
    const e = engines[i % 2]!
    const pkt = mutate(corpus[Math.floor(rnd() * corpus.length)]!, rnd)
    try {
      const tx = await e.handle(pkt, { address: rnd() < 0.5 ? '0.0.0.0' : '10.0.0.9', port: 68 }, rnd() < 0.8 ? 'dhcp' : 'pxe')
      if (tx) {
        replies++
        const r = decodePacket(tx.buf)
        if (tx.buf.length < 300 || r.op !== 2) badReplies++
        if (tx.buf.length > DEFAULT_MAX_PAYLOAD) {
          const req = (() => { try { return decodePacket(pkt) } catch { return null } })()
          const max = req?.options.get(Opt.MAX_MESSAGE_SIZE)
          if (!max || max.length !== 2 || tx.buf.length > max.readUInt16BE(0) - 28) badReplies++
        }
      }
    } catch {
      thrown++
    }
  }
  t.equal(thrown, 0, 'handle() never threw')
  t.equal(badReplies, 0, 'every reply decodes, is at least 300 bytes and within the client\'s size limit')
  let received = 0
  let answered = 0
  for (const e of engines) {
    const s = e.stats()
    const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0)
    t.equal(s.received, s.answered + s.accepted + dropped, `${s.answered} answered + ${s.accepted} accepted + ${dropped} dropped = received`)
    t.notOk(s.dropped['internal-error'], 'no internal errors')
    received += s.received
    answered += s.answered
    t.comment(JSON.stringify(s.dropped))
  }
  t.equal(received, TOTAL)
  t.equal(answered, replies)
  t.ok(replies > 1000, `a good share of mutants were still valid and answered (${replies})`)
})
