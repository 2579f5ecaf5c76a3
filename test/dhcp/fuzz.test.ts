// 100,000 mutated packets (from the real vectors and from packets of every client class) through the
// engine in proxy and full mode: nothing throws, every packet is counted exactly once as answered,
// accepted or dropped, and every reply decodes and respects the size limits.
import t from 'tap'
import { DhcpEngine } from '../../src/dhcp/engine.js'
import { DEFAULT_MAX_PAYLOAD, Opt, decodePacket } from '../../src/dhcp/packet.js'
import { silentLogger } from '../../src/log.js'
import { TestPolicy } from './helpers.js'
import { mutate, prng, seeds } from './mutate.js'

const SERVER = '10.0.0.1'
const TOTAL = 100_000

t.test(`${TOTAL} mutated packets: no crash, every one counted`, async (t) => {
  const rnd = prng(0x5eed)
  const corpus = seeds()
  // no rate limits, every relay, the whole pool for unknown clients: the mutants reach the logic
  const limits = { ratePerClient: 1e9, rateTotal: 1e9, relays: ['0.0.0.0/0'], unknownShare: 1 }
  const engines = [
    new DhcpEngine({ mode: 'proxy', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy: new TestPolicy(SERVER), logger: silentLogger(), limits }),
    new DhcpEngine({ mode: 'full', serverAddress: SERVER, interfaceSubnet: '10.0.0.0/24', policy: new TestPolicy(SERVER), logger: silentLogger(), limits,
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
