import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { diffConfig } from '../../src/config/diff.js'
import type { Config } from '../../src/config/types.js'

const base = (profile: string, extra = ''): string => [
  'server: { unknown: ignore }',
  'switches:', '  sw: { driver: command, on: [/bin/true], off: [/bin/true] }',
  'profiles:', '  a: { boot: local }', '  b: { chain: "http://x.invalid/" }',
  'machines:', `  m1: { mac: 00:11:22:33:44:55, arch: bios, profile: ${profile}, power: { switch: sw, port: "1" } }`,
  extra,
].join('\n')

function cfg(text: string): Config {
  const r = parseConfig(text, 'd.yaml', { env: {} })
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return r.config
}

t.test('profile change, machine added, removed', async (t) => {
  const a = cfg(base('a'))
  const b = cfg(base('b', '  m2: { mac: 00:11:22:33:44:66, arch: bios }'))
  t.same(diffConfig(a, b), [
    { type: 'machine.profile_changed', machine: 'm1', from: 'a', to: 'b' },
    { type: 'machine.added', machine: 'm2' },
  ])
  t.same(diffConfig(b, a), [
    { type: 'machine.profile_changed', machine: 'm1', from: 'b', to: 'a' },
    { type: 'machine.removed', machine: 'm2' },
  ])
  t.same(diffConfig(a, cfg(base('a'))), [], 'no change, no events')
})

t.test('switch and profile changes', async (t) => {
  const a = cfg(base('a'))
  const b = cfg(base('a').replace('off: [/bin/true]', 'off: [/bin/false]').replace('a: { boot: local }', 'a: { boot: local, description: x }'))
  t.same(diffConfig(a, b), [{ type: 'switch.changed', switch: 'sw' }, { type: 'profile.changed', profile: 'a' }])
})
