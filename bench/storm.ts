// `npm run bench -- storm [N]`: N (default 200) simulated Raspberry Pi 4 netboots at once
// (bench/storm/pi-client.ts: EEPROM DHCP + TFTP firmware, UEFI PXE + loader, iPXE + HTTP kernel and
// initrd, sha256 on every transfer) against bootlab and against dnsmasq + nginx, in the same run on
// the same lab; then the fault storms against both. See docs/bench.md.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot } from '../src/lab/netns.js'
import { machineLine } from './_machine.js'
import { createStormLab } from './storm/run-storm.js'
import { makeFiles } from './storm/servers.js'
import { stormOnce, halfOpenStorm, dhcpFloodStorm, garbageYamlStorm, killStorm, type StormRow, type KillResult, type ServerKind } from './storm/scenarios.js'

const MB = 1_000_000

function fmt(ms: number): string {
  return Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'n/a'
}

export function rowLine(r: StormRow): string {
  const s = r.summary
  const failed = s.failed + (s.vanished ? ` (+${s.vanished} vanished on purpose)` : '')
  return `| ${r.label} | ${r.server} | ${s.ok}/${s.n - s.vanished} | ${failed} | ${s.wrongBytes} | ${s.retries} / ${s.restarts} | ${fmt(s.p50)} | ${fmt(s.p95)} | ${fmt(s.max)} | ${fmt(r.wallMs)} | ${(r.usage.peakRssKb / 1024).toFixed(0)} | ${r.usage.cpuSeconds.toFixed(1)} |`
}

export const HEADER = [
  '| storm | server | booted | failed | wrong bytes | retried files / restarted boots | p50 s | p95 s | max s | wall s | peak RSS MiB | CPU s |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
]

/** the storm scenarios, by the names `npm run bench -- storm N <name>…` takes */
export const SCENARIOS = ['big', 'loss5', 'loss20', 'loss20in', 'vanish', 'halfopen', 'flood', 'yaml', 'kill'] as const
type Scenario = typeof SCENARIOS[number]

function notesOf(rows: StormRow[], faults: StormRow[]): string[] {
  return [
    ...[...rows, ...faults].filter((r) => r.summary.ok > 0).map((r) => `- phases (median s), ${r.label} / ${r.server}: ${Object.entries(r.summary.phaseP50).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`),
    ...faults.flatMap((r) => r.notes.filter(Boolean).map((x) => `- ${r.label} / ${r.server}: ${x}`)),
    ...[...rows, ...faults].filter((r) => r.summary.errors.length).map((r) => `- failures, ${r.label} / ${r.server}: ${r.summary.errors.join('; ')}`),
  ]
}


