// `bootlab demo`: bootlab's main job, the reinstall loop, on a built-in default. A virtual lab
// (src/lab) of QEMU guests (x86 BIOS, x86-64 UEFI, arm64 UEFI), each with its own disk and powered
// by a port of a simulated PoE switch that bootlab drives with its real cisco-ios driver, all
// inside network namespaces created here (src/lab/reinstall-loop.ts). For every guest at once:
//   1. bootlab switches the port on → netboot → install onto the disk → phone-home → deployed;
//   2. bootlab power-cycles the port → the guest boots its disk (`then: local`) and says so;
//   3. the machine's profile line in the YAML is edited → bootlab power-cycles the port → reinstall.
// Prints each step with bootlab's own timestamps, the status page URL (forwarded to the host's
// 127.0.0.1 only) and a table; --json adds the table as one JSON object on the last line.
// Exit 0 when every guest went round the loop; everything is removed at the end, Ctrl-C included.
import { Command, InvalidArgumentError, Option } from 'commander'
import { EXIT } from './exit-codes.js'
import { missingPrerequisites, type Milestone, type MilestoneName } from '../lab/qemu.js'
import type { GuestKind } from '../lab/server.js'
import { serveExample } from '../lab/example-serve.js'
import { takeOverSignals } from '../lab/netns.js'
import { defaultCacheDir } from '../lab/artefacts.js'
import { LOADER_CONFLICT, PROXY_GRUB, ReinstallLoop, type LoopGuestReport, type LoopStep } from '../lab/reinstall-loop.js'
import type { EventRow } from '../store/store.js'

const KINDS: readonly GuestKind[] = ['bios', 'uefi-x64', 'uefi-arm64-ipxe', 'uefi-arm64']
/** the default run: uefi-arm64 (GRUB) needs a run of its own (LOADER_CONFLICT) */
const DEFAULT_KINDS: readonly GuestKind[] = ['bios', 'uefi-x64', 'uefi-arm64-ipxe']

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

/** console milestones worth a line in the demo (the rest is in bootlab's events) */
const SHOWN: ReadonlySet<MilestoneName> = new Set(['kernel', 'installed', 'install-failed', 'disk-loader', 'disk-boot', 'phone-home', 'phone-home-failed'])

const STEP_TITLE: Record<LoopStep, string> = {
  install: 'power on through the switch → netboot → install',
  'local-boot': 'power cycle → boot from the disk (then: local)',
  reinstall: 'YAML edit (new profile line) → bootlab cycles the port → reinstall',
}

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
  if (list.includes('uefi-arm64') && list.includes('uefi-arm64-ipxe')) throw new InvalidArgumentError(LOADER_CONFLICT)
  return [...new Set(list)] as GuestKind[]
}

function seconds(v: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('a positive number of seconds')
  return n
}

function tcpPort(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a TCP port (0: any free port)')
  return n
}

interface DemoOptions {
  guests: GuestKind[]
  timeout: number
  httpPort: number
  dhcp: 'full' | 'proxy'
  json: boolean
  keep: boolean
  serve: boolean
  smoke: boolean
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('virtual lab: the reinstall loop — QEMU guests (BIOS, UEFI x86-64, UEFI arm64) on a simulated PoE switch install, boot their disk and reinstall, driven by bootlab, inside network namespaces (root)')
    .addOption(new Option('--guests <list>', `comma-separated guest kinds: ${KINDS.join(', ')} (uefi-arm64 is GRUB, in a run without uefi-arm64-ipxe)`).argParser(parseGuests).default([...DEFAULT_KINDS], DEFAULT_KINDS.join(',')))
    .option('--timeout <seconds>', 'budget of each step of each guest', seconds, 300)
    .option('--http-port <port>', "host port (127.0.0.1) for bootlab's status page during the demo; 0: a free one", tcpPort, 0)
    .addOption(new Option('--dhcp <mode>', 'full: bootlab hands out the addresses; proxy: dnsmasq does, bootlab answers as proxyDHCP (not with uefi-arm64: GRUB ignores proxy offers)').choices(['full', 'proxy']).default('full'))
    .option('--json', 'also print the final table as one JSON object on the last line', false)
    .option('--keep', 'leave bootlab and the guests running after the loop, until Ctrl-C', false)
    .option('--serve', 'instead: `bootlab serve` with examples/bootlab.yaml in a lab namespace, until Ctrl-C', false)
    .option('--smoke', 'instead: as --serve, check /healthz from a client namespace, stop', false)
    // wrong usage reaches main's handler (exit 2) instead of commander's own exit 1
    .exitOverride()
    .action(async (opts: DemoOptions) => {
      process.exitCode = await runDemo(opts)
    })
}

