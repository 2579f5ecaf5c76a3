// Who is asking: Raspberry Pi EEPROM bootloader, UEFI PXE (arm64/x64/ia32), legacy BIOS PXE, UEFI
// HTTP boot, iPXE, another PXE client, or a plain DHCP client (DESIGN §2, research/pi-netboot.md).
import { Opt, asciiOf, macOf, type DhcpPacket } from './packet.js'
import { decodePiOption97, decodeUserClass, type PiOption97 } from './pxe.js'

export type ClientClass =
  | 'rpi' // Raspberry Pi 4/5 EEPROM network bootloader
  | 'uefi-arm64' // UEFI PXE, arch 11 (pftf RPi4 UEFI, AAVMF, arm64 servers)
  | 'uefi-x64' // UEFI PXE, arch 7 or 9
  | 'uefi-ia32' // UEFI PXE, arch 6
  | 'bios' // legacy BIOS PXE, arch 0 and not a Pi
  | 'http-x64' // UEFI HTTP boot, arch 16
  | 'http-arm64' // UEFI HTTP boot, arch 19
  | 'ipxe' // iPXE (user class "iPXE" or option 175), any arch
  | 'pxe-other' // a PXE client of an architecture bootlab has no default for
  | 'plain' // not a network-boot client at all

export interface ClassifiedClient {
  mac: string
  class: ClientClass
  /** option 93 (first entry) when sent */
  arch: number | null
  vendorClass: string | null
  userClasses: string[]
  /** the client asked as a PXE/HTTP/iPXE boot client (everything but 'plain') */
  netboot: boolean
  /** Pi details from option 97 (serial = TFTP prefix); null for non-Pi or an unreadable 97 */
  rpi: PiOption97 | null
  /** option 97 raw (hex) when sent */
  uuid: string | null
  /** option 61 (hex) when sent */
  clientId: string | null
  hostname: string | null
}

/** Raspberry Pi Ltd / Raspberry Pi Trading OUIs (DESIGN §2); option 97 is checked first. */
export const RPI_OUIS = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', 'd8:3a:dd', '28:cd:c1', '2c:cf:67']

export function isRaspberryPiMac(mac: string): boolean {
  return RPI_OUIS.includes(mac.slice(0, 8).toLowerCase())
}

function archList(p: DhcpPacket): number[] {
  const v = p.options.get(Opt.CLIENT_ARCH)
  if (!v || v.length < 2 || v.length % 2 !== 0) return []
  const out: number[] = []
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i))
  return out
}

/** "PXEClient:Arch:00011:UNDI:003000" → 11 (vendor class arch digits are decimal) */
function archFromVendorClass(vc: string | null): number | null {
  const m = vc ? /^(?:PXEClient|HTTPClient):Arch:(\d{5})/.exec(vc) : null
  return m ? Number(m[1]) : null
}

function archClass(arch: number | null, http: boolean): ClientClass {
  if (http) {
    if (arch === 19) return 'http-arm64'
    if (arch === 16 || arch === null) return 'http-x64'
    return 'pxe-other'
  }
  switch (arch) {
    case 0: return 'bios'
    case 6: return 'uefi-ia32'
    case 7:
    case 9: return 'uefi-x64'
    case 11: return 'uefi-arm64'
    case 16: return 'http-x64'
    case 19: return 'http-arm64'
    default: return 'pxe-other'
  }
}

export function classify(p: DhcpPacket): ClassifiedClient {
  const mac = macOf(p)
  const vcRaw = p.options.get(Opt.VENDOR_CLASS)
  const vendorClass = vcRaw ? asciiOf(vcRaw) : null
  const ucRaw = p.options.get(Opt.USER_CLASS)
  const userClasses = ucRaw ? decodeUserClass(ucRaw) : []
  const arches = archList(p)
  const arch = arches[0] ?? archFromVendorClass(vendorClass)
  const uuidRaw = p.options.get(Opt.CLIENT_UUID)
  const rpi = decodePiOption97(uuidRaw)
  const idRaw = p.options.get(Opt.CLIENT_ID)
  const hnRaw = p.options.get(Opt.HOSTNAME)
  const pxe = vendorClass?.startsWith('PXEClient') ?? false
  const http = vendorClass?.startsWith('HTTPClient') ?? false
  const ipxe = userClasses.includes('iPXE') || p.options.has(Opt.IPXE_ENCAP)

  let cls: ClientClass
  if (ipxe) cls = 'ipxe'
  else if (http || arch === 16 || arch === 19) cls = archClass(arch, true)
  else if (rpi) cls = 'rpi'
  else if ((pxe || uuidRaw !== undefined) && (arch === 0 || arch === null) && isRaspberryPiMac(mac)) cls = 'rpi' // old option-97 layouts
  else if (pxe || arches.length > 0) cls = archClass(arch, false)
  else cls = 'plain'

  return {
    mac,
    class: cls,
    arch,
    vendorClass,
    userClasses,
    netboot: cls !== 'plain',
    rpi,
    uuid: uuidRaw ? uuidRaw.toString('hex') : null,
    clientId: idRaw ? idRaw.toString('hex') : null,
    hostname: hnRaw ? asciiOf(hnRaw) : null,
  }
}
