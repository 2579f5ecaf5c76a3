// A store that cannot write never stops the protocols. `bootlab serve` runs in a test namespace with
// its state dir on a small tmpfs; once running, the tmpfs is filled, so every SQLite write fails
// (SQLITE_FULL), as on a full disk. DHCP still answers the captured Pi 4 DISCOVER and the captured
// UEFI PXE DISCOVER (and busybox udhcpc as a PXE client), TFTP still serves the Pi's generated
// config.txt and its firmware, HTTP still serves the boot script, the process stays up, and the
// failures are counted in /metrics and shown in /healthz. Freeing space makes the store ok again.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdir, mkdtemp, open, rm, unlink, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { vector } from '../dhcp/helpers.js'
import { decodePacket, MessageType, Opt, optIp, optString, optU8 } from '../../src/dhcp/packet.js'
import { decodeMenu, decodePxeOptions, PxeSub } from '../../src/dhcp/pxe.js'

const run = promisify(execFile)
const PROBE = resolve('test/machines/fixtures/dhcp-probe.ts')
const PI_MAC = 'dc:a6:32:ec:fc:3c' // the Pi of the captured DISCOVER
const PI_SERIAL = 'e0ff06da'

/** writes zeros until the filesystem is full (bounded by its size); returns the bytes written */
async function fill(file: string, limit: number): Promise<number> {
  const fh = await open(file, 'w')
  let written = 0
  try {
    for (const size of [65536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size)
      for (;;) {
        if (written > limit) throw new Error('filesystem did not fill up')
        try {
          await fh.write(chunk)
          await fh.sync()
          written += size
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break
          throw err
        }
      }
    }
  } finally {
    await fh.close()
  }
  return written
}

