// Building replies: the common BOOTREPLY skeleton, the boot options every answering mode adds
// (siaddr, 60, 43, 66, 67, 97 echo), option 82 echo, and where the reply goes.
import type { ClassifiedClient } from './classify.js'
import { BOOTREPLY, BROADCAST_FLAG, DEFAULT_MAX_PAYLOAD, Opt, ipBytes, type DhcpPacket } from './packet.js'
import type { BootDecision } from './policy.js'
import { bootFileOption43, piBootMenuOption43 } from './pxe.js'

/** option 53 values, one shared buffer per message type (option buffers are never written to) */
const TYPE_BYTES = Array.from({ length: 9 }, (_, t) => Buffer.from([t]))
const EMPTY = Buffer.alloc(0)
/** option 54 of the last server address asked for (a server has one) */
let serverIdCache: { ip: string; bytes: Buffer } | null = null

function serverIdBytes(ip: string): Buffer {
  if (serverIdCache?.ip !== ip) serverIdCache = { ip, bytes: ipBytes(ip) }
  return serverIdCache.bytes
}

export function baseReply(req: DhcpPacket, type: number, serverId: string): DhcpPacket {
  const options = new Map<number, Buffer>()
  options.set(Opt.MESSAGE_TYPE, TYPE_BYTES[type] ?? Buffer.from([type]))
  options.set(Opt.SERVER_ID, serverIdBytes(serverId))
  return {
    op: BOOTREPLY,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: EMPTY,
    file: EMPTY,
    options,
  }
}

/** What was put in a reply for a netboot client (for events and tests). */
export interface BootSummary {
  bootFile: string | null
  tftpServer: string
}

/**
 * Adds the network-boot part of a reply. siaddr is always set (iPXE ignores proxy offers with
 * siaddr 0); a Pi gets the dnsmasq-identical "Raspberry Pi Boot" menu in option 43 and its
 * option 97 echoed, without which its bootloader ignores the offer.
 */
export function addBootOptions(reply: DhcpPacket, req: DhcpPacket, client: ClassifiedClient, d: BootDecision, serverAddress: string): BootSummary {
  const tftp = d.tftpServer ?? serverAddress
  reply.siaddr = tftp
  const o = reply.options
  o.set(Opt.VENDOR_CLASS, Buffer.from(d.httpBoot ? 'HTTPClient' : 'PXEClient', 'latin1'))
  const uuid = req.options.get(Opt.CLIENT_UUID)
  if (uuid) o.set(Opt.CLIENT_UUID, Buffer.from(uuid))
  if (client.class === 'rpi') o.set(Opt.VENDOR_SPECIFIC, piBootMenuOption43(d.piMenuText))
  else if (!d.httpBoot) o.set(Opt.VENDOR_SPECIFIC, bootFileOption43())
  o.set(Opt.TFTP_SERVER, Buffer.from(tftp, 'latin1'))
  if (d.bootFile) {
    const f = Buffer.from(d.bootFile, 'utf8')
    o.set(Opt.BOOTFILE, f)
    if (f.length <= 127) reply.file = f
  }
  return { bootFile: d.bootFile ?? null, tftpServer: tftp }
}

/** Option 82 is echoed unchanged, as the last option (RFC 3046 §2.2). */
export function echoRelayInfo(reply: DhcpPacket, req: DhcpPacket): void {
  const ri = req.options.get(Opt.RELAY_AGENT_INFO)
  if (ri) {
    reply.options.delete(Opt.RELAY_AGENT_INFO)
    reply.options.set(Opt.RELAY_AGENT_INFO, Buffer.from(ri))
  }
}

/** The largest reply payload this client accepts: its option 57 minus IP+UDP headers, else 548. */
export function maxReplySize(req: DhcpPacket): number {
  const v = req.options.get(Opt.MAX_MESSAGE_SIZE)
  if (!v || v.length !== 2) return DEFAULT_MAX_PAYLOAD
  return Math.max(DEFAULT_MAX_PAYLOAD, Math.min(v.readUInt16BE(0), 1500) - 28)
}

export interface Destination {
  address: string
  port: number
}

/**
 * RFC 2131 §4.1: relayed → the relay agent's port 67; a client with an address (ciaddr) → unicast to
 * it; otherwise broadcast (bootlab cannot unicast to an address the client does not have yet without
 * writing the ARP cache). A NAK to a directly attached client is always broadcast.
 */
export function destinationFor(req: DhcpPacket, reply: DhcpPacket, isNak: boolean, srcPort = 68): Destination {
  if (req.giaddr !== '0.0.0.0') {
    if (isNak) reply.flags |= BROADCAST_FLAG
    return { address: req.giaddr, port: 67 }
  }
  if (!isNak && req.ciaddr !== '0.0.0.0') return { address: req.ciaddr, port: srcPort }
  return { address: '255.255.255.255', port: 68 }
}
