// Issue 13 item 18: observations never overwrite what the config says. A TFTP request for
// `<serial>/…` (anyone on the LAN can send one) used to rewrite a configured machine's address,
// and a request from a configured machine's address under another prefix rewrote its serial.
import t from 'tap'
import { Store } from '../../src/store/store.js'
import { Lifecycle } from '../../src/machines/lifecycle.js'
import type { Config } from '../../src/boot/types.js'
import { silentLogger } from '../../src/log.js'
import { machine, profile } from '../http/fixtures/harness.js'

function config(): Config {
  return {
    server: { http: { port: 8080, listen: '0.0.0.0' }, unknown: 'discover', unknown_profile: 'discovery', state_dir: '/nonexistent', paths: { images: '/i', firmware: '/f', tftproot: '/t' } },
    switches: {},
    profiles: { local: profile({ boot: 'local' }), discovery: profile({ boot: 'local' }) },
    machines: {
      // serial and address configured
      pi: machine('pi', 'dc:a6:32:00:00:01', { serial: 'cafe0001', ip: '10.0.0.11', profile: 'local' }),
      // known by MAC only: its serial and address are learnt
      bare: machine('bare', 'dc:a6:32:00:00:02', { profile: 'local' }),
    },
  }
}

function setup(t: { teardown(fn: () => unknown): void }) {
  const store = new Store({ file: ':memory:' })
  t.teardown(() => store.close())
  const lc = new Lifecycle({ store, getConfig: config, log: silentLogger() })
  lc.start()
  return { store, lc }
}

t.test('a TFTP request under a configured serial from another address keeps the configured address', async (t) => {
  const { store, lc } = setup(t)
  lc.onTftp({ clientIp: '10.0.0.66', file: 'cafe0001/start4.elf', outcome: 'ok', bytes: 10 })
  const row = store.machine('dc:a6:32:00:00:01')!
  t.equal(row.ip, '10.0.0.11', 'ip: is a fact; the request is still recorded on the machine')
  t.equal(lc.events({ machine: 'pi', limit: 10 }).filter((e) => e.type === 'tftp').length, 1)
})

t.test('a TFTP request from a configured address under another prefix keeps the configured serial', async (t) => {
  const { store, lc } = setup(t)
  lc.onTftp({ clientIp: '10.0.0.11', file: 'cafe0001/config.txt', outcome: 'ok', bytes: 10 })
  lc.onTftp({ clientIp: '10.0.0.11', file: 'deadbeef/start4.elf', outcome: 'not_found' })
  t.equal(store.machine('dc:a6:32:00:00:01')!.serial, 'cafe0001')
  t.equal(store.machineBySerial('deadbeef'), undefined, 'nobody got the stranger serial')
})

t.test('DHCP option 97 of a configured Pi cannot rename it; a MAC-only Pi learns its serial', async (t) => {
  const { store, lc } = setup(t)
  lc.onDhcp({ mac: 'dc:a6:32:00:00:01', kind: 'discover', class: 'rpi', serial: 'deadbeef', ip: '10.0.0.99' })
  t.match(store.machine('dc:a6:32:00:00:01'), { serial: 'cafe0001', ip: '10.0.0.11' })
  lc.onDhcp({ mac: 'dc:a6:32:00:00:02', kind: 'discover', class: 'rpi', serial: 'b0b0b0b0' })
  t.equal(store.machine('dc:a6:32:00:00:02')!.serial, 'b0b0b0b0', 'learnt from option 97')
  t.equal(lc.booter.piTarget({ serial: 'b0b0b0b0' })?.machine?.name, 'bare', 'and the booter maps it to the machine')
  // another client claiming the configured Pi's serial or address gets neither
  lc.onDhcp({ mac: 'dc:a6:32:00:00:02', kind: 'ack', serial: 'cafe0001', ip: '10.0.0.11' })
  t.match(store.machine('dc:a6:32:00:00:02'), { serial: 'b0b0b0b0', ip: null })
  t.match(store.machine('dc:a6:32:00:00:01'), { serial: 'cafe0001', ip: '10.0.0.11' })
})