export async function run(args: string[] = []): Promise<string> {
  if (!isRoot()) return '## Boot storm\n\nSkipped: needs root (network namespaces).\n'
  const n = Math.min(Math.max(Number(args.find((a) => /^\d+$/.test(a)) ?? 200) || 200, 1), 230)
  // `storm 20 loss20 bootlab`: only the named scenarios (SCENARIOS) and/or one server; such a
  // partial run prints its table but leaves bench/RESULTS.md alone (returns '')
  const only = args.filter((a) => SCENARIOS.includes(a as Scenario)) as Scenario[]
  const kinds: ServerKind[] = args.includes('bootlab') ? ['bootlab'] : args.includes('reference') ? ['reference'] : ['bootlab', 'reference']
  const partial = only.length > 0 || kinds.length < 2
  const want = (x: Scenario): boolean => only.length === 0 || only.includes(x)
  const nFault = Math.min(n, 20)
  const started = new Date()
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-storm-'))
  const clients = Math.max(1, Math.ceil(n / 50))
  const s = await createStormLab(clients)
  const rows: StormRow[] = []
  const faults: StormRow[] = []
  let kill: KillResult | undefined
  const log = (r: StormRow): void => { console.error(`storm: ${r.label} / ${r.server}: ${r.summary.ok}/${r.summary.n} ok, p95 ${fmt(r.summary.p95)} s ${r.summary.errors.join('; ')}`) }
  try {
    if (want('big')) {
      const big = await makeFiles(join(dir, 'big'), n, { kernel: 10 * MB, initrd: 30 * MB })
      for (const kind of kinds) {
        const r = await stormOnce(s, big, kind, `${n} Pis`, { n, tag: `big-${kind}`, spreadMs: 1000 })
        log(r)
        rows.push(r)
      }
      await rm(join(dir, 'big'), { recursive: true, force: true })
    }
    const small = await makeFiles(join(dir, 'small'), nFault, { kernel: 2 * MB, initrd: 6 * MB })
    for (const [loss, inbound] of [[5, false], [20, false], [20, true]] as const) {
      if (!want(`loss${loss}${inbound ? 'in' : ''}` as Scenario)) continue
      for (const kind of kinds) {
        const r = await stormOnce(s, small, kind, `${nFault} Pis, ${loss} % UDP loss ${inbound ? 'towards the Pis' : 'both ways'}`, { n: nFault, loss, inbound, tag: `loss${loss}${inbound ? 'in' : ''}-${kind}`, spreadMs: 1000, bootTimeoutMs: 150_000 })
        log(r)
        faults.push(r)
      }
    }
    for (const kind of want('vanish') ? kinds : []) {
      const vanish = new Map([[0, 300], [1, 700], [2, 1200]])
      const r = await stormOnce(s, small, kind, `${nFault} Pis, 3 vanish mid start4.elf`, { n: nFault, vanish, tag: `vanish-${kind}`, spreadMs: 1000 })
      log(r)
      faults.push(r)
    }
    for (const kind of want('halfopen') ? kinds : []) {
      const r = await halfOpenStorm(s, small, kind, nFault, 10_000, 500)
      log(r)
      faults.push(r)
    }
    for (const kind of want('flood') ? kinds : []) {
      const r = await dhcpFloodStorm(s, small, kind, nFault, 10_000, 500)
      log(r)
      faults.push(r)
    }
    if (want('yaml') && kinds.includes('bootlab')) {
      const y = await garbageYamlStorm(s, small, nFault)
      log(y)
      faults.push(y)
    }
    if (want('kill') && kinds.includes('bootlab')) {
      kill = await killStorm(s, small, nFault, Math.floor(nFault / 2))
      log(kill.row)
      faults.push(kill.row)
    }
  } finally {
    await s.lab.cleanup()
    await rm(dir, { recursive: true, force: true })
  }
  if (partial) {
    console.log([...HEADER, ...[...rows, ...faults].map(rowLine), ...notesOf(rows, faults)].join('\n'))
    return ''
  }
  const [dnsV, nginxV] = await Promise.all([
    import('node:child_process').then(({ execFileSync }) => execFileSync('dnsmasq', ['--version']).toString().split('\n')[0]!.replace(/\s+Copyright.*/, '')),
    import('node:child_process').then(({ spawnSync }) => spawnSync('nginx', ['-v']).stderr.toString().trim().replace('nginx version: ', '')),
  ])
  const k = kill
  return [
    '## Boot storm (simulated Raspberry Pi 4 netboots)',
    '',
    `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${await machineLine()}; \`npm run bench -- storm ${n}\`. The two servers ran one after the other in the same run, on the same lab.`,
    '',
    `Each simulated Pi (bench/storm/pi-client.ts, ${clients} client namespace${clients > 1 ? 's' : ''} of ≤ 50 Pis on one bridge with the server namespace) does what a Pi 4 does on the wire: the captured EEPROM DISCOVER/REQUEST with its own MAC, xid and option 97 serial (offers without the "Raspberry Pi Boot" menu are ignored, as the EEPROM does), then lock-step TFTP with \`tsize 0\` + \`blksize 1468\` from a new port per file, from the address it leased (added to its namespace's interface): the \`<serial>/start4.elf\` probe (early terminate after the OACK), config.txt, pieeprom.sig / recover4.elf / recovery.elf / dt-blob.bin (must be "not found"), start4.elf (2.23 MB), fixup4.dat (5.4 KB), config.txt again, bcm2711-rpi-4-b.dtb (50 KB), two overlays, RPI_EFI.fd (2 MiB); then the pftf UEFI PXE DHCP (arch 11) and its loader snp-arm64.efi (1 MB, size probe + download); then iPXE's DHCP (user class iPXE), the boot script, kernel and initrd over HTTP. Every transfer is checked against sha256. One deviation, the same for both servers: the DHCP broadcast flag is set (the simulated MACs exist only in chaddr; dnsmasq unicasts to chaddr otherwise). A Pi re-sends its last packet after 1 s without an answer (10 times) and retries a failed file twice; per-file limit 30 s (the EEPROM's TFTP_FILE_TIMEOUT); a failed EEPROM network boot starts over from DHCP after 5 s (BOOT_ORDER loops; up to 3 attempts), a failed kernel/initrd download runs the script's failure branch (bootlab's: sleep 30 s, reboot, a restarted boot; the reference script's: shell, final), a failure in the UEFI stage is final. Boot time = first DISCOVER to the last initrd byte; all Pis power on within 1 s.`,
    '',
    `References: ${dnsV} (full DHCP, \`--enable-tftp --tftp-max=1000\`, \`pxe-service=0,Raspberry Pi Boot\`, \`dhcp-boot\` per arch 11 / user class iPXE, one \`<serial>/\` folder per Pi with the same config.txt bootlab generates) and nginx ${nginxV} (sendfile, 2 workers) for HTTP; their RSS and CPU are the sum of dnsmasq and the nginx processes. bootlab: \`bootlab serve\` in full DHCP mode, one configured machine per Pi, default limits. Peak RSS = highest sampled sum (every 200 ms); CPU = user + system seconds during the storm.`,
    '',
    `### ${n} Pis at once (kernel 10 MB + initrd 30 MB over HTTP, ≈ 5.4 MB of TFTP each)`,
    '',
    ...HEADER,
    ...rows.map(rowLine),
    '',
    `### Faults (${nFault} Pis, kernel 2 MB + initrd 6 MB)`,
    '',
    'Loss: nftables `numgen random` drop of that share of the UDP packets entering and leaving every client namespace ("both ways": a lock-step round trip is then lost with 1-(1-p)² ≈ 10 % / 36 %), or only of those entering it ("towards the Pis": DHCP replies, OACKs, DATA); DHCP and TFTP, HTTP is TCP and not dropped. Vanishing Pis stop after 300/700/1200 blocks of start4.elf and close their socket (not counted as failures; the other Pis must boot). Half-open: a host on the LAN sends RRQs for the 1 MB loader from a fresh port each and never acknowledges (sockets held open 4 s). DHCP flood: DISCOVERs from random MACs, never a REQUEST, while busybox udhcpc in its own namespace asks for a lease (pool: 231 addresses).',
    '',
    ...HEADER,
    ...faults.map(rowLine),
    '',
    ...notesOf(rows, faults),
    '',
    ...(k ? [
      `**kill -9**: bootlab was killed (SIGKILL) after ${k.before.machines} machines, ${k.before.leases} leases and ${k.before.events} events (newest, up to 1000) were reported by its API and lease file; \`-wal\` file present: ${k.check.walBefore ? 'yes' : 'no'}; the store opened ${k.check.openError ? `with an ERROR: ${k.check.openError}` : 'without error'}; \`PRAGMA integrity_check\`: ${k.check.integrity || 'n/a'}; after the kill it holds ${k.check.machines} machines, ${k.check.events} events, ${k.check.leasesAfter} leases; reported but missing: ${k.check.missing.length ? k.check.missing.slice(0, 5).join(', ') : 'none'}. bootlab restarted on the same state dir in ${(k.restartMs / 1000).toFixed(1)} s while the storm went on.`,
      '',
    ] : []),
  ].join('\n')
}
