// The variable store reader/writer on the stores Debian ships (ovmf, qemu-efi-aarch64).
import t, { type Test } from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import {
  ATTR_NV_BS_RT, UefiStoreError, editVariables, findVariable, liveVariables, readVariableStore,
  type VariableRecord, type VariableStore,
} from '../../src/uefi/index.js'
import { VAR_ADDED, VAR_DELETED, VAR_IN_DELETED_TRANSITION } from '../../src/uefi/varstore.js'

const AAVMF_MS = '/usr/share/AAVMF/AAVMF_VARS.ms.fd'
const AAVMF_BLANK = '/usr/share/AAVMF/AAVMF_VARS.fd'
const OVMF = '/usr/share/OVMF/OVMF_VARS.fd'
const OVMF_4M = '/usr/share/OVMF/OVMF_VARS_4M.fd'
const OVMF_4M_MS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd'
const GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c'
const IMAGE_SECURITY_DB = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f'
const TEST_GUID = '3b9c5a52-6e0f-4d8e-9d47-0f5e3a1c2b7d'

const missing = [AAVMF_MS, AAVMF_BLANK, OVMF, OVMF_4M, OVMF_4M_MS].filter((f) => !existsSync(f))
const skip = missing.length ? `firmware files missing (apt install ovmf qemu-efi-aarch64): ${missing.join(', ')}` : false

const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const live = (s: VariableStore): Map<string, VariableRecord> => new Map(liveVariables(s).map((r) => [`${r.guid}:${r.name}`, r]))
const storeEnd = (s: VariableStore): number => s.storeOffset + s.storeSize

/** every live variable of `before` except `except` is live in `after` with the same data, attributes, auth fields */
function samOthers(t: Test, before: VariableStore, after: VariableStore, except: string[]): void {
  const a = live(after)
  for (const [k, r] of live(before)) {
    if (except.includes(k)) continue
    const n = a.get(k)
    if (!n) { t.fail(`${k} vanished`); continue }
    if (!n.data.equals(r.data) || n.attributes !== r.attributes) t.fail(`${k} changed`)
    if (r.auth && (n.auth?.monotonicCount !== r.auth.monotonicCount || !n.auth.timestamp.equals(r.auth.timestamp) || n.auth.pubKeyIndex !== r.auth.pubKeyIndex)) t.fail(`${k}: auth fields changed`)
  }
  t.pass(`${live(before).size - except.length} other variables kept data, attributes and timestamps`)
}

t.test('lists the authenticated store of AAVMF_VARS.ms.fd', { skip }, async (t) => {
  const s = readVariableStore(readFileSync(AAVMF_MS))
  t.equal(s.format, 'authenticated')
  t.equal(s.volume.offset, 0)
  t.equal(s.storeOffset, 0x48)
  t.equal(s.storeSize, 0x3ffb8)
  const v = live(s)
  for (const k of [`${GLOBAL}:PK`, `${GLOBAL}:KEK`, `${IMAGE_SECURITY_DB}:db`, `${IMAGE_SECURITY_DB}:dbx`, `${GLOBAL}:Boot0000`, `${GLOBAL}:Timeout`, `${GLOBAL}:PlatformLang`]) {
    t.ok(v.has(k), `${k} is live`)
  }
  t.equal(v.get(`${GLOBAL}:Timeout`)!.data.readUInt16LE(0), 5, 'Timeout is 5 s')
  t.equal(v.get(`${GLOBAL}:PlatformLang`)!.data.toString('latin1'), 'en\0')
  t.equal(v.get(`${GLOBAL}:PK`)!.attributes, 0x27, 'PK is NV|BS|RT|AT')
  t.ok(v.get(`${GLOBAL}:PK`)!.auth!.timestamp.some((b) => b !== 0), 'PK carries its timestamp')
  // the ms store holds deleted copies too (BootOrder written thrice and deleted, CustomMode replaced)
  t.ok(s.records.some((r) => r.name === 'CustomMode' && r.state === (VAR_ADDED & VAR_IN_DELETED_TRANSITION & VAR_DELETED)), 'a replaced copy is seen as deleted')
  t.notOk(v.has(`${GLOBAL}:BootOrder`), 'a deleted variable is not live')
  t.equal(v.get('c076ec0c-7028-4399-a072-71ee5c448b9f:CustomMode')!.data.toString('hex'), '00', 'the newest CustomMode wins')
  t.equal(s.dirtyTail, false)
})

