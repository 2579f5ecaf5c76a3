// The per-machine RPI_EFI.fd generator on a synthetic image shaped like pftf's.
import t from 'tap'
import {
  PFTF_CONFIG_GUID, RpiEfiCache, describeServedUefi, findVariable, liveVariables, readVariableStore, rpiEfiFor, settingsEdits,
  EFI_GLOBAL_VARIABLE_GUID as GLOBAL,
} from '../../src/uefi/index.js'
import { fvHeaderChecksum } from '../../src/uefi/firmware-volume.js'
import { RPI, sha256, syntheticRpiEfi } from './helpers.js'

const stockBytes = syntheticRpiEfi()
const stock = { bytes: stockBytes, sha256: sha256(stockBytes) }

t.test('the synthetic image matches RPi4.fdf and is read like pftf firmware', async (t) => {
  t.equal(stockBytes.readUInt16LE(RPI.nvOffset + 0x32), RPI.fdfChecksum, 'same FV header checksum as RPi4.fdf (0xF919)')
  t.equal(fvHeaderChecksum(stockBytes, RPI.nvOffset, 0x48), 0)
  const s = readVariableStore(stockBytes)
  t.equal(s.volume.offset, RPI.nvOffset, 'found the NvData volume at 0x1d0000, past FVMAIN_COMPACT')
  t.equal(s.storeOffset, RPI.storeOffset)
  t.equal(s.storeSize, RPI.storeSize)
  t.equal(s.format, 'authenticated')
  t.equal(s.records.length, 0, 'stock pftf ships an empty store: every setting is at its default')
})

t.test('generated image: the settings written, every other byte as shipped', async (t) => {
  const cache = new RpiEfiCache(4)
  const g = cache.generate(stock, { ram_limit_3gb: false, system_table: 'devicetree', boot_timeout: 0, vars: { [`${PFTF_CONFIG_GUID}:FanOnGpio`]: '13000000' } })
  t.ok(g.patched)
  t.equal(g.bytes.length, stockBytes.length)
  t.equal(sha256(stockBytes), stock.sha256, 'stock bytes untouched')
  t.ok(g.bytes.subarray(0, RPI.storeOffset).equals(stockBytes.subarray(0, RPI.storeOffset)), 'TF-A, FVMAIN_COMPACT and the volume header identical')
  const end = RPI.storeOffset + RPI.storeSize
  t.ok(g.bytes.subarray(end).equals(stockBytes.subarray(end)), 'event log, FTW working block and spare identical')
  const s = readVariableStore(g.bytes)
  const v = (guid: string, name: string) => findVariable(s, guid, name)
  t.equal(v(PFTF_CONFIG_GUID, 'RamLimitTo3GB')!.data.toString('hex'), '00000000', 'RamLimitTo3GB = 0 (UINT32)')
  t.equal(v(PFTF_CONFIG_GUID, 'SystemTableMode')!.data.toString('hex'), '02000000', 'SystemTableMode = 2 (SYSTEM_TABLE_MODE_DT)')
  t.equal(v(GLOBAL, 'Timeout')!.data.toString('hex'), '0000', 'Timeout = 0 (UINT16)')
  t.equal(v(PFTF_CONFIG_GUID, 'FanOnGpio')!.data.readUInt32LE(0), 19)
  for (const r of liveVariables(s)) t.equal(r.attributes, 7, `${r.name} is NV|BS|RT like ConfigDxe's efivarstores`)
  t.same(g.settings, ['RamLimitTo3GB=0 (RAM not limited)', 'SystemTableMode=2 (devicetree)', 'Timeout=0 s', `${PFTF_CONFIG_GUID}:FanOnGpio=13000000`])
})

t.test('no uefi: settings: the stock bytes, byte for byte', async (t) => {
  t.equal(rpiEfiFor(stock, undefined), stockBytes, 'the very same buffer')
  t.equal(rpiEfiFor(stock, {}), stockBytes)
  t.equal(rpiEfiFor(stock, { vars: {} }), stockBytes)
  t.equal(describeServedUefi(undefined), 'RPI_EFI.fd as shipped (no uefi: settings)')
  t.equal(describeServedUefi({ ram_limit_3gb: true }), 'RPI_EFI.fd with UEFI settings: RamLimitTo3GB=1 (RAM limited to 3 GB)')
})

t.test('cache: keyed by firmware hash and settings, bounded', async (t) => {
  const cache = new RpiEfiCache(2)
  const a1 = cache.generate(stock, { system_table: 'both' })
  const a2 = cache.generate(stock, { system_table: 'both' })
  t.equal(a1.bytes, a2.bytes, 'equal settings share one image')
  const other = Buffer.from(stockBytes); other[5] = other[5]! ^ 0xff
  const b = cache.generate({ bytes: other, sha256: sha256(other) }, { system_table: 'both' })
  t.not(b.bytes, a1.bytes, 'another firmware version gets its own image')
  t.equal(b.bytes[5], other[5])
  cache.generate(stock, { system_table: 'acpi' })
  t.equal(cache.size, 2, 'bounded')
  t.not(cache.generate(stock, { system_table: 'both' }).bytes, a1.bytes, 'the least recently used entry was dropped and rebuilt')
  t.ok(cache.generate(stock, { system_table: 'both' }).bytes.equals(a1.bytes), 'rebuilt identically (deterministic)')
  const small = new RpiEfiCache(16, stockBytes.length * 2.5)
  for (const mode of ['acpi', 'both', 'devicetree'] as const) small.generate(stock, { system_table: mode })
  t.equal(small.size, 2, 'bounded in bytes too')
  const tiny = new RpiEfiCache(16, 1024)
  t.ok(tiny.generate(stock, { system_table: 'both' }).patched, 'an image larger than the budget is still generated')
  t.equal(tiny.size, 0, 'but not kept')
})

t.test('settings edits: fixed order, vars deletes, malformed vars refused', async (t) => {
  const e = settingsEdits({ vars: { [`${GLOBAL}:B`]: '01', [`${GLOBAL}:A`]: null }, boot_timeout: 3 })
  t.same(e.map((x) => `${x.op} ${x.name}`), ['set Timeout', 'delete A', 'set B'])
  t.throws(() => settingsEdits({ vars: { NoGuid: '01' } }), /is not "GUID:Name"/)
  t.throws(() => settingsEdits({ vars: { [`${GLOBAL}:A`]: 'zz' } }), /is not hex data/)
  // a deleting setting on the generated image removes the variable again
  const cache = new RpiEfiCache()
  const withFan = cache.generate(stock, { vars: { [`${PFTF_CONFIG_GUID}:FanOnGpio`]: '12000000' } })
  const s = readVariableStore(withFan.bytes)
  t.equal(findVariable(s, PFTF_CONFIG_GUID, 'FanOnGpio')!.data.readUInt32LE(0), 18)
  const gone = cache.generate({ bytes: withFan.bytes, sha256: withFan.sha256 }, { vars: { [`${PFTF_CONFIG_GUID}:FanOnGpio`]: null } })
  t.equal(findVariable(readVariableStore(gone.bytes), PFTF_CONFIG_GUID, 'FanOnGpio'), undefined)
})
