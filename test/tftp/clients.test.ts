// Real TFTP clients (tftp-hpa, atftp, curl, busybox) fetch files from bootlab's TFTP server running
// in its own network namespace: every size arrives byte-exact; Pi prefix and jail behave.
import t from 'tap'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLab, isRoot, type Lab } from '../../src/lab/netns.js'
import { clientArgv, makeFiles, sha256File, startBootlab, type ClientName, type ClientOpts, type RunningServer, type TestFiles } from './fixtures/lab.js'

const MiB = 1 << 20
const sizes = { f0: 0, f511: 511, f512: 512, f513: 513, f1m: MiB, f20m: 20 * MiB }

t.test('real clients against bootlab tftp', { skip: !isRoot() && 'needs root (network namespaces)' }, async (t) => {
  const lab: Lab = await createLab({ hosts: { srv: 1, cli: 2 }, subnet: '10.78.0' })
  t.teardown(() => lab.cleanup())
  const files: TestFiles = await makeFiles(sizes)
  t.teardown(() => files.cleanup())
  // a Pi firmware set and a secret outside the root
  const fw = join(files.dir, '..', `${files.dir.split('/').pop()}-fw`)
  await mkdir(join(fw, 'rpi4'), { recursive: true })
  await writeFile(join(fw, 'rpi4', 'start4.elf'), 'start4 firmware bytes\n')
  await symlink('/etc/passwd', join(files.dir, 'escape'))
  await mkdir(join(files.dir, 'sub'))
  await symlink('../f513', join(files.dir, 'sub', 'inside'))
  t.teardown(async () => { const { rm } = await import('node:fs/promises'); await rm(fw, { recursive: true, force: true }) })

  const srv: RunningServer = await startBootlab(lab, 'srv', {
    roots: [files.dir],
    pi: { '1a2b3c4d': join(fw, 'rpi4') },
    generated: { '1a2b3c4d/config.txt': 'arm_64bit=1\narmstub=RPI_EFI.fd\n' },
  })
  const ip = lab.hosts.srv!.ip
  // BOOTLAB_TFTP_DATA_PATH=native|js picks the data path (src/tftp/fast-path.ts); run the file with both
  const wanted = process.env.BOOTLAB_TFTP_DATA_PATH
  const path = srv.ready.dataPath
  if (wanted === 'native' || wanted === 'js') t.equal(path, wanted, `transfers run on the ${wanted} data path`)
  else t.comment(`data path: ${path}`)
  let n = 0
  const fetch = async (client: ClientName, name: string, o: ClientOpts = {}, timeoutMs = 60000): Promise<{ code: number; out: string; local: string; stderr: string }> => {
    const local = join(files.out, `${client}-${n++}-${name.replace(/[^a-z0-9]/gi, '_')}`)
    // curl writes nothing for an empty file: create it first (lab notes)
    if (client === 'curl') await writeFile(local, '')
    const r = await lab.exec('cli', clientArgv(client, ip, srv.port, name, local, o), { timeoutMs })
    return { code: r.code, out: r.stdout, stderr: r.stderr, local }
  }
  const variants: [ClientName, ClientOpts][] = [
    ['tftp-hpa', {}],
    ['atftp', {}],
    ['atftp', { blksize: 1468, tsize: true }],
    ['atftp', { blksize: 1468, windowsize: 16, tsize: true }],
    ['curl', {}],
    ['curl', { blksize: 1468 }],
    ['busybox', {}],
    ['busybox', { blksize: 1468 }],
  ]
  for (const [client, o] of variants) {
    await t.test(`${client} ${JSON.stringify(o)}`, async (t) => {
      for (const name of Object.keys(sizes)) {
        const r = await fetch(client, name, o)
        t.equal(r.code, 0, `${name}: exit 0 ${r.stderr}`)
        t.equal(await sha256File(r.local), files.sha.get(name), `${name} byte-exact`)
      }
    })
  }

  await t.test('atftp with blksize 16 and windowsize 32: block numbers roll over past 65535', async (t) => {
    const big = await makeFiles({ roll: 16 * 70000 + 5 })
    t.teardown(() => big.cleanup())
    const srv2 = await startBootlab(lab, 'srv', { port: 6969, roots: [big.dir] })
    const local = join(files.out, 'roll')
    const r = await lab.exec('cli', clientArgv('atftp', ip, srv2.port, 'roll', local, { blksize: 16, windowsize: 32 }), { timeoutMs: 60000 })
    t.equal(r.code, 0, r.stderr)
    t.equal(await sha256File(local), big.sha.get('roll'), '70001 blocks of 16 bytes arrive byte-exact')
  })

  await t.test('netascii: tftp-hpa in ascii mode gets the text back unchanged', async (t) => {
    const text = 'line one\nline two\r\nbare\rcr\n'
    await writeFile(join(files.dir, 'text.txt'), text)
    const r = await fetch('tftp-hpa', 'text.txt', { mode: 'netascii' })
    t.equal(r.code, 0, r.stderr)
    const { readFile } = await import('node:fs/promises')
    // tftp-hpa turns CR LF back into LF and CR NUL into CR
    t.equal((await readFile(r.local)).toString('latin1'), 'line one\nline two\nbare\rcr\n')
  })

  await t.test('Raspberry Pi prefix: <serial>/start4.elf comes from the firmware set, config.txt is generated', async (t) => {
    const a = await fetch('atftp', '1a2b3c4d/start4.elf', { blksize: 1468, tsize: true })
    t.equal(a.code, 0, a.stderr)
    const { readFile } = await import('node:fs/promises')
    t.equal((await readFile(a.local)).toString(), 'start4 firmware bytes\n')
    const c = await fetch('curl', '1a2b3c4d/config.txt', { blksize: 1024 })
    t.equal(c.code, 0, c.stderr)
    t.equal((await readFile(c.local)).toString(), 'arm_64bit=1\narmstub=RPI_EFI.fd\n')
    const unknown = await fetch('atftp', 'deadbeef/start4.elf')
    t.not(unknown.code, 0, 'an unknown serial finds no start4.elf (the Pi then retries without prefix)')
    const prefixEvent = srv.events('pi_prefix').find((m) => m.serial === '1a2b3c4d')
    t.ok(prefixEvent, 'tftp.pi_prefix event announced the serial')
    t.match(prefixEvent, { serial: '1a2b3c4d', client: { address: lab.hosts.cli!.ip }, mapped: true, machine: 'pi-1a2b3c4d' })
    const rec = srv.records.find((r) => r.file === '1a2b3c4d/start4.elf' && r.outcome === 'ok')
    t.match(rec, { layer: 'pi-prefix', bytes: 22, client: { address: lab.hosts.cli!.ip } })
  })

  await t.test('jail: escapes get TFTP errors, the server stays up', async (t) => {
    for (const name of ['../../etc/passwd', '/etc/passwd', 'a\\..\\b', 'escape', 'sub/../../etc/passwd']) {
      // tftp-hpa exits 0 even after an error packet: its message is what tells
      const r = await fetch('tftp-hpa', name)
      t.match(r.out + r.stderr, /Error code [12]/, `${name}: a TFTP error packet (${(r.out + r.stderr).trim()})`)
    }
    const inside = await fetch('busybox', 'sub/inside')
    t.equal(inside.code, 0, 'a symlink that stays inside the root is served')
    t.equal(await sha256File(inside.local), files.sha.get('f513'))
    const denied = srv.records.filter((r) => r.outcome === 'denied').map((r) => r.file)
    t.ok(denied.includes('../../etc/passwd') && denied.includes('a\\..\\b') && denied.includes('escape'), 'recorded as denied')
    const w = await lab.exec('cli', ['tftp', ip, String(srv.port), '-c', 'put', join(files.dir, 'f511'), 'upload'])
    t.match(w.stdout + w.stderr, /Error code 2/, 'write request refused')
    const stats = await srv.stats()
    t.ok(stats.denied >= 4 && stats.refused >= 1, JSON.stringify(stats))
  })

})