t.test('lists the OVMF stores: empty, and the 4M ms one', { skip }, async (t) => {
  const empty = readVariableStore(readFileSync(OVMF))
  t.equal(empty.format, 'authenticated')
  t.equal(empty.storeSize, 0xdfb8)
  t.equal(empty.records.length, 0)
  t.equal(empty.freeOffset, 0x48 + 28)
  t.equal(readVariableStore(readFileSync(OVMF_4M)).records.length, 0)
  const ms = readVariableStore(readFileSync(OVMF_4M_MS))
  t.ok(findVariable(ms, GLOBAL, 'PK'))
  t.equal(findVariable(ms, GLOBAL, 'Timeout')!.data.readUInt16LE(0), 0)
})

t.test('set, replace and delete round trips on AAVMF_VARS.ms.fd', { skip }, async (t) => {
  const input = readFileSync(AAVMF_MS)
  const inputHash = hash(input)
  const before = readVariableStore(input)
  const oldTimeout = findVariable(before, GLOBAL, 'Timeout')!
  const r = editVariables(input, [
    { op: 'set', guid: TEST_GUID, name: 'BootlabTest', data: Buffer.from('01000000', 'hex') },
    { op: 'set', guid: GLOBAL, name: 'Timeout', data: Buffer.from([1, 0]) },
    { op: 'delete', guid: GLOBAL, name: 'Boot0002' },
  ])
  t.equal(hash(input), inputHash, 'the input buffer is untouched')
  t.ok(r.changed)
  t.notOk(r.reclaimed, 'plenty of room: appended, not reclaimed')
  const after = readVariableStore(r.image)
  const added = findVariable(after, TEST_GUID, 'BootlabTest')!
  t.equal(added.attributes, ATTR_NV_BS_RT, 'a new variable defaults to NV|BS|RT')
  t.equal(added.state, VAR_ADDED)
  t.equal(added.data.toString('hex'), '01000000')
  t.same(added.auth, { monotonicCount: 0n, timestamp: Buffer.alloc(16), pubKeyIndex: 0 }, 'zeroed auth fields, as EDK2 writes them for a plain variable')
  const newTimeout = findVariable(after, GLOBAL, 'Timeout')!
  t.equal(newTimeout.data.readUInt16LE(0), 1)
  t.ok(newTimeout.offset > oldTimeout.offset, 'the new copy is appended')
  t.equal(r.image[oldTimeout.offset + 2], VAR_ADDED & VAR_IN_DELETED_TRANSITION & VAR_DELETED, 'the old copy is marked deleted as EDK2 does (0x3c)')
  t.equal(findVariable(after, GLOBAL, 'Boot0002'), undefined, 'Boot0002 deleted')
  const boot2 = before.records.find((x) => x.name === 'Boot0002' && x.live)!
  t.equal(r.image[boot2.offset + 2], VAR_ADDED & VAR_DELETED, 'a deleted variable is marked 0x3d')
  samOthers(t, before, after, [`${GLOBAL}:Timeout`, `${GLOBAL}:Boot0002`])
  t.ok(input.subarray(0, before.storeOffset).equals(r.image.subarray(0, before.storeOffset)), 'volume header unchanged')
  t.ok(input.subarray(storeEnd(before)).equals(r.image.subarray(storeEnd(before))), 'FTW areas and the rest of the image unchanged')
  // every byte that changed inside the store is a state byte of an old record or new-record space
  for (let i = before.storeOffset; i < storeEnd(before); i++) {
    if (input[i] === r.image[i]) continue
    const stateOf = [oldTimeout.offset + 2, boot2.offset + 2]
    if (!stateOf.includes(i) && i < before.freeOffset) { t.fail(`byte ${i.toString(16)} changed`); break }
    if (i < before.freeOffset) t.equal((input[i]! & r.image[i]!), r.image[i], 'state bits are only cleared')
  }
  // back again: delete the new one, restore the timeout
  const back = editVariables(r.image, [{ op: 'delete', guid: TEST_GUID, name: 'BootlabTest' }, { op: 'set', guid: GLOBAL, name: 'Timeout', data: Buffer.from([5, 0]) }])
  const s2 = readVariableStore(back.image)
  t.equal(findVariable(s2, TEST_GUID, 'BootlabTest'), undefined)
  t.equal(findVariable(s2, GLOBAL, 'Timeout')!.data.readUInt16LE(0), 5)
  samOthers(t, after, s2, [`${GLOBAL}:Timeout`, `${TEST_GUID}:BootlabTest`])
})

