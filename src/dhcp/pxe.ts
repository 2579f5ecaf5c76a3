// PXE vendor options (option 43 sub-options, PXE spec 2.1 §2.4), user class (option 77, RFC 3004 and
// iPXE's plain form) and the Raspberry Pi EEPROM bootloader's option 97.

export const PxeSub = {
  DISCOVERY_CONTROL: 6,
  BOOT_SERVERS: 8,
  BOOT_MENU: 9,
  MENU_PROMPT: 10,
  BOOT_ITEM: 71,
  END: 255,
} as const

/** discovery control bits: 1 no broadcast, 2 no multicast, 4 only listed servers, 8 use the boot file in this offer */
const DISCOVERY_USE_BOOTFILE = 0x08

export interface PxeMenuItem {
  type: number
  text: string
}

/**
 * The option 43 that makes the Raspberry Pi EEPROM bootloader accept an offer: byte-for-byte what
 * dnsmasq's `pxe-service=0,"Raspberry Pi Boot"` emits (sub-options 6=3, 10 = {0,"PXE"}, 9 = one item
 * of type 0 with the text, END).
 */
export function piBootMenuOption43(text = 'Raspberry Pi Boot'): Buffer {
  return encodePxeOptions([
    [PxeSub.DISCOVERY_CONTROL, Buffer.from([3])],
    [PxeSub.MENU_PROMPT, Buffer.concat([Buffer.from([0]), Buffer.from('PXE', 'latin1')])],
    [PxeSub.BOOT_MENU, encodeMenu([{ type: 0, text }])],
  ])
}

/** option 43 for PXE clients that should download the boot file named in the offer directly */
export function bootFileOption43(): Buffer {
  return encodePxeOptions([[PxeSub.DISCOVERY_CONTROL, Buffer.from([DISCOVERY_USE_BOOTFILE])]])
}

function encodeMenu(items: PxeMenuItem[]): Buffer {
  return Buffer.concat(items.map((it) => {
    const text = Buffer.from(it.text, 'latin1').subarray(0, 255)
    const head = Buffer.alloc(3)
    head.writeUInt16BE(it.type, 0)
    head[2] = text.length
    return Buffer.concat([head, text])
  }))
}

export function encodePxeOptions(subs: Array<[number, Buffer]>): Buffer {
  const parts: Buffer[] = []
  for (const [code, value] of subs) {
    if (value.length > 255) throw new Error(`PXE sub-option ${code} longer than 255 bytes`)
    parts.push(Buffer.from([code, value.length]), value)
  }
  parts.push(Buffer.from([PxeSub.END]))
  return Buffer.concat(parts)
}

/** Decodes option 43 as PXE sub-options; null if it is not well-formed. */
export function decodePxeOptions(v: Buffer): Map<number, Buffer> | null {
  const out = new Map<number, Buffer>()
  let i = 0
  while (i < v.length) {
    const code = v[i]!
    if (code === 0) { i++; continue }
    if (code === PxeSub.END) return out
    if (i + 1 >= v.length) return null
    const len = v[i + 1]!
    if (i + 2 + len > v.length) return null
    out.set(code, Buffer.from(v.subarray(i + 2, i + 2 + len)))
    i += 2 + len
  }
  return out
}

export function decodeMenu(v: Buffer): PxeMenuItem[] | null {
  const items: PxeMenuItem[] = []
  let i = 0
  while (i < v.length) {
    if (i + 3 > v.length) return null
    const type = v.readUInt16BE(i)
    const len = v[i + 2]!
    if (i + 3 + len > v.length) return null
    items.push({ type, text: v.subarray(i + 3, i + 3 + len).toString('latin1') })
    i += 3 + len
  }
  return items
}

/**
 * Option 77: RFC 3004 form is a list of length-prefixed class names; iPXE (and many others) send
 * one plain string. A value is read as RFC 3004 only when its lengths chain exactly to the end.
 */
export function decodeUserClass(v: Buffer): string[] {
  const items: string[] = []
  let i = 0
  let rfc = v.length > 0
  while (i < v.length) {
    const len = v[i]!
    if (len === 0 || i + 1 + len > v.length) { rfc = false; break }
    items.push(v.subarray(i + 1, i + 1 + len).toString('latin1'))
    i += 1 + len
  }
  if (rfc) return items
  return v.length > 0 ? [v.toString('latin1').replace(/\0+$/, '')] : []
}

export interface PiOption97 {
  model: 'rpi4' | 'rpi5'
  /** board revision, hex, e.g. "c03130" */
  boardRevision: string
  /** low 4 bytes of the MAC as the Pi reports them, "32:ec:fc:3c" */
  macLow: string
  /** the TFTP prefix: low 32 bits of the board serial as 8 lowercase hex digits */
  serial: string
}

/**
 * Option 97 of the Pi 4/5 EEPROM bootloader (DHCP_OPTION97 default): 00 | fourcc "RPi4"/"RPi5" |
 * board revision (LE) | MAC low 4 bytes | serial (LE). Null when it is not that layout.
 */
export function decodePiOption97(v: Buffer | undefined): PiOption97 | null {
  if (!v || v.length !== 17 || v[0] !== 0) return null
  const fourcc = v.subarray(1, 5).toString('latin1')
  if (fourcc !== 'RPi4' && fourcc !== 'RPi5') return null
  return {
    model: fourcc === 'RPi4' ? 'rpi4' : 'rpi5',
    boardRevision: v.readUInt32LE(5).toString(16),
    macLow: [...v.subarray(9, 13)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    serial: v.readUInt32LE(13).toString(16).padStart(8, '0'),
  }
}
