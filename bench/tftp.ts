// `npm run bench -- tftp`: bootlab's TFTP server against tftpd-hpa and dnsmasq, measured in the same
// run with the same clients, each server in its own network namespace on one bridge:
// one 20 MB transfer (several clients and options) and 100 concurrent 2 MB transfers.
import { chmod, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLab, isRoot, type Lab } from '../src/lab/netns.js'
import { startFixture, tsxArgv } from '../src/lab/fixture.js'
import { runLine } from './_machine.js'

/** the TFTP fixture server the tests use (src/lab/fixture.ts protocol) */
const TFTP_FIXTURE = fileURLToPath(new URL('../test/tftp/fixtures/server.ts', import.meta.url))

const MB = 1_000_000
const RUNS = 5
const CONCURRENT = 100

// bootlab runs twice: with its default data path (native/tftpfast when built) and with the
// JavaScript data path forced, so the native path's gain is measured in the same run
type ServerName = 'bootlab' | 'bootlab-js' | 'tftpd-hpa' | 'dnsmasq'
const servers: ServerName[] = ['bootlab', 'bootlab-js', 'tftpd-hpa', 'dnsmasq']
const none = (): Record<ServerName, number[]> => ({ bootlab: [], 'bootlab-js': [], 'tftpd-hpa': [], dnsmasq: [] })

async function waitPort69(lab: Lab, host: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await lab.exec(host, ['ss', '-ulnH', 'sport = :69'])
    if (r.stdout.trim() !== '') return
    await new Promise((res) => setTimeout(res, 100))
  }
  throw new Error(`nothing listens on udp/69 in ${host}`)
}

/** CPU time (user + system, with reaped children) of a process, in ms */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10
  } catch { return NaN }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

