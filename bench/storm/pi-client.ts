// Simulated Raspberry Pi 4 boots for the boot storm (bench/storm.ts): one process in one client
// namespace plays many Pis at once, each with its own MAC, serial and (once leased) its own
// address on the namespace's interface. Each Pi does what the EEPROM bootloader, the GPU firmware,
// the pftf UEFI firmware and iPXE do on the wire:
//   1. EEPROM DHCP: the captured Pi 4 DISCOVER/REQUEST (test/dhcp/vectors), with this Pi's chaddr,
//      xid and option 97 (MAC low bytes + serial); retry every 4 s (DHCP_REQ_TIMEOUT), 45 s in all
//   2. TFTP from siaddr (lock-step, `tsize 0` + `blksize 1468`, a new client port per file):
//      `<serial>/start4.elf` probe (early terminate after the OACK; "not found" → drop the prefix),
//      config.txt, pieeprom.sig, recover4.elf, recovery.elf (absent), start4.elf, fixup4.dat, then as
//      start4.elf: config.txt, dt-blob.bin (absent), the dtb, the overlays, RPI_EFI.fd
//   3. UEFI DHCP (the reconstructed pftf DISCOVER, arch 11) → TFTP the loader it names (size probe
//      then the download, as EDK2's PXE does)
//   4. iPXE DHCP (user class iPXE, arch 11) → the boot script URL → HTTP script, kernel, initrd
// Every transfer is checked byte-exact (sha256 against the manifest); "absent" files must be
// answered with TFTP error 1. One deviation from a real Pi, the same for every server: the DHCP
// broadcast flag is set, because the simulated MACs exist only in chaddr (a server that unicasts to
// chaddr, as dnsmasq does for a Pi, would send frames no interface here accepts).
//
// Fixture protocol (src/lab/fixture.ts): argv[2] is a JSON ClientSpec; it prints {"ready":true},
// waits for the line "go", answers {"go":true}, prints {"event":"boot",…} per Pi and
// {"event":"done",…} at the end, then exits.
import { appendFileSync } from 'node:fs'
import { createSocket, type Socket } from 'node:dgram'
import { createHash } from 'node:crypto'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { decodePacket, encodePacket, MessageType, Opt, optIp, optU8, ipBytes, BROADCAST_FLAG, type DhcpPacket } from '../../src/dhcp/packet.js'
import { encodeAck, encodeError, encodeRequest, parsePacket } from '../../src/tftp/packet.js'

const run = promisify(execFile)

export interface PiSpec {
  mac: string
  /** 8 hex digits */
  serial: string
  /** sha256 of the config.txt this Pi must get */
  configSha: string
  /** stop answering (and close the socket) after this many blocks of start4.elf: a Pi that vanishes */
  vanishAfterBlocks?: number
}

export interface ClientSpec {
  ifname: string
  pis: PiSpec[]
  /** path → sha256 of every file served (firmware names without the prefix, the loader, HTTP paths) */
  manifest: Record<string, string>
  /** spread of the power-on moments, ms (all Pis start within it) */
  spreadMs: number
  /** per-file TFTP limit (the EEPROM's TFTP_FILE_TIMEOUT, default 30 s) */
  fileTimeoutMs?: number
  /** the Pi re-sends its last packet after this long without an answer */
  retransmitMs?: number
  /** how many times one file is tried again after a failure (a Pi restarts the netboot) */
  fileRetries?: number
  /** whole-boot bound */
  bootTimeoutMs?: number
  /** EEPROM network-boot attempts (a failed one starts over from DHCP after 5 s), default 3 */
  bootAttempts?: number
}

export interface BootResult {
  event: 'boot'
  mac: string
  ok: boolean
  vanished?: boolean
  ms: number
  phases: Record<string, number>
  /** transfers that completed with bytes differing from the manifest */
  wrongBytes: number
  /** files retried after a failed transfer */
  retries: number
  /** EEPROM network boots started over after a failure */
  restarts?: number
  /** the TFTP file being fetched last */
  at?: string
  tftpFiles: number
  bytes: number
  error?: string
}

const VECTORS = fileURLToPath(new URL('../../test/dhcp/vectors/', import.meta.url))
const vector = (name: string): Buffer => Buffer.from(readFileSync(`${VECTORS}${name}.hex`, 'utf8').trim(), 'hex')

