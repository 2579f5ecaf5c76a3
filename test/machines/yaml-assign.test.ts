import t from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createYamlAssigner, setMachineProfile, AssignError } from '../../src/machines/yaml-assign.js'

const TEXT = `# bootlab.yaml
server: { http: { port: 8080 } }
machines:
  pi-03:            # slot 3
    mac: dc:a6:32:00:00:03
    profile: ubuntu-install    # change me
  pi-04:
    mac: dc:a6:32:00:00:04   # no profile yet
`

t.test('only the value changes, byte for byte', async (t) => {
  t.equal(setMachineProfile(TEXT, 'pi-03', 'local'), TEXT.replace('profile: ubuntu-install ', 'profile: local '))
  t.equal(setMachineProfile(TEXT, 'pi-03', 'odd name'), TEXT.replace('ubuntu-install', '"odd name"'))
})

t.test('a machine without profile gets one, comments kept', async (t) => {
  const out = setMachineProfile(TEXT, 'pi-04', 'local')
  t.equal(out, TEXT + '    profile: local\n')
  const flow = 'machines:\n  a: {mac: x}  # flow\n'
  t.same(setMachineProfile(flow, 'a', 'local'), 'machines:\n  a: { mac: x, profile: local } # flow\n', 'flow mappings are rewritten by the yaml library')
  const nested = 'machines:\n  a:\n    mac: x\n    vars:\n      k: v\nswitches: {}\n'
  t.equal(setMachineProfile(nested, 'a', 'local'), 'machines:\n  a:\n    mac: x\n    vars:\n      k: v\n    profile: local\nswitches: {}\n')
})

t.test('errors', async (t) => {
  t.throws(() => setMachineProfile(TEXT, 'nope', 'local'), AssignError)
  t.throws(() => setMachineProfile('machines: [1, 2]\n', 'a', 'local'), AssignError)
  t.throws(() => setMachineProfile('machines:\n  a: 1\n', 'a', 'local'), AssignError)
  t.throws(() => setMachineProfile('machines: {a: [\n', 'a', 'local'), /does not parse/)
})

t.test('assigner writes atomically, keeps the mode, reloads, serialises edits', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-assign-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'bootlab.yaml')
  writeFileSync(file, TEXT)
  chmodSync(file, 0o640)
  let reloads = 0
  const assign = createYamlAssigner({ configPath: file, reload: async () => { reloads++ } })
  await Promise.all([assign('pi-03', 'a'), assign('pi-04', 'b'), assign('pi-03', 'c')])
  const out = readFileSync(file, 'utf8')
  t.match(out, 'profile: c    # change me')
  t.match(out, /pi-04:\n {4}mac: .*\n {4}profile: b\n$/)
  t.equal(reloads, 3)
  t.equal(statSync(file).mode & 0o777, 0o640)
  t.same(readdirSync(dir), ['bootlab.yaml'], 'no temp files left')
  await t.rejects(assign('ghost', 'x'), AssignError)
  t.equal(readFileSync(file, 'utf8'), out, 'a failed edit changes nothing')
})
