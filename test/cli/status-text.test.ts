// bootlab status prints what the server says about machines; names, addresses, profiles, steps and
// event text can come from the network, so no escape sequence or control character reaches the terminal.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { statusCommand } from '../../src/cli/status.js'

const EVIL = '\u001b]0;pwned\u0007\u001b[2J\u001b[31mred\r\u009b1m\u202e'

t.test('status output carries no control characters', async (t) => {
  const machine = {
    name: `pi${EVIL}`, mac: `dc:a6:32:00:00:03${EVIL}`, arch: `rpi4${EVIL}`, serial: null, state: `netbooting${EVIL}`,
    state_reason: null, state_since: `2026-12-01${EVIL}`, netboot_step: `tftp${EVIL}`, profile: `p${EVIL}`, boot_profile: `b${EVIL}`,
    deployment: { id: 1, profile: `d${EVIL}`, state: `pending${EVIL}` }, deployed_at: `x${EVIL}`, applied_profile: `a${EVIL}`,
    ip: `10.0.0.1${EVIL}`, last_seen: null, power: false,
  }
  const srv = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.url === '/api/machines' || req.url?.startsWith('/api/machines?')) res.end(JSON.stringify({ machines: [machine] }))
    else if (req.url?.startsWith('/api/machines/')) res.end(JSON.stringify({ machine }))
    else res.end(JSON.stringify({ events: [{ id: 1, ts: 0, machine: 'pi', mac: null, type: `odd${EVIL}`, data: { path: EVIL } }] }))
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => srv.close())
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
  for (const args of [['--server', url, '--token', 'x'.repeat(20)], ['--server', url, '--token', 'x'.repeat(20), 'pi']]) {
    let out = ''
    const cmd = statusCommand({ out: (s) => { out += s }, err: (s) => { out += s }, setExit: () => {} })
    cmd.exitOverride()
    await cmd.parseAsync(args, { from: 'user' })
    t.ok(out.length > 50, 'printed something')
    // eslint-disable-next-line no-control-regex
    t.notMatch(out.replace(/\n/g, ''), /[\u0000-\u001f\u007f-\u009f\u202e]/, `no control characters (${args.at(-1)})`)
  }
})
