// Graceful first: ask the running OS (an in-process ssh2 server on loopback) to power off, wait
// until it stops answering, then cut PoE.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import t from 'tap'
import { sshKeyPair } from './fixtures/helpers.js'
import { silentLogger } from '../../src/log.js'
import { PowerCycler } from '../../src/power/cycler.js'
import { gracefulShutdown } from '../../src/power/graceful.js'
import { MemoryJournal } from '../../src/power/journal.js'
import { sshFingerprint } from '../../src/power/ssh-common.js'
import type { GracefulConfig } from '../../src/power/types.js'
import { FAST, ciscoSwitch, record } from './fixtures/helpers.js'
import { IosSimulator } from '../../src/lab/ios-sim.js'

const { Server, utils } = ssh2
const dir = mkdtempSync(join(tmpdir(), 'bootlab-graceful-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const userKey = sshKeyPair('ed25519')
writeFileSync(join(dir, 'id_ed25519'), userKey.private, { mode: 0o600 })
const userPub = utils.parseKey(userKey.public) as ssh2.ParsedKey

/** A machine running an OS: accepts `sudo systemctl poweroff` from the right key, then stops answering. */
async function fakeOs(opts: { ignorePoweroff?: boolean } = {}) {
  const hostKey = sshKeyPair('ed25519')
  const commands: string[] = []
  let stoppedAt = 0
  const conns = new Set<ssh2.Connection>()
  const server = new Server({ hostKeys: [hostKey.private] }, (conn) => {
    conns.add(conn)
    conn.on('error', () => {})
    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.username !== 'pi' || !ctx.key.data.equals(userPub.getPublicSSH())) return ctx.reject(['publickey'])
      if (ctx.signature && !userPub.verify(ctx.blob!, ctx.signature, ctx.hashAlgo)) return ctx.reject(['publickey'])
      ctx.accept()
    })
    conn.on('ready', () => conn.on('session', (accept) => accept().on('exec', (acc, _rej, info) => {
      const ch = acc()
      commands.push(info.command)
      ch.exit(0)
      ch.close()
      if (info.command === 'sudo systemctl poweroff' && !opts.ignorePoweroff) {
        setTimeout(() => { stoppedAt = Date.now(); server.close(); for (const c of conns) c.end() }, 300)
      }
    })))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const parsed = utils.parseKey(hostKey.public) as ssh2.ParsedKey
  t.teardown(() => { for (const c of conns) c.end(); server.close() })
  return {
    port: (server.address() as AddressInfo).port,
    fingerprint: sshFingerprint(parsed.getPublicSSH()),
    commands,
    stoppedAt: () => stoppedAt,
  }
}

const cfg = (os: { port: number; fingerprint: string }, over: Partial<GracefulConfig> = {}): GracefulConfig => ({
  host: '127.0.0.1', port: os.port, user: 'pi', key_file: join(dir, 'id_ed25519'), host_key: os.fingerprint,
  timeout_seconds: 5, settle_seconds: 0, ...over,
})

t.test('graceful shutdown, then the cycle cuts PoE only after the OS stopped answering', async (t) => {
  const os = await fakeOs()
  const sim = new IosSimulator()
  await sim.start()
  t.teardown(() => sim.stop())
  const c = new PowerCycler({ journal: new MemoryJournal(), log: silentLogger(), ...FAST, graceful: (g, log) => gracefulShutdown(g, log, { pollMs: 100, settleMs: 0 }) })
  c.setSwitches({ rack: ciscoSwitch(sim, { off_seconds: 0.2 }) })
  t.teardown(() => c.close())
  const events = record(c.events)
  const out = await c.cycle({ machine: 'pi-03', switch: 'rack', port: 'Gi1/0/3', graceful: cfg(os) }, 'test')
  t.ok(out.ok, out.reason ?? 'ok')
  t.same(os.commands, ['sudo systemctl poweroff'])
  const steps = events.filter((e) => e.name === 'power.step').map((e) => `${e.ev.step}:${e.ev.ok}`)
  t.same(steps.slice(0, 2), ['graceful:true', 'off:true'])
  t.match(events.find((e) => e.ev.step === 'graceful')!.ev.detail, /sent "sudo systemctl poweroff"; 127\.0\.0\.1 stopped answering after/)
  const offAt = sim.log.find((l) => l.line === 'power inline never')!.at
  t.ok(os.stoppedAt() > 0 && offAt >= os.stoppedAt(), 'PoE was cut after the OS stopped answering')
})

t.test('a changed host key: no shutdown command is sent, and the result says so', async (t) => {
  const os = await fakeOs()
  const other = await fakeOs()
  const r = await gracefulShutdown(cfg(os, { host_key: other.fingerprint }), silentLogger(), { pollMs: 100 })
  t.notOk(r.ok)
  t.match(r.detail, /not the pinned host_key; refusing to connect; cutting power without a shutdown/)
  t.same(os.commands, [])
})

t.test('an OS that keeps answering: bounded wait, then power is cut anyway', async (t) => {
  const os = await fakeOs({ ignorePoweroff: true })
  const r = await gracefulShutdown(cfg(os, { timeout_seconds: 1 }), silentLogger(), { pollMs: 100 })
  t.notOk(r.ok)
  t.match(r.detail, /still answers after 1 s; cutting power anyway/)
  const gone = await gracefulShutdown(cfg({ port: 9, fingerprint: os.fingerprint }), silentLogger(), { pollMs: 100 })
  t.notOk(gone.ok)
  t.match(gone.detail, /ECONNREFUSED.*cutting power without a shutdown/)
  const noKey = await gracefulShutdown(cfg(os, { key_file: join(dir, 'missing') }), silentLogger())
  t.match(noKey.detail, /cannot read key_file/)
})