t.test('no-op edits return the input image', { skip }, async (t) => {
  const input = readFileSync(AAVMF_MS)
  const r = editVariables(input, [{ op: 'set', guid: GLOBAL, name: 'Timeout', data: Buffer.from([5, 0]) }, { op: 'delete', guid: TEST_GUID, name: 'Nope' }])
  t.notOk(r.changed)
  t.equal(r.image, input)
})

t.test('authenticated variables: deleted yes, rewritten no; attribute changes refused', { skip }, async (t) => {
  const input = readFileSync(AAVMF_MS)
  t.throws(() => editVariables(input, [{ op: 'set', guid: GLOBAL, name: 'PK', data: Buffer.from([1]) }]), /authenticated variable; bootlab can delete it but not rewrite it/)
  t.throws(() => editVariables(input, [{ op: 'set', guid: GLOBAL, name: 'Timeout', data: Buffer.from([1, 0]), attributes: 3 }]), /exists with attributes NV\|BS\|RT, not NV\|BS; delete it first/)
  t.throws(() => editVariables(input, [{ op: 'set', guid: TEST_GUID, name: 'X', data: Buffer.from([1]), attributes: 0x27 }]), /does not write authenticated/)
  t.throws(() => editVariables(input, [{ op: 'set', guid: TEST_GUID, name: 'X', data: Buffer.alloc(0) }]), /empty data/)
  t.throws(() => editVariables(input, [{ op: 'set', guid: TEST_GUID, name: 'X', data: Buffer.alloc(0x2000) }]), /exceeds 8192 bytes/)
  t.throws(() => editVariables(input, [{ op: 'set', guid: 'nope', name: 'X', data: Buffer.from([1]) }]), /not a GUID/)
  const r = editVariables(input, [{ op: 'delete', guid: GLOBAL, name: 'PK' }])
  const s = readVariableStore(r.image)
  t.equal(findVariable(s, GLOBAL, 'PK'), undefined, 'PK deleted')
  t.ok(findVariable(s, GLOBAL, 'KEK'), 'KEK kept')
})

