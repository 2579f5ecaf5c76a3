// `bootlab demo`: bootlab's main job on a built-in default. A virtual lab (src/lab) of QEMU guests
// (x86 BIOS, x86-64 UEFI, arm64 UEFI) netboots from one bootlab at the same time, all inside
// network namespaces created here. Prints each guest's boot milestones and the machine state
// bootlab reports (GET /api/machines, fetched from inside the server namespace), then a summary.
// Exit 0 when every guest reached `deployed`; everything is removed at the end, Ctrl-C included.
import { Command, InvalidArgumentError, Option } from 'commander'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EXIT } from './exit-codes.js'
import { BootlabLabServer, HTTP_PORT } from '../lab/bootlab-server.js'
import { grubArm64, guestImage, defaultCacheDir, type GrubArm64, type GuestImage } from '../lab/artefacts.js'
import { createLabNetwork, type LabNetwork, type ServerAttachment } from '../lab/network.js'
import { labMac } from '../lab/boot.js'
import { FIRMWARE, GUEST_ARCH, GUEST_CONSOLE, missingPrerequisites, startGuest, type Guest, type Milestone, type MilestoneName } from '../lab/qemu.js'
import type { GuestKind, LabGuest } from '../lab/server.js'
import { serveExample } from '../lab/example-serve.js'
import { takeOverSignals } from '../lab/netns.js'
import type { MachineView } from '../machines/lifecycle.js'
import type { EventRow } from '../store/store.js'

const KINDS: readonly GuestKind[] = ['bios', 'uefi-x64', 'uefi-arm64']

/** the boot chain of each guest kind, in words */
export const CHAIN: Record<GuestKind, string> = {
  bios: 'SeaBIOS → iPXE ROM → HTTP boot script → kernel+initrd (HTTP)',
  'uefi-x64': 'OVMF PXE → TFTP ipxe.efi → HTTP boot script → kernel+initrd (HTTP)',
  'uefi-arm64': 'AAVMF PXE → TFTP GRUB → TFTP grub.cfg → kernel+initrd (HTTP)',
}

const LABEL: Record<MilestoneName, string> = {
  'firmware-dhcp': 'firmware DHCP',
  loader: 'loader started',
  'loader-dhcp': 'loader DHCP',
  'boot-script': 'boot script',
  kernel: 'kernel running',
  init: 'initramfs /init',
  'guest-dhcp': 'guest DHCP',
  'phone-home': 'phone-home sent',
  'phone-home-failed': 'phone-home FAILED',
  poweroff: 'powered off',
  'disk-loader': 'GRUB from disk',
  'disk-boot': 'booted from disk',
  installed: 'installed',
  'install-failed': 'install FAILED',
}

/** console lines after which a guest's firmware has given up netbooting (SeaBIOS, OVMF/AAVMF) */
const GAVE_UP = /No bootable device|starting Boot\d+ "EFI Internal Shell"/

/** the per-machine cloud-init token in phone-home URLs is a credential: never echoed */
export function redact(text: string): string {
  return text.replace(/(\/cloud-init\/)[^/\s]+/g, '$1…')
}

export function parseGuests(v: string): GuestKind[] {
  const list = v.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const k of list) {
    if (!(KINDS as readonly string[]).includes(k)) throw new InvalidArgumentError(`unknown guest ${k} (known: ${KINDS.join(', ')})`)
  }
  if (list.length === 0) throw new InvalidArgumentError('no guests given')
  return [...new Set(list)] as GuestKind[]
}

function seconds(v: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('a positive number of seconds')
  return n
}