/** the Pi 4 bootloader's own files, then what start4.elf asks for (pftf config: two overlays, armstub) */
export const PI_SEQUENCE: { name: string; kind: 'probe' | 'get' | 'absent'; prefixed: boolean }[] = [
  { name: 'start4.elf', kind: 'probe', prefixed: true },
  { name: 'config.txt', kind: 'get', prefixed: true },
  { name: 'pieeprom.sig', kind: 'absent', prefixed: true },
  { name: 'recover4.elf', kind: 'absent', prefixed: true },
  { name: 'recovery.elf', kind: 'absent', prefixed: true },
  { name: 'start4.elf', kind: 'get', prefixed: true },
  { name: 'fixup4.dat', kind: 'get', prefixed: true },
  { name: 'recovery.elf', kind: 'absent', prefixed: true },
  { name: 'config.txt', kind: 'get', prefixed: true },
  { name: 'dt-blob.bin', kind: 'absent', prefixed: true },
  { name: 'bcm2711-rpi-4-b.dtb', kind: 'get', prefixed: true },
  { name: 'overlays/miniuart-bt.dtbo', kind: 'get', prefixed: true },
  { name: 'overlays/upstream-pi4.dtbo', kind: 'get', prefixed: true },
  { name: 'RPI_EFI.fd', kind: 'get', prefixed: true },
]

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => Number.parseInt(h, 16)))
}

function withChaddr(p: DhcpPacket, mac: string): void {
  const c = Buffer.alloc(16)
  macBytes(mac).copy(c)
  p.chaddr = c
}

/** the Pi's option 97: 00, "RPi4", board rev, MAC low 4 bytes, serial (LE) */
function piGuid(template: Buffer, mac: string, serial: string): Buffer {
  const g = Buffer.from(template)
  macBytes(mac).subarray(2).copy(g, 9)
  g.writeUInt32LE(Number.parseInt(serial, 16), 13)
  return g
}

/** shared DHCP socket of the namespace (port 68); replies are matched to Pis by chaddr + xid */
class DhcpPort {
  private readonly sock: Socket = createSocket({ type: 'udp4', reuseAddr: true })
  private readonly waiting = new Map<number, (p: DhcpPacket) => void>()
  async open(): Promise<void> {
    await new Promise<void>((res, rej) => { this.sock.once('error', rej); this.sock.bind(68, '0.0.0.0', () => res()) })
    this.sock.setBroadcast(true)
    this.sock.on('message', (buf) => {
      let p: DhcpPacket
      try { p = decodePacket(buf) } catch { return }
      if (p.op !== 2) return
      this.waiting.get(p.xid)?.(p)
    })
  }
  /** sends `pkt` until a reply of one of `types` with the same xid arrives */
  async exchange(pkt: DhcpPacket, types: number[], retryMs: number, limitMs: number, accept: (p: DhcpPacket) => boolean = () => true): Promise<DhcpPacket> {
    const mac = pkt.chaddr.subarray(0, 6)
    return await new Promise((resolve, reject) => {
      const send = (): void => { this.sock.send(encodePacket(pkt), 67, '255.255.255.255') }
      const timer = setInterval(send, retryMs)
      const limit = setTimeout(() => { done(); reject(new Error(`no DHCP ${types.join('/')} within ${limitMs} ms`)) }, limitMs)
      const done = (): void => { clearInterval(timer); clearTimeout(limit); this.waiting.delete(pkt.xid) }
      this.waiting.set(pkt.xid, (p) => {
        if (!p.chaddr.subarray(0, 6).equals(mac)) return
        const t = optU8(p, Opt.MESSAGE_TYPE)
        if (t === undefined || !types.includes(t) || !accept(p)) return
        done()
        resolve(p)
      })
      send()
    })
  }
  close(): void { this.sock.close() }
}

type TftpOutcome =
  | { kind: 'ok'; sha: string; bytes: number }
  | { kind: 'notfound' }
  | { kind: 'probed' }
  | { kind: 'vanished' }
  | { kind: 'failed'; why: string }

interface TftpOpts { probe?: boolean; vanishAfterBlocks?: number; fileTimeoutMs: number; retransmitMs: number }