t.test('a full store is reclaimed, then refused with a clear error', { skip }, async (t) => {
  let img: Buffer = readFileSync(OVMF)
  const original = Buffer.from(img)
  // rewriting one 4 KiB variable fills the 56 KiB store with deleted copies: reclaim must kick in
  let reclaimed = 0
  for (let i = 0; i < 30; i++) {
    const r = editVariables(img, [
      { op: 'set', guid: TEST_GUID, name: 'Keep', data: Buffer.from('keep me') },
      { op: 'set', guid: TEST_GUID, name: 'Big', data: Buffer.alloc(4000, i) },
    ])
    if (r.reclaimed) reclaimed++
    img = r.image
  }
  t.ok(reclaimed >= 1, `reclaimed ${reclaimed} time(s)`)
  const s = readVariableStore(img)
  t.equal(findVariable(s, TEST_GUID, 'Big')!.data[0], 29, 'the last write wins')
  t.equal(findVariable(s, TEST_GUID, 'Keep')!.data.toString(), 'keep me', 'other variables survive the reclaim')
  t.equal(liveVariables(s).length, 2)
  t.ok(original.subarray(0, 0x48).equals(img.subarray(0, 0x48)) && original.subarray(0xe000).equals(img.subarray(0xe000)), 'outside the store nothing moved')
  // distinct variables until nothing fits
  const edits = Array.from({ length: 20 }, (_, i) => ({ op: 'set' as const, guid: TEST_GUID, name: `Fill${i}`, data: Buffer.alloc(4000, 1) }))
  let err: unknown
  try { editVariables(img, edits) } catch (e) { err = e }
  t.ok(err instanceof UefiStoreError, 'refused with a UefiStoreError')
  t.match(String(err), /the variable store is full: the \d+-byte record for .*:Fill\d+ does not fit in the \d+ bytes free after reclaiming/)
})

t.test('refuses what it cannot parse', { skip }, async (t) => {
  t.throws(() => readVariableStore(readFileSync(AAVMF_BLANK)), /no variable store: the 67108864-byte file is blank \(all zeros\), an unformatted store the firmware formats at its first boot/)
  t.throws(() => readVariableStore(Buffer.alloc(4096, 0x55)), /no EDK2 NvData firmware volume/)
  const good = readFileSync(OVMF)
  const badSum = Buffer.from(good); badSum[0x2c] = badSum[0x2c]! ^ 0x01
  t.throws(() => readVariableStore(badSum), /header checksum is wrong/)
  const truncated = good.subarray(0, 0x10000)
  t.throws(() => readVariableStore(truncated), /does not fit the 65536-byte file/)
  const unformatted = Buffer.from(good); unformatted[0x48 + 20] = 0xff
  t.throws(() => readVariableStore(unformatted), /not formatted/)
  const badSig = Buffer.from(good); badSig[0x48] = badSig[0x48]! ^ 0xff
  t.throws(() => readVariableStore(badSig), /unknown signature/)
  const bigStore = Buffer.from(good); bigStore.writeUInt32LE(0x30000, 0x48 + 16)
  t.throws(() => readVariableStore(bigStore), /Size 0x30000 does not fit/)
  // a record whose DataSize runs past the end of the store
  const withVar = editVariables(good, [{ op: 'set', guid: TEST_GUID, name: 'A', data: Buffer.from([1]) }]).image
  const overrun = Buffer.from(withVar); overrun.writeUInt32LE(0x100000, 0x64 + 40)
  t.throws(() => readVariableStore(overrun), /runs past the end of the store; the store is corrupt/)
  const badName = Buffer.from(withVar); badName.writeUInt16LE(0x41, 0x64 + 60 + 2)
  t.throws(() => readVariableStore(badName), /malformed name/)
  // editing refuses the same way and leaves the input alone
  const h = hash(badSum)
  t.throws(() => editVariables(badSum, [{ op: 'delete', guid: GLOBAL, name: 'Timeout' }]), UefiStoreError)
  t.equal(hash(badSum), h)
})

t.test('a dirty free area is reclaimed before appending', { skip }, async (t) => {
  const good = readFileSync(OVMF)
  const withVar = editVariables(good, [{ op: 'set', guid: TEST_GUID, name: 'A', data: Buffer.from([1]) }]).image
  const s = readVariableStore(withVar)
  const dirty = Buffer.from(withVar); dirty[s.freeOffset + 100] = 0x00
  t.equal(readVariableStore(dirty).dirtyTail, true)
  const r = editVariables(dirty, [{ op: 'set', guid: TEST_GUID, name: 'B', data: Buffer.from([2]) }])
  t.ok(r.reclaimed)
  const after = readVariableStore(r.image)
  t.equal(after.dirtyTail, false)
  t.same(liveVariables(after).map((x) => x.name), ['A', 'B'])
})