interface DemoOptions {
  guests: GuestKind[]
  timeout: number
  keep: boolean
  serve: boolean
  smoke: boolean
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('virtual lab: QEMU guests (BIOS, UEFI x86-64, UEFI arm64) netboot from bootlab inside network namespaces (root)')
    .addOption(new Option('--guests <list>', 'comma-separated guest kinds: bios, uefi-x64, uefi-arm64').argParser(parseGuests).default([...KINDS], KINDS.join(',')))
    .option('--timeout <seconds>', 'budget per guest from power-on to deployed', seconds, 150)
    .option('--keep', 'leave bootlab running after the boots, until Ctrl-C', false)
    .option('--serve', 'instead: `bootlab serve` with examples/bootlab.yaml in a lab namespace, until Ctrl-C', false)
    .option('--smoke', 'instead: as --serve, check /healthz from a client namespace, stop', false)
    // wrong usage reaches main's handler (exit 2) instead of commander's own exit 1
    .exitOverride()
    .action(async (opts: DemoOptions) => {
      process.exitCode = await runDemo(opts)
    })
}

const out = (s: string): void => { process.stdout.write(s + '\n') }
const fmt = (ms: number): string => `${(ms / 1000).toFixed(1).padStart(5)} s`

interface GuestRun {
  kind: GuestKind
  lab: LabGuest
  tap: string
  guest: Guest | null
  startedAt: number
  exited: boolean
  state: string
  deployedMs: number | null
  accel: string
}

/** what one demo run holds: everything cleanup() stops or removes, and the Ctrl-C state */
interface Demo {
  o: DemoOptions
  t0: number
  net: LabNetwork | null
  at: ServerAttachment | null
  server: BootlabLabServer | null
  serverLog: string[]
  workDir: string | null
  runs: GuestRun[]
  interrupted: boolean
  /** resolves on Ctrl-C / SIGTERM */
  stopped: Promise<void>
  stop(): void
  cleanup(): Promise<void>
}

async function runDemo(o: DemoOptions): Promise<number> {
  if (o.serve || o.smoke) return await runExample(o)
  const missing = [...new Set(o.guests.flatMap((k) => missingPrerequisites(k)))]
  if (missing.length > 0) {
    process.stderr.write(`bootlab demo: cannot run, missing ${missing.join(', ')} (scripts/demo.sh installs what is needed)\n`)
    return EXIT.START
  }
  const d = newDemo(o)
  const untrap = trapSignals((sig) => {
    if (d.interrupted) return
    d.interrupted = true
    out(`\n${sig}: stopping guests and bootlab, removing the namespaces …`)
    d.stop()
    void d.cleanup().then(() => process.exit(130))
  })
  try {
    out(`bootlab demo: ${o.guests.length} QEMU guest${o.guests.length > 1 ? 's' : ''} (${o.guests.join(', ')}) netboot from one bootlab, inside network namespaces`)
    const { images, grub } = await prepareImages(o.guests)
    await startNetwork(d, images)
    await startBootlab(d, grub)
    const api = bootlabApi(d.net!, d.at!)
    for (const e of await api.newEvents()) out(`  bootlab: ${e.machine ?? e.mac}: ${describeEvent(e)}`)
    const guestsT0 = powerOn(d)
    await follow(d, api, guestsT0)
    if (d.interrupted) return 130
    await powerOff(d)
    const ok = report(d)
    if (o.keep && !d.interrupted) return await keepServing(d)
    return ok ? EXIT.OK : 1
  } catch (err) {
    if (d.interrupted) return 130
    process.stderr.write(`bootlab demo: ${err instanceof Error ? err.message : String(err)}\n`)
    return EXIT.START
  } finally {
    await d.cleanup()
    if (!d.interrupted) untrap()
  }
}

function newDemo(o: DemoOptions): Demo {
  let cleaning: Promise<void> | null = null
  let stop: () => void = () => {}
  const d: Demo = {
    o, t0: Date.now(), net: null, at: null, server: null, serverLog: [], workDir: null, runs: [], interrupted: false,
    stopped: new Promise<void>((r) => { stop = r }),
    stop: () => stop(),
    cleanup() {
      cleaning ??= (async () => {
        for (const r of d.runs) await r.guest?.stop()
        await d.server?.stop()
        await d.net?.cleanup()
        if (d.workDir) rmSync(d.workDir, { recursive: true, force: true })
      })()
      return cleaning
    },
  }
  return d
}