/** one lock-step TFTP read (blksize 1468, tsize 0) from `local` (a fresh port) */
export async function tftpGet(local: string, server: string, name: string, o: TftpOpts): Promise<TftpOutcome> {
  const sock = createSocket('udp4')
  await new Promise<void>((res, rej) => { sock.once('error', rej); sock.bind(0, local, () => res()) })
  sock.on('error', () => { /* ICMP errors etc.: the timers decide */ })
  return await new Promise<TftpOutcome>((resolve) => {
    const blksize = 1468
    const hash = createHash('sha256')
    let bytes = 0
    let expect = 1 // next DATA block (1-based, mod 65536)
    let last = encodeRequest('rrq', name, 'octet', { tsize: '0', blksize: String(blksize) })
    let peerPort = 69
    let locked = false
    let idle: NodeJS.Timeout
    let blocks = 0
    let closed = false
    const close = (): void => { if (!closed) { closed = true; try { sock.close() } catch { /* closed */ } } }
    /** ends the transfer; `final` (the last ACK, an ERROR) is sent before the socket closes */
    const finish = (r: TftpOutcome, final?: Buffer): void => {
      clearTimeout(idle)
      clearTimeout(whole)
      if (final) sock.send(final, peerPort, server, close)
      else close()
      resolve(r)
    }
    const send = (b: Buffer): void => { if (!closed) sock.send(b, peerPort, server) }
    let tries = 0
    const arm = (): void => {
      clearTimeout(idle)
      idle = setTimeout(() => {
        if (++tries > 10) { finish({ kind: 'failed', why: `no answer after ${tries - 1} retransmissions (block ${expect})` }); return }
        send(last)
        arm()
      }, o.retransmitMs)
    }
    const whole = setTimeout(() => finish({ kind: 'failed', why: `file timeout ${o.fileTimeoutMs} ms at block ${expect}` }), o.fileTimeoutMs)
    sock.on('message', (buf, rinfo) => {
      if (rinfo.address !== server) return
      if (closed) return
      if (locked && rinfo.port !== peerPort) { sock.send(encodeError(5, 'Unknown transfer ID'), rinfo.port, rinfo.address); return }
      const r = parsePacket(buf)
      if (!r.ok) return
      const p = r.packet
      if (!locked) { locked = true; peerPort = rinfo.port }
      tries = 0
      if (p.op === 'error') { finish(p.code === 1 ? { kind: 'notfound' } : { kind: 'failed', why: `TFTP error ${p.code} ${p.message}` }); return }
      if (p.op === 'oack') {
        if (o.probe) { finish({ kind: 'probed' }, encodeError(0, 'Early terminate')); return }
        const bs = Number(p.options.get('blksize') ?? '512')
        if (bs !== blksize) { finish({ kind: 'failed', why: `blksize ${bs} refused` }); return }
        if (expect !== 1) return
        last = encodeAck(0)
        send(last)
        arm()
        return
      }
      if (p.op !== 'data') return
      if (p.block === (expect & 0xffff)) {
        if (o.probe) { finish({ kind: 'probed' }, encodeError(0, 'Early terminate')); return }
        hash.update(p.data)
        bytes += p.data.length
        blocks++
        if (o.vanishAfterBlocks !== undefined && blocks >= o.vanishAfterBlocks) { finish({ kind: 'vanished' }); return }
        last = encodeAck(p.block)
        expect++
        if (p.data.length < blksize) { finish({ kind: 'ok', sha: hash.digest('hex'), bytes }, last); return }
        send(last)
        arm()
      } else if (p.block === ((expect - 1) & 0xffff)) {
        send(encodeAck(p.block)) // the bootloader re-ACKs a block it already has
      }
    })
    send(last)
    arm()
  })
}

/** HTTP GET from the Pi's own address; sha256 and size of the body */
async function httpGet(local: string, url: string, timeoutMs: number): Promise<{ status: number; sha: string; bytes: number; body?: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { localAddress: local, agent: false, timeout: timeoutMs }, (res) => {
      const hash = createHash('sha256')
      let bytes = 0
      const small: Buffer[] = []
      res.on('data', (d: Buffer) => { hash.update(d); bytes += d.length; if (bytes <= 65536) small.push(d) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, sha: hash.digest('hex'), bytes, ...(bytes <= 65536 ? { body: Buffer.concat(small).toString('utf8') } : {}) }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`HTTP timeout ${url}`)))
    req.on('error', reject)
    req.end()
  })
}

