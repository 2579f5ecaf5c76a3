// `bootlab uefi-vars list|set` end to end (the real CLI, real files).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findVariable, readVariableStore, PFTF_CONFIG_GUID } from '../../src/uefi/index.js'
import { sha256, syntheticRpiEfi } from './helpers.js'

const bootlab = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'uefi-vars', ...args], { encoding: 'utf8', timeout: 120_000 })
const OVMF_4M_MS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd'
const GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c'

const dir = mkdtempSync(join(tmpdir(), 'bootlab-uefi-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const rpi = join(dir, 'RPI_EFI.fd')
writeFileSync(rpi, syntheticRpiEfi())

t.test('set then list on an RPI_EFI.fd; the input stays as it was', async (t) => {
  const before = sha256(readFileSync(rpi))
  const out = join(dir, 'out.fd')
  const r = bootlab('set', rpi, '-o', out, 'RamLimitTo3GB=off', 'SystemTableMode=devicetree', 'Timeout=0', '3b9c5a52-6e0f-4d8e-9d47-0f5e3a1c2b7d:Probe=0102')
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /wrote .*out\.fd: set RamLimitTo3GB=00000000, set SystemTableMode=02000000, set Timeout=0000, set Probe=0102/)
  t.equal(sha256(readFileSync(rpi)), before, 'FILE untouched')
  const s = readVariableStore(readFileSync(out))
  t.equal(findVariable(s, PFTF_CONFIG_GUID, 'SystemTableMode')!.data.toString('hex'), '02000000')
  const l = bootlab('list', out)
  t.equal(l.status, 0, l.stderr)
  t.match(l.stdout, /authenticated variable store at 0x1d0048 \(57272 bytes, \d+ free\), 4 variable\(s\)/)
  t.match(l.stdout, /cd7cc258-31db-22e6-9f22-63b0b8eed6b5:SystemTableMode {2}NV\|BS\|RT {2}4 byte\(s\) {2}02000000 \(SystemTableMode = 2, devicetree\)/)
  const d = bootlab('set', out, '-o', out, '--delete', 'Timeout', '3b9c5a52-6e0f-4d8e-9d47-0f5e3a1c2b7d:Probe')
  t.equal(d.status, 0, d.stderr)
  const j = JSON.parse(bootlab('list', '--json', '--all', out).stdout) as { variables: { name: string; live: boolean; state: number }[] }
  t.same(j.variables.filter((v) => v.live).map((v) => v.name), ['RamLimitTo3GB', 'SystemTableMode'])
  t.same(j.variables.filter((v) => !v.live).map((v) => [v.name, v.state]), [['Timeout', 0x3d], ['Probe', 0x3d]])
})

t.test('list --json on the OVMF 4M ms store', { skip: existsSync(OVMF_4M_MS) ? false : 'needs ovmf' }, async (t) => {
  const r = bootlab('list', '--json', OVMF_4M_MS)
  t.equal(r.status, 0, r.stderr)
  const j = JSON.parse(r.stdout) as { format: string; variables: { guid: string; name: string; data: string; timestamp?: string }[] }
  t.equal(j.format, 'authenticated')
  const timeout = j.variables.find((v) => v.guid === GLOBAL && v.name === 'Timeout')
  t.equal(timeout?.data, '0000')
  t.ok(j.variables.find((v) => v.name === 'PK')?.timestamp?.match(/[1-9a-f]/), 'auth fields listed')
})

t.test('usage and refusal exit codes', async (t) => {
  const out = join(dir, 'x.fd')
  const unknown = bootlab('set', rpi, '-o', out, 'Frobnicate=1')
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /unknown variable "Frobnicate": use one of RamLimitTo3GB, SystemTableMode, Timeout/)
  const range = bootlab('set', rpi, '-o', out, 'SystemTableMode=7')
  t.equal(range.status, 2)
  t.match(range.stderr, /SystemTableMode must be an integer 0-2 or one of acpi, both, devicetree/)
  t.equal(bootlab('set', rpi, '-o', out, `${GLOBAL}:X=zz`).status, 2)
  t.equal(bootlab('set', rpi, 'Timeout=1').status, 2, '-o is required')
  t.notOk(existsSync(out), 'nothing written on a usage error')
  const blank = join(dir, 'blank.fd')
  writeFileSync(blank, Buffer.alloc(65536))
  const b = bootlab('list', blank)
  t.equal(b.status, 6)
  t.match(b.stderr, /no variable store: the 65536-byte file is blank \(all zeros\)/)
  t.equal(bootlab('list', join(dir, 'missing.fd')).status, 6)
  const pk = bootlab('set', OVMF_4M_MS, '-o', out, `${GLOBAL}:PK=00`)
  t.equal(pk.status, 6)
  t.match(pk.stderr, /authenticated variable; bootlab can delete it but not rewrite it/)
})