/** handles Ctrl-C / SIGTERM; returns the function that removes the handlers */
function trapSignals(onSignal: (sig: NodeJS.Signals) => void): () => void {
  const giveBack = takeOverSignals()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return () => {
    giveBack()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** kernels and initramfs per architecture, GRUB for arm64 (cached; the first run downloads packages) */
async function prepareImages(guests: GuestKind[]): Promise<{ images: Map<string, GuestImage>; grub: GrubArm64 | undefined }> {
  const t0 = Date.now()
  out(`preparing guest images (Debian kernel + busybox initramfs, cached in ${defaultCacheDir()}; the first run downloads packages) …`)
  const images = new Map<string, GuestImage>()
  for (const arch of new Set(guests.map((k) => GUEST_ARCH[k]))) images.set(arch, await guestImage(arch))
  const grub = guests.includes('uefi-arm64') ? await grubArm64() : undefined
  out(`  ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return { images, grub }
}

/** the lab network: bridge namespace with one tap per guest, bootlab's namespace, IPv6 router advertisements */
async function startNetwork(d: Demo, images: Map<string, GuestImage>): Promise<void> {
  d.workDir = mkdtempSync(join(tmpdir(), 'bootlab-demo-'))
  const net = d.net = await createLabNetwork()
  const at = d.at = await net.attachServer()
  await net.startRouterAdvertisements()
  for (const kind of d.o.guests) {
    const img = images.get(GUEST_ARCH[kind])!
    d.runs.push({
      kind, tap: await net.addTap(), guest: null, startedAt: 0, exited: false, state: '?', deployedMs: null, accel: '',
      lab: { name: kind, mac: labMac(), kind, arch: GUEST_ARCH[kind], kernel: img.kernel, initrd: img.initrd, cmdline: `console=${GUEST_CONSOLE[kind]} panic=5` },
    })
  }
  out(`lab network: namespace ${net.ns} (bridge ${net.bridge}, the guests' taps), bootlab in ${at.ns} at ${at.address} on ${at.iface}`)
}

async function startBootlab(d: Demo, grub: GrubArm64 | undefined): Promise<void> {
  const net = d.net!
  const server = d.server = new BootlabLabServer()
  server.on('log', (l) => { d.serverLog.push(l); if (d.serverLog.length > 200) d.serverLog.shift() })
  const ts = Date.now()
  await server.start({
    net, at: d.at!, workDir: d.workDir!,
    pool: { start: `${net.subnet}.100`, end: `${net.subnet}.199` },
    guests: d.runs.map((r) => r.lab),
    loaders: { ipxeEfiX64: FIRMWARE.ipxeEfiX64, ...(grub ? { grubArm64: grub } : {}) },
  })
  out(`bootlab serve: full DHCP (pool ${net.subnet}.100-199), TFTP, HTTP :${HTTP_PORT}; ready in ${((Date.now() - ts) / 1000).toFixed(1)} s`)
  for (const r of d.runs) out(`  machine ${r.kind.padEnd(10)} ${r.lab.mac}  ${`profile lab-${r.kind}`.padEnd(24)} ${CHAIN[r.kind]}`)
}

interface BootlabApi {
  url: string
  machines(): Promise<MachineView[] | null>
  /** events recorded since the last call, oldest first */
  newEvents(): Promise<EventRow[]>
}

/** bootlab's API, fetched with curl from inside its namespace */
function bootlabApi(net: LabNetwork, at: ServerAttachment): BootlabApi {
  const url = `http://${at.address}:${HTTP_PORT}`
  const get = async <T>(path: string): Promise<T | null> => {
    const res = await net.exec(at.ns, ['curl', '-fsS', '--max-time', '2', `${url}${path}`], { timeoutMs: 5000 })
    if (res.code !== 0) return null
    try { return JSON.parse(res.stdout) as T } catch { return null }
  }
  let lastEvent = 0
  return {
    url,
    machines: async () => (await get<{ machines: MachineView[] }>('/api/machines'))?.machines ?? null,
    async newEvents() {
      const events = (await get<{ events: EventRow[] }>('/api/events?limit=1000'))?.events ?? []
      const fresh = events.filter((e) => e.id > lastEvent).sort((a, b) => a.id - b.id)
      for (const e of fresh) lastEvent = Math.max(lastEvent, e.id)
      return fresh
    },
  }
}

/** starts every guest's QEMU; prints its milestones as they come; returns the start time */
function powerOn(d: Demo): number {
  out('')
  out('   time  who        what')
  const guestsT0 = Date.now()
  for (const r of d.runs) {
    r.startedAt = Date.now()
    const g = startGuest({ kind: r.kind, net: d.net!, tap: r.tap, mac: r.lab.mac, workDir: d.workDir!, timeoutMs: d.o.timeout * 1000 })
    r.guest = g
    g.on('milestone', (m: Milestone) => {
      out(`${fmt(r.startedAt - guestsT0 + m.atMs)}  ${r.kind.padEnd(10)} ${LABEL[m.name].padEnd(17)} ${redact(m.line).slice(0, 80)}`)
    })
    // firmware that ran out of boot options will not netboot any more: stop it now, not at the timeout
    g.on('line', (line: string) => {
      if (!GAVE_UP.test(line) || r.state === 'deployed') return
      out(`${fmt(Date.now() - guestsT0)}  ${r.kind.padEnd(10)} ${'firmware gave up'.padEnd(17)} ${line.trim().slice(0, 80)}`)
      void g.stop()
    })
    void g.done.then((e) => { r.exited = true; r.accel = e.accel }, () => { r.exited = true })
  }
  return guestsT0
}

/**
 * follows bootlab's view until each guest is deployed or has given up: its events as they are
 * recorded (with their own timestamps) and the machines' states
 */
async function follow(d: Demo, api: BootlabApi, guestsT0: number): Promise<void> {
  const deadline = guestsT0 + d.o.timeout * 1000
  for (;;) {
    const exitedBefore = d.runs.map((r) => r.exited)
    for (const e of await api.newEvents()) out(`${fmt(e.ts - guestsT0)}  ${'bootlab'.padEnd(10)} ${e.machine ?? e.mac}: ${describeEvent(e)}`)
    const machines = await api.machines()
    for (const m of machines ?? []) {
      const r = d.runs.find((x) => x.kind === m.name)
      if (!r) continue
      r.state = m.state
      if (m.state === 'deployed' && r.deployedMs === null) {
        r.deployedMs = m.deployed_at ? Date.parse(m.deployed_at) - r.startedAt : Date.now() - r.startedAt
      }
    }
    // a guest that ended before this poll and is still not deployed will not be
    const settled = d.runs.every((r, i) => r.state === 'deployed' || (exitedBefore[i] === true && machines !== null))
    if (settled || Date.now() > deadline || d.interrupted) return
    await Promise.race([new Promise((res) => setTimeout(res, 500)), d.stopped])
  }
}

/** lets the guests power off by themselves (they do after the phone-home), then stops the rest */
async function powerOff(d: Demo): Promise<void> {
  const grace = Date.now() + 15_000
  while (d.runs.some((r) => !r.exited) && Date.now() < grace) await new Promise((res) => setTimeout(res, 200))
  for (const r of d.runs) { await r.guest?.stop(); r.accel ||= r.guest?.accel ?? '' }
}

/** the summary table and, for guests not deployed, their console tail and bootlab's log; true when all deployed */
function report(d: Demo): boolean {
  const { runs } = d
  const ok = runs.every((r) => r.state === 'deployed')
  out('')
  out(summaryTable(runs))
  out('')
  out(ok ? `all ${runs.length} guest${runs.length > 1 ? 's' : ''} deployed in ${((Date.now() - d.t0) / 1000).toFixed(1)} s (images, network and bootlab start included)`
    : `not deployed: ${runs.filter((r) => r.state !== 'deployed').map((r) => r.kind).join(', ')}`)
  for (const r of runs) {
    if (r.state === 'deployed' || !r.guest) continue
    out(`\n${r.kind}: last console lines:\n${redact(r.guest.consoleTail(15))}`)
  }
  if (!ok) out(`\nbootlab's last log lines:\n${redact(d.serverLog.slice(-15).join('\n'))}`)
  return ok
}

/** --keep: bootlab stays up until Ctrl-C */
async function keepServing(d: Demo): Promise<number> {
  const api = `http://${d.at!.address}:${HTTP_PORT}`
  out('')
  out(`bootlab keeps running in namespace ${d.at!.ns} (Ctrl-C stops it and removes the namespaces). Try:`)
  out(`  ip netns exec ${d.at!.ns} curl -s ${api}/api/machines`)
  out(`  ip netns exec ${d.at!.ns} curl -s ${api}/api/events`)
  out(`  ip netns exec ${d.at!.ns} curl -s ${api}/healthz`)
  out(`  config: ${join(d.workDir!, 'bootlab', 'bootlab.yaml')}`)
  await d.stopped
  return 130
}

/** --serve / --smoke: `bootlab serve` with examples/bootlab.yaml in a lab namespace (src/lab/example-serve.ts) */
async function runExample(o: DemoOptions): Promise<number> {
  let stop: () => void = () => {}
  const stopped = new Promise<void>((r) => { stop = r })
  // serveExample stops bootlab and removes the namespaces itself, then returns 130
  const untrap = trapSignals((sig) => { out(`\n${sig}: stopping bootlab, removing the namespaces …`); stop() })
  try {
    return await serveExample({ smoke: o.smoke, prefix: process.env.BOOTLAB_DEMO_NS, out, stopped })
  } catch (err) {
    process.stderr.write(`bootlab demo: ${err instanceof Error ? err.message : String(err)}\n`)
    return o.smoke ? 1 : EXIT.START
  } finally {
    untrap()
  }
}

/** one line for an event bootlab recorded (GET /api/events), cloud-init tokens removed */
export function describeEvent(e: Pick<EventRow, 'type' | 'data'>): string {
  const d = e.data
  const str = (k: string): string => (d[k] === null || d[k] === undefined ? '' : String(d[k]))
  let text: string
  switch (e.type) {
    case 'state': text = `${str('from')} → ${str('to')}${str('reason') ? ` (${str('reason')})` : ''}`; break
    case 'assigned': text = `assigned profile ${str('profile')}`; break
    case 'dhcp': text = `DHCP ${str('kind')}${str('class') ? ` (${str('class')})` : ''}${str('ip') ? ` ${str('ip')}` : ''}`; break
    case 'tftp': text = `TFTP ${str('file')} ${str('outcome')}${str('bytes') ? `, ${str('bytes')} bytes` : ''}`; break
    case 'phone-home': text = 'phone-home received'; break
    case 'deployed': text = `deployed (profile ${str('profile')})`; break
    default: text = e.type.startsWith('http.') ? `HTTP ${e.type.slice(5)} ${str('path')}` : `${e.type} ${JSON.stringify(d)}`
  }
  return redact(text)
}

function summaryTable(runs: GuestRun[]): string {
  const rows = [['guest', 'chain', 'accel', 'phone-home (s)', 'state']]
  for (const r of runs) {
    rows.push([r.kind, CHAIN[r.kind], r.accel || '?', r.deployedMs === null ? '—' : (r.deployedMs / 1000).toFixed(1), r.state])
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => [...row[c]!].length)))
  const line = (row: string[]): string => row.map((cell, c) => cell + ' '.repeat(widths[c]! - [...cell].length)).join('  ').trimEnd()
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}