const addresses = new Set<string>()
async function ensureAddress(ifname: string, ip: string): Promise<void> {
  if (addresses.has(ip)) return
  try {
    await run('ip', ['addr', 'add', `${ip}/24`, 'dev', ifname])
  } catch (err) {
    if (!/File exists/.test(String((err as { stderr?: string }).stderr ?? err))) throw err
  }
  addresses.add(ip)
}

const randXid = (): number => Math.floor(Math.random() * 0xffffffff) >>> 0

/** the EEPROM ignores an offer without the "Raspberry Pi Boot" menu in option 43 */
const hasPiMenu = (p: DhcpPacket): boolean => p.options.get(Opt.VENDOR_SPECIFIC)?.includes('Raspberry Pi Boot') ?? false

async function dora(port: DhcpPort, discover: DhcpPacket, request: (offer: DhcpPacket) => DhcpPacket, limitMs: number, accept?: (p: DhcpPacket) => boolean): Promise<DhcpPacket> {
  const offer = await port.exchange(discover, [MessageType.OFFER], 4000, limitMs, accept)
  return await port.exchange(request(offer), [MessageType.ACK, MessageType.NAK], 4000, limitMs)
}

/** a Pi's result so far (filled in while it boots, so a timed-out boot still reports its counters) */
function newResult(mac: string): BootResult {
  return { event: 'boot', mac, ok: false, ms: 0, phases: {}, wrongBytes: 0, retries: 0, tftpFiles: 0, bytes: 0 }
}

