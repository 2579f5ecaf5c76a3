// EFI_GUIDs as text ("8be4df61-93ca-11d2-aa0d-00e098032b8c") and as the 16 bytes stored in
// firmware: the first three fields little-endian, the last eight bytes as written.

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isGuid(s: string): boolean {
  return GUID_RE.test(s)
}

/** Lower-case canonical form, or null when `s` is not a GUID. */
export function normaliseGuid(s: string): string | null {
  return GUID_RE.test(s) ? s.toLowerCase() : null
}

export function guidToBytes(guid: string): Buffer {
  const g = normaliseGuid(guid)
  if (!g) throw new Error(`not a GUID: ${guid}`)
  const hex = g.replace(/-/g, '')
  const b = Buffer.from(hex, 'hex')
  b.subarray(0, 4).reverse()
  b.subarray(4, 6).reverse()
  b.subarray(6, 8).reverse()
  return b
}

export function guidFromBytes(buf: Buffer, offset = 0): string {
  const b = Buffer.from(buf.subarray(offset, offset + 16))
  if (b.length !== 16) throw new RangeError('a GUID needs 16 bytes')
  b.subarray(0, 4).reverse()
  b.subarray(4, 6).reverse()
  b.subarray(6, 8).reverse()
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** gEfiSystemNvDataFvGuid: the FileSystemGuid of the firmware volume holding the variable store */
export const SYSTEM_NV_DATA_FV_GUID = 'fff12b8d-7696-4c8b-a985-2747075b4f50'
/** gEfiVariableGuid: signature of a variable store with VARIABLE_HEADER records */
export const VARIABLE_STORE_GUID = 'ddcf3616-3275-4164-98b6-fe85707ffe7d'
/** gEfiAuthenticatedVariableGuid: signature of a store with AUTHENTICATED_VARIABLE_HEADER records */
export const AUTH_VARIABLE_STORE_GUID = 'aaf32c78-947b-439a-a180-2e144ec37792'
/** EFI_GLOBAL_VARIABLE (UEFI spec §3.3): Boot####, BootOrder, Timeout, PK, KEK, … */
export const EFI_GLOBAL_VARIABLE_GUID = '8be4df61-93ca-11d2-aa0d-00e098032b8c'
