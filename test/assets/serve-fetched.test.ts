// What `bootlab fetch` lays out is what a running `bootlab serve` hands a Raspberry Pi over TFTP
// (curl as the TFTP client, loopback only): the pftf set through rpi4-uefi/current, and the arm64 iPXE.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, serve } from '../helpers/serve.js'
import { bootlab, pftfZip, tmpDir } from './helpers.js'
import { extractZip } from '../../src/assets/zip.js'

const run = promisify(execFile)

t.test('fetched pftf release and loader served over TFTP', async (t) => {
  const dir = tmpDir(t, 'bootlab-served-fetch-')
  const offline = join(dir, 'offline')
  mkdirSync(offline)
  const zip = pftfZip('served')
  writeFileSync(join(offline, 'RPi4_UEFI_Firmware_v1.50.zip'), zip)
  const fetched = await bootlab('fetch', 'rpi4-uefi', '--state-dir', join(dir, 'state'), '--from', offline)
  t.equal(fetched.code, 0, fetched.stderr)
  mkdirSync(join(dir, 'state', 'firmware', 'ipxe'))
  writeFileSync(join(dir, 'state', 'firmware', 'ipxe', 'snp-arm64.efi'), 'arm64 ipxe')
  const port = await freePort()
  const tftpPort = await freePort()
  const file = join(dir, 'bootlab.yaml')
  writeFileSync(file, `# loopback only, no DHCP
server: { advertise: 127.0.0.1, http: { port: ${port}, listen: 127.0.0.1 }, tftp: { port: ${tftpPort}, listen: 127.0.0.1 }, dhcp: { mode: off }, unknown: ignore, state_dir: state }
profiles: { local: { boot: local } }
machines: { pi-08: { mac: "dc:a6:32:00:00:08", serial: 1a2b3c08, arch: rpi4, profile: local } }
`)
  const check = await bootlab('check', '--config', file)
  t.equal(check.code, 0)
  t.notMatch(check.stderr, /missing/, 'nothing missing after the fetch')
  const s = await serve(['--config', file], { port })
  t.teardown(async () => { await s.stop('SIGKILL') })
  const want = join(dir, 'want')
  extractZip(zip, (mkdirSync(want), want))
  for (const name of ['start4.elf', 'RPI_EFI.fd', 'bcm2711-rpi-4-b.dtb', 'overlays/upstream-pi4.dtbo']) {
    const out = join(dir, `dl-${name.replace('/', '_')}`)
    await run('curl', ['-sS', '--max-time', '30', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${tftpPort}/1a2b3c08/${name}`])
    t.same(readFileSync(out), readFileSync(join(want, name)), `${name} as in the release`)
  }
  const out = join(dir, 'dl-ipxe')
  await run('curl', ['-sS', '--max-time', '30', '-o', out, `tftp://127.0.0.1:${tftpPort}/ipxe/snp-arm64.efi`])
  t.equal(readFileSync(out, 'utf8'), 'arm64 ipxe')
})