async function bootOne(spec: ClientSpec, pi: PiSpec, port: DhcpPort, r: BootResult): Promise<BootResult> {
  const t0 = performance.now()
  const phases = r.phases
  const mark = (name: string): void => { phases[name] = Math.round(performance.now() - t0) }
  const fileTimeoutMs = spec.fileTimeoutMs ?? 30_000
  const retransmitMs = spec.retransmitMs ?? 1000
  const fileRetries = spec.fileRetries ?? 2
  try {
    let ip = ''
    let tftpServer = ''
    const fetch = async (name: string, expectSha: string | undefined, o: { probe?: boolean; vanishAfterBlocks?: number; server?: string } = {}): Promise<TftpOutcome> => {
      r.at = name
      for (let attempt = 0; ; attempt++) {
        const out = await tftpGet(ip, o.server ?? tftpServer, name, { ...o, fileTimeoutMs, retransmitMs })
        if (out.kind === 'ok') {
          r.tftpFiles++
          r.bytes += out.bytes
          if (expectSha !== undefined && out.sha !== expectSha) { r.wrongBytes++; throw new Error(`${name}: wrong bytes (sha256 ${out.sha.slice(0, 12)}…)`) }
        }
        if (out.kind !== 'failed' || attempt >= fileRetries) return out
        r.retries++
        if (process.env.STORM_DEBUG) appendFileSync(process.env.STORM_DEBUG, `retry ${pi.mac} ${name}: ${out.why}\n`) // a file: the fixture keeps only the tail of stderr
      }
    }
    // the EEPROM stage; a failed network boot starts over after 5 s (BOOT_ORDER loops), up to bootAttempts
    const eeprom = async (): Promise<boolean> => {
      // 1. EEPROM DHCP, the captured packets with this Pi's identity
      const d = decodePacket(vector('pi4-eeprom-discover'))
      const xid = randXid()
      d.xid = xid
      d.flags = BROADCAST_FLAG
      withChaddr(d, pi.mac)
      const guid = piGuid(d.options.get(Opt.CLIENT_UUID)!, pi.mac, pi.serial)
      d.options.set(Opt.CLIENT_UUID, guid)
      const ack = await dora(port, d, (offer) => {
        const q = decodePacket(vector('pi4-eeprom-request'))
        q.xid = xid
        q.flags = BROADCAST_FLAG
        withChaddr(q, pi.mac)
        q.siaddr = offer.siaddr
        q.options.set(Opt.REQUESTED_IP, ipBytes(offer.yiaddr))
        q.options.set(Opt.SERVER_ID, ipBytes(optIp(offer, Opt.SERVER_ID) ?? offer.siaddr))
        q.options.set(Opt.CLIENT_UUID, guid)
        return q
      }, 45_000, hasPiMenu)
      if (optU8(ack, Opt.MESSAGE_TYPE) !== MessageType.ACK) throw new Error('DHCP NAK')
      ip = ack.yiaddr
      tftpServer = ack.siaddr !== '0.0.0.0' ? ack.siaddr : (optIp(ack, Opt.SERVER_ID) ?? '')
      await ensureAddress(spec.ifname, ip)
      mark('dhcp')

      // 2. firmware over TFTP
      let prefix = `${pi.serial}/`
      const probe = await fetch(`${prefix}start4.elf`, undefined, { probe: true })
      if (probe.kind === 'notfound') prefix = ''
      else if (probe.kind !== 'probed') throw new Error(`start4.elf probe: ${probe.kind === 'failed' ? probe.why : probe.kind}`)
      for (const step of PI_SEQUENCE.slice(1)) {
        const name = (step.prefixed ? prefix : '') + step.name
        const sha = step.name === 'config.txt' ? pi.configSha : spec.manifest[step.name]
        const vanish = step.name === 'start4.elf' && step.kind === 'get' ? pi.vanishAfterBlocks : undefined
        const out = await fetch(name, sha, vanish !== undefined ? { vanishAfterBlocks: vanish } : {})
        if (out.kind === 'vanished') { r.vanished = true; mark('vanished'); return false }
        if (step.kind === 'absent') {
          if (out.kind !== 'notfound') throw new Error(`${name}: expected "file not found", got ${out.kind}`)
        } else if (out.kind !== 'ok') throw new Error(`${name}: ${out.kind === 'failed' ? out.why : out.kind}`)
      }
      mark('firmware')
      return true
    }
    // whole netboots: a failed EEPROM stage starts over after 5 s (BOOT_ORDER), a failed iPXE stage
    // as its script says (bootlab's: sleep 30, reboot), up to bootAttempts in all
    for (let boot = 1; ; boot++) {
      for (let attempt = 1; ; attempt++) {
        try {
          if (!await eeprom()) return r
          break
        } catch (err) {
          if (attempt >= (spec.bootAttempts ?? 3) || r.wrongBytes > 0) throw err
          r.restarts = (r.restarts ?? 0) + 1
          await new Promise((res) => setTimeout(res, 5000))
        }
      }

      // 3. pftf UEFI PXE: DHCP arch 11, the loader over TFTP (size probe, then the download)
      const u = decodePacket(vector('rpi4-edk2-uefi-pxe-discover'))
      const uxid = randXid()
      u.xid = uxid
      withChaddr(u, pi.mac)
      const uack = await dora(port, u, (offer) => {
        const q = decodePacket(vector('rpi4-edk2-uefi-pxe-discover'))
        q.xid = uxid
        withChaddr(q, pi.mac)
        q.options.set(Opt.MESSAGE_TYPE, Buffer.from([MessageType.REQUEST]))
        q.options.set(Opt.REQUESTED_IP, ipBytes(offer.yiaddr))
        q.options.set(Opt.SERVER_ID, ipBytes(optIp(offer, Opt.SERVER_ID) ?? offer.siaddr))
        return q
      }, 45_000)
      if (uack.yiaddr !== ip) { await ensureAddress(spec.ifname, uack.yiaddr) }
      const loader = (uack.options.get(Opt.BOOTFILE)?.toString('latin1') ?? uack.file.toString('latin1')).replace(/\0+$/, '')
      if (!loader) throw new Error('UEFI DHCP: no boot file')
      const loaderServer = uack.siaddr !== '0.0.0.0' ? uack.siaddr : tftpServer
      const lp = await fetch(loader, undefined, { probe: true, server: loaderServer })
      if (lp.kind !== 'probed') throw new Error(`${loader} size probe: ${lp.kind === 'failed' ? lp.why : lp.kind}`)
      const lg = await fetch(loader, spec.manifest[loader.split('/').pop()!], { server: loaderServer })
      if (lg.kind !== 'ok') throw new Error(`${loader}: ${lg.kind === 'failed' ? lg.why : lg.kind}`)
      mark('loader')

      // 4. iPXE: DHCP with user class iPXE → script URL → kernel + initrd over HTTP
      const xxid = randXid()
      const ipxe = (): DhcpPacket => {
        const x = decodePacket(vector('rpi4-edk2-uefi-pxe-discover'))
        x.xid = xxid
        withChaddr(x, pi.mac)
        x.options.set(Opt.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00011:UNDI:003010'))
        x.options.set(Opt.USER_CLASS, Buffer.from('iPXE'))
        x.options.set(Opt.IPXE_ENCAP, Buffer.from([0x13, 0x01, 0x01]))
        return x
      }
      const xack = await dora(port, ipxe(), (offer) => {
        const q = ipxe()
        q.options.set(Opt.MESSAGE_TYPE, Buffer.from([MessageType.REQUEST]))
        q.options.set(Opt.REQUESTED_IP, ipBytes(offer.yiaddr))
        q.options.set(Opt.SERVER_ID, ipBytes(optIp(offer, Opt.SERVER_ID) ?? offer.siaddr))
        return q
      }, 45_000)
      const scriptUrl = (xack.options.get(Opt.BOOTFILE)?.toString('latin1') ?? xack.file.toString('latin1')).replace(/\0+$/, '')
        .replace('${mac}', pi.mac).replace('${buildarch}', 'arm64').replace('${platform}', 'efi')
      if (!scriptUrl.startsWith('http://')) throw new Error(`iPXE DHCP: boot file ${JSON.stringify(scriptUrl)} is no HTTP URL`)
      const script = await httpGet(xack.yiaddr, scriptUrl, 30_000)
      if (script.status !== 200 || !script.body) throw new Error(`boot script: HTTP ${script.status}`)
      mark('script')
      const urls = [...script.body.matchAll(/^(?:kernel|initrd)(?: --name \S+)? (http\S+)/gm)].map((m) => m[1]!)
      if (urls.length < 2) throw new Error(`boot script names no kernel + initrd: ${script.body.slice(0, 200)}`)
      try {
        for (const url of urls) {
          const g = await httpGet(xack.yiaddr, url, 120_000)
          if (g.status !== 200) throw new Error(`${url}: HTTP ${g.status}`)
          r.bytes += g.bytes
          const want = spec.manifest[new URL(url).pathname]
          if (g.sha !== want) { r.wrongBytes++; throw new Error(`${url}: wrong bytes`) }
        }
      } catch (err) {
        // iPXE runs the script's failure branch: bootlab's sleeps and reboots (the Pi netboots again),
        // dnsmasq's reference script drops to a shell (final)
        const reboot = /^:failed$[\s\S]*?^sleep (\d+)$[\s\S]*?^reboot$/m.exec(script.body)
        if (!reboot || boot >= (spec.bootAttempts ?? 3) || r.wrongBytes > 0) throw err
        r.restarts = (r.restarts ?? 0) + 1
        await new Promise((res) => setTimeout(res, Number(reboot[1]) * 1000))
        continue
      }
      break
    }
    mark('http')
    r.ok = true
  } catch (err) {
    r.error = (err as Error).message
  } finally {
    r.ms = Math.round(performance.now() - t0)
  }
  return r
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]!) as ClientSpec
  const port = new DhcpPort()
  await port.open()
  console.log(JSON.stringify({ ready: true, pis: spec.pis.length }))
  const lines = createInterface({ input: process.stdin })
  await new Promise<void>((res) => lines.on('line', (l) => { if (l.trim() === 'go') res() }))
  console.log(JSON.stringify({ go: true }))
  const bound = spec.bootTimeoutMs ?? 300_000
  const t0 = performance.now()
  const results = await Promise.all(spec.pis.map(async (pi) => {
    await new Promise((r) => setTimeout(r, Math.random() * spec.spreadMs))
    const live = newResult(pi.mac)
    const res = await Promise.race([
      bootOne(spec, pi, port, live),
      new Promise<BootResult>((r) => setTimeout(() => r({ ...live, ok: false, ms: bound, error: `boot not done within ${bound} ms (last TFTP file ${live.at ?? 'none'})` }), bound).unref()),
    ])
    console.log(JSON.stringify(res))
    return res
  }))
  console.log(JSON.stringify({ event: 'done', ms: Math.round(performance.now() - t0), ok: results.filter((r) => r.ok).length, n: results.length }))
  port.close()
  lines.close()
  process.exit(0)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.on('SIGTERM', () => process.exit(0))
  await main()
}
