// The systemd unit (issue 13 item 22): least privilege, syscall filter, resource caps, no restart loop.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const UNIT = 'deploy/bootlab.service'
const text = readFileSync(UNIT, 'utf8')
/** every value of a directive (a unit may repeat one) */
const values = (key: string): string[] => text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1).trim())
const one = (key: string): string | undefined => values(key).at(-1)

t.test('capabilities and address families: only what bootlab uses', async (t) => {
  t.same(one('AmbientCapabilities')?.split(/\s+/).sort(), ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'])
  t.same(one('CapabilityBoundingSet')?.split(/\s+/).sort(), ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'])
  const settings = text.split('\n').filter((l) => !l.startsWith('#')).join('\n')
  t.notMatch(settings, /CAP_NET_ADMIN|AF_PACKET/)
  t.same(one('RestrictAddressFamilies')?.split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX'])
  // nothing in the source opens a packet socket or needs CAP_NET_ADMIN
  const bindsock = readFileSync('native/bindsock/bindsock.c', 'utf8')
  t.notMatch(bindsock, /AF_PACKET|SOCK_RAW|SIOCSARP/)
})

t.test('hardening lines and resource caps', async (t) => {
  t.equal(one('SystemCallFilter'), '@system-service')
  t.equal(one('SystemCallErrorNumber'), 'EPERM')
  t.equal(one('ProtectProc'), 'invisible')
  t.match(one('MemoryMax'), /^\d+[KMG]$/)
  t.match(one('TasksMax'), /^\d+$/)
  t.equal(one('NoNewPrivileges'), 'yes')
  t.equal(one('ProtectSystem'), 'strict')
})

t.test('no restart loop: start limit, and no restart on a bad config or a damaged database', async (t) => {
  t.match(one('StartLimitIntervalSec'), /^\d+$/)
  t.match(one('StartLimitBurst'), /^\d+$/)
  t.ok(text.indexOf('StartLimitBurst') < text.indexOf('[Service]'), 'StartLimit* belong to [Unit]')
  t.same(one('RestartPreventExitStatus')?.split(/\s+/).sort(), ['1', '7'])
})

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
t.test('systemd-analyze verify accepts every line', { skip: analyze.status === 0 ? false : 'systemd-analyze is not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-unit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  copyFileSync(UNIT, join(dir, 'bootlab.service'))
  const r = spawnSync('systemd-analyze', ['verify', join(dir, 'bootlab.service')], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 0, r.stderr)
  // unknown keys and invalid values are only warnings for systemd: none may appear
  t.equal(r.stderr.trim(), '', 'no warnings')
})