t.test('a store whose writes all fail: DHCP, TFTP and HTTP keep answering; failures counted', { skip: !isRoot() && 'needs root (namespaces, tmpfs)' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-storefail-'))
  const state = join(dir, 'state')
  await mkdir(state)
  await run('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', `bootlab-${randomBytes(3).toString('hex')}`, state])
  const lab = await createLab({ hosts: { srv: 1, cli: 2 } })
  t.teardown(async () => {
    await lab.cleanup()
    await run('umount', ['-l', state]).catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  })
  // limited broadcasts need a route out of the client namespace
  t.equal((await lab.exec('cli', ['ip', 'route', 'add', 'default', 'dev', 'net0'])).code, 0)

  const fw = join(dir, 'firmware')
  await mkdir(join(fw, 'rpi4'), { recursive: true })
  await mkdir(join(fw, 'ipxe'), { recursive: true })
  const start4 = randomBytes(200_000)
  await writeFile(join(fw, 'rpi4', 'start4.elf'), start4)
  await writeFile(join(fw, 'ipxe', 'snp-arm64.efi'), 'arm64 ipxe')
  const file = join(dir, 'bootlab.yaml')
  await writeFile(file, `
server:
  interface: net0
  http: { port: 8080 }
  tftp: { port: 69 }
  dhcp: { mode: proxy }
  unknown: discover
  state_dir: ${state}
  paths: { firmware: ${fw} }
profiles:
  local: { boot: local }
  discovery: { boot: local }
machines:
  pi-400:
    mac: ${PI_MAC}
    serial: ${PI_SERIAL}
    arch: rpi4
    profile: local
`)
  const srv = lab.spawn('srv', [process.execPath, '--import', 'tsx', resolve('src/cli/main.ts'), 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  srv.stdout!.on('data', (d) => { out += d })
  srv.stderr!.on('data', (d) => { out += d })
  const base = `http://${lab.hosts.srv!.ip}:8080`
  const curl = async (args: string[]): Promise<{ code: number; stdout: string }> => lab.exec('cli', ['curl', '-sS', '--max-time', '10', ...args], { timeoutMs: 20_000 })
  const deadline = Date.now() + 30_000
  while ((await curl([`${base}/healthz`])).code !== 0) {
    if (srv.exitCode !== null || Date.now() > deadline) throw new Error(`bootlab did not come up:\n${out}`)
    await new Promise((r) => setTimeout(r, 200))
  }

  // the disk is full from now on
  const filled = await fill(join(state, 'filler'), 8 << 20)
  t.ok(filled > 0, `state dir filled (${filled} bytes)`)

  // DHCP: the captured Pi 4 EEPROM DISCOVER gets the proxy offer with the Pi boot menu
  const probe = async (name: string): Promise<ReturnType<typeof decodePacket> | null> => {
    const r = await lab.exec('cli', [process.execPath, '--import', 'tsx', PROBE, JSON.stringify({ hex: vector(name).toString('hex'), timeoutMs: 5000 })], { timeoutMs: 30_000 })
    const reply = (JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { reply?: string | null }).reply
    return reply ? decodePacket(Buffer.from(reply, 'hex')) : null
  }
  const pi = await probe('pi4-eeprom-discover')
  t.ok(pi, 'the Pi got an answer')
  t.equal(optU8(pi!, Opt.MESSAGE_TYPE), MessageType.OFFER)
  t.equal(pi!.siaddr, lab.hosts.srv!.ip, 'siaddr = bootlab')
  t.equal(optString(pi!, Opt.TFTP_SERVER), lab.hosts.srv!.ip)
  t.same(decodeMenu(decodePxeOptions(pi!.options.get(Opt.VENDOR_SPECIFIC)!)!.get(PxeSub.BOOT_MENU)!), [{ type: 0, text: 'Raspberry Pi Boot' }])
  // the captured UEFI PXE DISCOVER (pftf firmware on a Pi) gets its loader
  const uefi = await probe('rpi4-edk2-uefi-pxe-discover')
  t.ok(uefi, 'the UEFI PXE client got an answer')
  t.equal(optString(uefi!, Opt.BOOTFILE), 'ipxe/snp-arm64.efi')
  t.equal(optIp(uefi!, Opt.SERVER_ID), lab.hosts.srv!.ip)
  // a third-party PXE client: busybox udhcpc with a PXE vendor class (proxy gives no address, so
  // udhcpc itself fails; the server's answered counter tells)
  const answered = async (): Promise<number> => Number(/^bootlab_dhcp_answered (\d+)$/m.exec((await curl([`${base}/metrics`])).stdout)?.[1] ?? -1)
  const before = await answered()
  await lab.exec('cli', ['busybox', 'udhcpc', '-n', '-q', '-f', '-i', 'net0', '-s', '/bin/true', '-t', '2', '-T', '1',
    '-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007'], { timeoutMs: 20_000 })
  t.ok(await answered() > before, 'udhcpc (PXE, x64 UEFI) was answered')

  // TFTP (curl as the client): the generated config.txt and the firmware, byte-exact
  const tftp = async (name: string): Promise<Buffer | null> => {
    const r = await lab.exec('cli', ['sh', '-c', `curl -sS --max-time 10 tftp://${lab.hosts.srv!.ip}/${name} | base64 -w0`], { timeoutMs: 20_000 })
    return r.code === 0 && r.stdout.length > 0 ? Buffer.from(r.stdout, 'base64') : null
  }
  t.match(String(await tftp(`${PI_SERIAL}/config.txt`)), /^# generated by bootlab for machine pi-400 \(serial e0ff06da\)\n[\s\S]*armstub=RPI_EFI\.fd/)
  t.ok((await tftp(`${PI_SERIAL}/start4.elf`))?.equals(start4), 'start4.elf served byte-exact')

  // HTTP: the boot script of the Pi's UEFI stage
  const script = await curl([`${base}/boot.ipxe?mac=${PI_MAC}&buildarch=arm64&platform=efi`])
  t.match(script.stdout, /^#!ipxe\n# bootlab: pi-400 \(dc:a6:32:ec:fc:3c\) profile local\n/)

  // still running; the failed writes are counted
  await new Promise((r) => setTimeout(r, 300))
  t.equal(srv.exitCode, null, 'bootlab is still running')
  const metrics = (await curl([`${base}/metrics`])).stdout
  const num = (re: RegExp): number => Number(re.exec(metrics)?.[1] ?? -1)
  t.ok(num(/^bootlab_store_write_errors (\d+)$/m) > 0, `store write errors counted (${num(/^bootlab_store_write_errors (\d+)$/m)})`)
  t.equal(num(/^bootlab_store_degraded (\d+)$/m), 1, 'store degraded')
  t.ok(num(/^bootlab_machines_observations_failed (\d+)$/m) > 0, 'failed observations counted')
  t.equal(num(/^bootlab_machines_observations_dropped (\d+)$/m), 0, 'nothing dropped (the queue was never full)')
  const health = JSON.parse((await curl([`${base}/healthz`])).stdout) as { status: string; store: { status: string; errors: number; last_error?: string } }
  t.equal(health.status, 'ok', 'bootlab itself is up')
  t.equal(health.store.status, 'degraded')
  t.match(health.store.last_error, /full/i, 'SQLite said the disk is full')

  // space again: the next recorded observation succeeds and the store is ok
  await unlink(join(state, 'filler'))
  const okDeadline = Date.now() + 20_000
  let storeOk = false
  while (!storeOk && Date.now() < okDeadline) {
    await tftp(`${PI_SERIAL}/config.txt`)
    storeOk = (JSON.parse((await curl([`${base}/healthz`])).stdout) as { store: { status: string } }).store.status === 'ok'
    if (!storeOk) await new Promise((r) => setTimeout(r, 200))
  }
  t.ok(storeOk, 'store ok again after a successful write')
  t.equal(srv.exitCode, null, 'still running')
  t.notMatch(out, /uncaught|unhandled/i, 'no crash in the log')
})
