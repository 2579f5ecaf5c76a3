// proxyDHCP (PXE spec 2.1 §2.2.2): the router keeps handing out addresses; bootlab answers only
// network-boot clients, with no address (yiaddr 0.0.0.0) and the boot options, on port 67 (OFFER to
// a DISCOVER, ACK to a REQUEST naming bootlab as server) and on the boot-server port 4011 (ACK).
import type { ClassifiedClient } from './classify.js'
import { MessageType, Opt, optIp, type DhcpPacket } from './packet.js'
import type { DhcpPolicy } from './policy.js'
import { PxeSub, decodePxeOptions, encodePxeOptions } from './pxe.js'
import { addBootOptions, baseReply, destinationFor, type BootSummary, type Destination } from './replies.js'

export type ProxyOutcome =
  | { kind: 'reply'; reply: DhcpPacket; dest: Destination; type: 'offer' | 'ack'; boot: BootSummary }
  | { kind: 'drop'; reason: string }

export interface ProxyModeOptions {
  serverAddress: string
  policy: DhcpPolicy
}

export class ProxyMode {
  constructor(private readonly o: ProxyModeOptions) {}

  /**
   * @param port the local port the request arrived on (67 or the PXE port)
   * @param src where it came from (4011 answers go back there)
   */
  handle(req: DhcpPacket, type: number, client: ClassifiedClient, port: 'dhcp' | 'pxe', src: Destination): ProxyOutcome {
    if (!client.netboot) return { kind: 'drop', reason: 'not-netboot-client' }
    let replyType: number
    if (port === 'dhcp') {
      if (type === MessageType.DISCOVER) replyType = MessageType.OFFER
      else if (type === MessageType.REQUEST && optIp(req, Opt.SERVER_ID) === this.o.serverAddress) replyType = MessageType.ACK
      else return { kind: 'drop', reason: type === MessageType.REQUEST ? 'other-server' : 'unexpected-message-type' }
    } else {
      if (type !== MessageType.REQUEST && type !== MessageType.INFORM) return { kind: 'drop', reason: 'unexpected-message-type' }
      replyType = MessageType.ACK
    }
    const decision = this.o.policy.bootFor(client)
    if (!decision) return { kind: 'drop', reason: 'policy-declined' }
    const reply = baseReply(req, replyType, this.o.serverAddress)
    const boot = addBootOptions(reply, req, client, decision, this.o.serverAddress)
    if (port === 'pxe') {
      // a boot-server request names the boot item it wants in its option 43; the ACK repeats it
      const item = decodePxeOptions(req.options.get(Opt.VENDOR_SPECIFIC) ?? Buffer.alloc(0))?.get(PxeSub.BOOT_ITEM)
      if (item && item.length === 4 && client.class !== 'rpi' && !decision.httpBoot) {
        reply.options.set(Opt.VENDOR_SPECIFIC, encodePxeOptions([[PxeSub.BOOT_ITEM, item]]))
      }
      reply.ciaddr = req.ciaddr
      const dest = req.giaddr !== '0.0.0.0' ? { address: req.giaddr, port: 67 }
        : src.address === '0.0.0.0' ? { address: '255.255.255.255', port: src.port } : src
      return { kind: 'reply', reply, dest, type: 'ack', boot }
    }
    if (replyType === MessageType.ACK) reply.ciaddr = req.ciaddr
    return { kind: 'reply', reply, dest: destinationFor(req, reply, false), type: replyType === MessageType.OFFER ? 'offer' : 'ack', boot }
  }
}