const out = (s: string): void => { process.stdout.write(s + '\n') }
const fmt = (ms: number): string => `${(ms / 1000).toFixed(1).padStart(6)} s`

async function runDemo(o: DemoOptions): Promise<number> {
  if (o.serve || o.smoke) return await runExample(o)
  if (o.dhcp === 'proxy' && o.guests.includes('uefi-arm64')) {
    process.stderr.write(`bootlab demo: ${PROXY_GRUB}\n`)
    return EXIT.USAGE
  }
  const missing = [...new Set(o.guests.flatMap((k) => missingPrerequisites(k)))]
  if (missing.length > 0) {
    process.stderr.write(`bootlab demo: cannot run, missing ${missing.join(', ')} (scripts/demo.sh installs what is needed)\n`)
    return EXIT.START
  }
  let stop: () => void = () => {}
  const stopped = new Promise<void>((r) => { stop = r })
  const t0 = Date.now()
  let tRun = t0
  const width = Math.max(10, ...o.guests.map((k) => k.length))
  const who = (k: string): string => k.padEnd(width)
  const loop = new ReinstallLoop({
    kinds: o.guests, stepTimeoutMs: o.timeout * 1000, httpPort: o.httpPort, dhcp: o.dhcp, stopped,
    onMilestone: (k, m: Milestone, launchedAt) => {
      if (SHOWN.has(m.name)) out(`${fmt(launchedAt + m.atMs - tRun)}  ${who(k)} ${LABEL[m.name].padEnd(17)} ${redact(m.line).slice(0, 80)}`)
    },
    onEvent: (k, e) => {
      const text = describeEvent(e)
      if (text !== null) out(`${fmt(e.ts - tRun)}  ${who('bootlab')} ${k}: ${text}`)
    },
    onStep: (k, step, phase, detail) => {
      const n = ['install', 'local-boot', 'reinstall'].indexOf(step) + 1
      const when = fmt(Date.now() - tRun)
      if (phase === 'start') out(`${when}  ${who(k)} ── step ${n}: ${STEP_TITLE[step]}`)
      else out(`${when}  ${who(k)} ── step ${n} ${phase === 'done' ? 'done' : 'FAILED'}: ${redact(detail)}`)
    },
  })
  let interrupted = false
  const giveBack = takeOverSignals()
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return
    interrupted = true
    out(`\n${sig}: stopping guests, the switch and bootlab, removing the namespaces …`)
    stop()
    void loop.cleanup().then(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    out(`bootlab demo: the reinstall loop for ${o.guests.length} QEMU guest${o.guests.length > 1 ? 's' : ''} (${o.guests.join(', ')}), inside network namespaces`)
    out(`preparing guest images and disks (Debian kernel + busybox initramfs, GRUB; cached in ${defaultCacheDir()}; the first run downloads packages) …`)
    await loop.setup(out)
    if (interrupted) return 130
    out(`bootlab serve: ${o.dhcp === 'proxy' ? 'proxyDHCP' : 'full DHCP'}, TFTP, HTTP; config ${loop.configFile}; ready ${((Date.now() - t0) / 1000).toFixed(1)} s after the start`)
    out(`status page: ${loop.http!.url}/  (bootlab's HTTP port, forwarded to this host's 127.0.0.1 only)`)
    for (const g of loop.guests) out(`  machine ${g.kind.padEnd(width)} ${g.lab.mac}  switch lab ${g.port}  profile lab-${g.kind} (then: local)`)
    out('')
    out(`    time  ${'who'.padEnd(width)} what`)
    tRun = Date.now()
    const reports = await loop.run()
    if (interrupted) return 130
    const ok = reports.every((r) => r.ok)
    out('')
    out(summaryTable(reports))
    out('')
    out(ok ? `all ${reports.length} guest${reports.length > 1 ? 's' : ''} went round the loop in ${((Date.now() - t0) / 1000).toFixed(1)} s (images, network and bootlab start included)`
      : `not round the loop: ${reports.filter((r) => !r.ok).map((r) => r.guest).join(', ')}`)
    for (const r of reports) if (!r.ok) out(`\n${r.guest}: last console lines:\n${redact(loop.consoleTail(r.guest))}`)
    if (!ok) out(`\nbootlab's last log lines:\n${redact(loop.serverLog.slice(-15).join('\n'))}`)
    if (o.keep && !interrupted) {
      out(`\nbootlab and the guests keep running (Ctrl-C stops them and removes the namespaces): ${loop.http!.url}/`)
      await stopped
      return 130
    }
    if (o.json) out(JSON.stringify({ guests: reports.map(jsonRow), seconds: Math.round((Date.now() - t0) / 100) / 10, status_page: loop.http!.url + '/' }))
    return ok ? EXIT.OK : 1
  } catch (err) {
    if (interrupted) return 130
    process.stderr.write(`bootlab demo: ${redact(err instanceof Error ? err.message : String(err))}\n`)
    return EXIT.START
  } finally {
    await loop.cleanup()
    if (!interrupted) {
      giveBack()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}

function jsonRow(r: LoopGuestReport): Record<string, unknown> {
  const secs: Record<string, number | null> = {}
  for (const s of r.steps) secs[s.step] = s.seconds === null ? null : Math.round(s.seconds * 10) / 10
  return { guest: r.guest, installs: r.installs, power_cycles: r.power_cycles, local_boots: r.local_boots, state: r.state, chain: r.chain, seconds: secs, install_ids: r.install_ids }
}

function summaryTable(reports: LoopGuestReport[]): string {
  const sec = (r: LoopGuestReport, step: LoopStep): string => {
    const s = r.steps.find((x) => x.step === step)
    return !s ? '—' : s.seconds === null ? 'failed' : s.seconds.toFixed(1)
  }
  const rows = [['guest', 'installs', 'power cycles', 'local boots', 'install (s)', 'local boot (s)', 'reinstall (s)', 'state', 'chain']]
  for (const r of reports) {
    rows.push([r.guest, String(r.installs), String(r.power_cycles), String(r.local_boots), sec(r, 'install'), sec(r, 'local-boot'), sec(r, 'reinstall'), r.state, r.chain])
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => [...row[c]!].length)))
  const line = (row: string[]): string => row.map((cell, c) => cell + ' '.repeat(widths[c]! - [...cell].length)).join('  ').trimEnd()
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
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

/** one line for an event bootlab recorded (GET /api/events), cloud-init tokens removed; null: not shown */
export function describeEvent(e: Pick<EventRow, 'type' | 'data'>): string | null {
  const d = e.data
  const str = (k: string): string => (d[k] === null || d[k] === undefined ? '' : String(d[k]))
  let text: string
  switch (e.type) {
    case 'state': text = `${str('from')} → ${str('to')}${str('reason') ? ` (${str('reason')})` : ''}`; break
    case 'assigned': text = `assigned profile ${str('profile')}`; break
    case 'dhcp': text = `DHCP ${str('kind')}${str('class') ? ` (${str('class')})` : ''}${str('ip') ? ` ${str('ip')}` : ''}`; break
    case 'tftp':
      // GRUB's modules: dozens of small files, not worth a line each
      if (/\.(mod|lst)$/.test(str('file'))) return null
      text = `TFTP ${str('file')} ${str('outcome')}${str('bytes') ? `, ${str('bytes')} bytes` : ''}`
      break
    case 'phone-home': text = `phone-home received${str('source') ? ` (source=${str('source')}${str('install') ? `, install ${str('install')}` : ''})` : ''}`; break
    case 'deployed': text = `deployed (profile ${str('profile')})`; break
    case 'boot.local': text = `boot script: local disk (profile ${str('profile')})`; break
    case 'power.started': text = `power ${str('action')} started${str('reason') ? ` (${str('reason')})` : ''}`; break
    case 'power.done': text = `power ${str('action')} done`; break
    case 'power.failed': text = `power ${str('action')} FAILED: ${str('reason')}`; break
    case 'http.file': return null
    default: text = e.type.startsWith('http.') ? `HTTP ${e.type.slice(5)} ${str('path')}` : `${e.type} ${JSON.stringify(d)}`
  }
  return redact(text)
}
