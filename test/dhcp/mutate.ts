// Mutated DHCP packets for the fuzz tests: a seed corpus (the real vectors and packets of every
// client class and message type) and a deterministic mutator.
import { MessageType, Opt } from '../../src/dhcp/packet.js'
import { clientPacket, vector } from './helpers.js'

/** small deterministic PRNG (mulberry32) so a failure can be replayed */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

export function seeds(): Buffer[] {
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

export function mutate(src: Buffer, rnd: () => number): Buffer {
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