export async function run(): Promise<string> {
  const started = new Date()
  if (!isRoot()) return '## TFTP\n\nSkipped: needs root (network namespaces).\n'
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-bench-tftp-'))
  const out = await mkdtemp(join(tmpdir(), 'bootlab-bench-tftp-out-'))
  const lab = await createLab({ hosts: { boot: 1, bootjs: 5, hpa: 3, dns: 4, cli: 2 }, subnet: '10.81.0' })
  try {
    // the reference servers drop privileges: the files must be world-readable
    await chmod(dir, 0o755)
    const f20 = randomBytes(20 * MB)
    const f2 = randomBytes(2 * MB)
    await writeFile(join(dir, 'f20m'), f20, { mode: 0o644 })
    await writeFile(join(dir, 'f2m'), f2, { mode: 0o644 })
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
    const sha20 = sha(f20)
    const sha2 = sha(f2)

    const boot = await startFixture(lab, 'boot', tsxArgv(TFTP_FIXTURE, JSON.stringify({ port: 69, roots: [dir] })))
    const dataPath = String(boot.ready.dataPath ?? '?')
    const bootjs = await startFixture(lab, 'bootjs', tsxArgv(TFTP_FIXTURE, JSON.stringify({ port: 69, roots: [dir], dataPath: 'js' })))
    const hpa = lab.spawn('hpa', ['in.tftpd', '-L', '-s', dir])
    const dns = lab.spawn('dns', ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--enable-tftp', `--tftp-root=${dir}`,
      '--tftp-max=200', '--quiet-tftp', '--log-facility=/dev/null', `--pid-file=${join(out, 'dnsmasq.pid')}`])
    await waitPort69(lab, 'boot')
    await waitPort69(lab, 'bootjs')
    await waitPort69(lab, 'hpa')
    await waitPort69(lab, 'dns')
    const ip: Record<ServerName, string> = { bootlab: lab.hosts.boot!.ip, 'bootlab-js': lab.hosts.bootjs!.ip, 'tftpd-hpa': lab.hosts.hpa!.ip, dnsmasq: lab.hosts.dns!.ip }

    const single: { label: string; argv: (ip: string, local: string) => string[] }[] = [
      { label: 'atftp, blksize 1468', argv: (ip, l) => ['atftp', '-g', '-r', 'f20m', '-l', l, '--option', 'blksize 1468', ip, '69'] },
      { label: 'atftp, blksize 1468, windowsize 16 (only bootlab grants it)', argv: (ip, l) => ['atftp', '-g', '-r', 'f20m', '-l', l, '--option', 'blksize 1468', '--option', 'windowsize 16', ip, '69'] },
      { label: 'curl, --tftp-blksize 1468', argv: (ip, l) => ['curl', '-sS', '--tftp-blksize', '1468', '-o', l, `tftp://${ip}/f20m`] },
      { label: 'tftp-hpa client (512-byte lock-step)', argv: (ip, l) => ['tftp', '-m', 'binary', ip, '-c', 'get', 'f20m', l] },
    ]
    // server CPU per run: less disturbed by other load on the machine than wall time
    const pid: Record<ServerName, number | undefined> = { bootlab: boot.child.pid, 'bootlab-js': bootjs.child.pid, 'tftpd-hpa': hpa.pid, dnsmasq: dns.pid }
    const cpu: Record<string, Record<ServerName, number[]>> = {}
    const cpuRows: string[] = []
    const cpuCell = (xs: number[], s?: ServerName): string => {
      const ok = xs.filter((x) => Number.isFinite(x) && x > 0)
      // in.tftpd forks a process per transfer: its time is not in the listener's counters
      return s === 'tftpd-hpa' || ok.length === 0 ? 'n/a' : `${median(ok).toFixed(0)} ms`
    }
    const rows: string[] = []
    const tput: Record<string, Record<ServerName, number[]>> = {}
    for (const test of single) {
      tput[test.label] = none()
      cpu[test.label] = none()
      for (let r = 0; r < RUNS; r++) {
        for (const s of servers) {
          const local = join(out, `single-${s}`)
          await rm(local, { force: true })
          const cmd = test.argv(ip[s], local).map((a) => `'${a}'`).join(' ')
          const c0 = cpuMs(pid[s])
          const res = await lab.exec('cli', ['sh', '-c', `a=$(date +%s%N); ${cmd} >/dev/null 2>&1; rc=$?; b=$(date +%s%N); echo $rc $((b-a))`], { timeoutMs: 120000 })
          cpu[test.label]![s].push(cpuMs(pid[s]) - c0)
          const [rc, ns] = res.stdout.trim().split(' ').map(Number)
          const ok = rc === 0 && sha(await readFile(local).catch(() => Buffer.alloc(0))) === sha20
          tput[test.label]![s].push(ok ? (20 * MB) / (ns! / 1e9) / MB : 0)
        }
      }
      const m = Object.fromEntries(servers.map((s) => [s, median(tput[test.label]![s])])) as Record<ServerName, number>
      const c = (s: ServerName): string => `${m[s].toFixed(1)} MB/s (${Math.min(...tput[test.label]![s]).toFixed(1)}–${Math.max(...tput[test.label]![s]).toFixed(1)})`
      const cc = cpu[test.label]!
      cpuRows.push(`| 20 MB, ${test.label} | ${cpuCell(cc.bootlab)} | ${cpuCell(cc['bootlab-js'])} | ${cpuCell(cc['tftpd-hpa'], 'tftpd-hpa')} | ${cpuCell(cc.dnsmasq)} |`)
      rows.push(`| 20 MB, ${test.label} | ${c('bootlab')} | ${c('bootlab-js')} | ${c('tftpd-hpa')} | ${c('dnsmasq')} | ${(m.bootlab / m['tftpd-hpa']).toFixed(2)}× | ${(m.bootlab / m.dnsmasq).toFixed(2)}× |`)
    }

    // 100 concurrent 2 MB transfers, started together by one shell. (Not with windowsize: 100 atftp
    // clients asking dnsmasq, which ignores the option, for a window did not finish in minutes.)
    const concTests: { label: string; opts: string }[] = [
      { label: 'atftp blksize 1468', opts: "--option 'blksize 1468'" },
    ]
    for (const ct of concTests) {
      const conc = Object.fromEntries(servers.map((s) => [s, { ms: [] as number[], ok: [] as number[], cpu: [] as number[] }])) as Record<ServerName, { ms: number[]; ok: number[]; cpu: number[] }>
      for (let r = 0; r < RUNS; r++) {
        for (const s of servers) {
          const d = join(out, `conc-${s}`)
          await rm(d, { recursive: true, force: true })
          await lab.exec('cli', ['mkdir', '-p', d])
          const c0 = cpuMs(pid[s])
          const script = `a=$(date +%s%N); i=0; while [ $i -lt ${CONCURRENT} ]; do atftp -g -r f2m -l ${d}/$i ${ct.opts} ${ip[s]} 69 >/dev/null 2>&1 & i=$((i+1)); done; wait; b=$(date +%s%N); echo $((b-a))`
          const res = await lab.exec('cli', ['sh', '-c', script], { timeoutMs: 120000 })
          let ok = 0
          for (let i = 0; i < CONCURRENT; i++) {
            const b = await readFile(join(d, String(i))).catch(() => Buffer.alloc(0))
            if (sha(b) === sha2) ok++
          }
          conc[s].ms.push(Number(res.stdout.trim()) / 1e6)
          conc[s].cpu.push(cpuMs(pid[s]) - c0)
          conc[s].ok.push(ok)
          await rm(d, { recursive: true, force: true })
        }
      }
      const cm = Object.fromEntries(servers.map((s) => [s, median(conc[s].ms)])) as Record<ServerName, number>
      // aggregate throughput counts only the transfers that arrived byte-exact
      const agg = (s: ServerName): number => (median(conc[s].ok) * 2 * MB) / (cm[s] / 1000) / MB
      const okMin = (s: ServerName): number => Math.min(...conc[s].ok)
      const secs = (s: ServerName): string => `${(cm[s] / 1000).toFixed(2)} s (${(Math.min(...conc[s].ms) / 1000).toFixed(2)}–${(Math.max(...conc[s].ms) / 1000).toFixed(2)})`
      const cell = (s: ServerName): string => `${agg(s).toFixed(1)} MB/s, ${okMin(s)}/${CONCURRENT} ok, ${secs(s)}`
      cpuRows.push(`| ${CONCURRENT} × 2 MB concurrent, ${ct.label} | ${cpuCell(conc.bootlab.cpu)} | ${cpuCell(conc['bootlab-js'].cpu)} | ${cpuCell(conc['tftpd-hpa'].cpu, 'tftpd-hpa')} | ${cpuCell(conc.dnsmasq.cpu)} |`)
      rows.push(`| ${CONCURRENT} × 2 MB concurrent, ${ct.label} | ${cell('bootlab')} | ${cell('bootlab-js')} | ${cell('tftpd-hpa')} | ${cell('dnsmasq')} | ${(agg('bootlab') / agg('tftpd-hpa')).toFixed(2)}× | ${(agg('bootlab') / agg('dnsmasq')).toFixed(2)}× |`)
    }

    const [hpaV, dnsV] = await Promise.all([
      lab.exec('cli', ['in.tftpd', '-V']).then((r) => (r.stdout + r.stderr).split('\n')[0]!.trim()),
      lab.exec('cli', ['dnsmasq', '--version']).then((r) => r.stdout.split('\n')[0]!.trim()),
    ])
    return [
      '## TFTP',
      '',
      `${await runLine(started, 'npm run bench -- tftp')}.`,
      '',
      `Each server in its own network namespace, the client in another, all on one veth bridge; median of ${RUNS} runs, interleaved; a run counts only if the file arrived byte-exact (else 0). Ratios are bootlab ÷ reference. References: ${hpaV} (\`in.tftpd -L -s\`), ${dnsV} (\`--enable-tftp --tftp-max=200\`). bootlab with its default limits (cache of files up to 8 MiB, windowsize up to 64); "bootlab" runs transfers on its ${dataPath} data path, "bootlab JS" is the same server with the JavaScript data path forced (\`dataPath: 'js'\`). Cells: median (min–max over the runs).`,
      '',
      '| test | bootlab | bootlab JS | tftpd-hpa | dnsmasq | bootlab vs tftpd-hpa | bootlab vs dnsmasq |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      'Server CPU time per run (user + system, median; from /proc/<pid>/stat; tftpd-hpa forks a process per transfer whose time is not seen: n/a):',
      '',
      '| test | bootlab | bootlab JS | tftpd-hpa | dnsmasq |',
      '| --- | --- | --- | --- | --- |',
      ...cpuRows,
      '',
    ].join('\n')
  } finally {
    await lab.cleanup()
    await rm(dir, { recursive: true, force: true })
    await rm(out, { recursive: true, force: true })
  }
}
