// `npm run soak -- 10m`: boot storms in a loop against ONE `bootlab serve` for the given time
// (s/m/h suffix; default 10m), recording bootlab's RSS and open file descriptors (/proc/<pid>/fd)
// after each round. Fails (exit 1) when a boot fails or delivers wrong bytes, or when the last
// rounds use clearly more memory or descriptors than the first ones (median of rounds 6-7, after every set of Pis booted once, vs the
// last 2: RSS +25 % and +32 MiB, descriptors +16). Writes its table into bench/RESULTS.md
// (<!-- storm-soak:begin --> … <!-- storm-soak:end -->).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isRoot } from '../../src/lab/netns.js'
import { createStormLab, resetClients, runStorm, summarize } from './run-storm.js'
import { makeFiles, startBootlab } from './servers.js'
import { bootlabOptions } from './scenarios.js'
import { machineLine } from '../_machine.js'

const PIS = 30
/**
 * sets of PIS configured Pis that take turns, so each Pi netboots about once a minute: a machine
 * gets 4 boot scripts at once and then one a minute (the cloud-init token mint limit,
 * src/machines/mint-limit.ts); the same 30 Pis every 15 s were refused from round 5 on (429)
 */
const SETS = 5
/** a round starts at least this long after the previous one (5 sets: each Pi every ≥ 75 s) */
const ROUND_MIN_MS = 15_000
const MAX_ROUNDS = 500

export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(s.trim())
  if (!m) throw new Error(`bad duration ${s} (e.g. 90s, 10m, 1h)`)
  return Number(m[1]) * ({ s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'm') as 's' | 'm' | 'h'])
}

interface Round { round: number; ok: number; n: number; wrong: number; p95: number; rssKb: number; fds: number }

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }

async function main(): Promise<number> {
  if (!isRoot()) { console.error('soak: needs root (network namespaces)'); return 2 }
  const arg = process.argv.slice(2).find((a) => !a.startsWith('-')) ?? '10m'
  const duration = Math.min(parseDuration(arg), 6 * 3_600_000)
  const started = new Date()
  const dir = await mkdtemp(join(tmpdir(), 'bootlab-soak-'))
  const s = await createStormLab(1)
  const rounds: Round[] = []
  try {
    const f = await makeFiles(dir, PIS * SETS, { kernel: 2_000_000, initrd: 6_000_000 })
    const srv = await startBootlab(s.lab, 'srv', f, bootlabOptions(dir, 'soak'))
    const pid = srv.child.pid!
    const t0 = Date.now()
    try {
      while (Date.now() - t0 < duration && rounds.length < MAX_ROUNDS) {
        const roundStart = Date.now()
        await resetClients(s)
        const set = { ...f, pis: f.pis.slice((rounds.length % SETS) * PIS, (rounds.length % SETS + 1) * PIS) }
        const r = summarize(await runStorm(s, { files: set, n: PIS, spreadMs: 1000, bootTimeoutMs: 120_000 }))
        await new Promise((res) => setTimeout(res, 2000)) // sessions and sockets of the round wind down
        const status = await readFile(`/proc/${pid}/status`, 'utf8')
        const round: Round = { round: rounds.length + 1, ok: r.ok, n: r.n, wrong: r.wrongBytes, p95: r.p95, rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0), fds: (await readdir(`/proc/${pid}/fd`)).length }
        rounds.push(round)
        console.error(`soak round ${round.round}: ${round.ok}/${round.n} ok, p95 ${(round.p95 / 1000).toFixed(2)} s, RSS ${(round.rssKb / 1024).toFixed(1)} MiB, ${round.fds} fds${r.errors.length ? ` (${r.errors.join('; ')})` : ''}`)
        const rest = roundStart + ROUND_MIN_MS - Date.now()
        if (rest > 0 && Date.now() - t0 + rest < duration) await new Promise((res) => setTimeout(res, rest))
      }
    } finally {
      await srv.stop()
    }
  } finally {
    await s.lab.cleanup()
    await rm(dir, { recursive: true, force: true })
  }
  // the baseline: the two rounds after every set has booted once (its machines and leases exist)
  const head = rounds.length >= SETS + 4 ? rounds.slice(SETS, SETS + 2) : rounds.length >= 5 ? rounds.slice(1, 3) : rounds.slice(0, 1)
  const tail = rounds.slice(-2)
  const rss0 = median(head.map((r) => r.rssKb))
  const rss1 = median(tail.map((r) => r.rssKb))
  const fd0 = median(head.map((r) => r.fds))
  const fd1 = median(tail.map((r) => r.fds))
  const problems: string[] = []
  if (rounds.length < 2) problems.push(`only ${rounds.length} round(s)`)
  const bad = rounds.filter((r) => r.ok !== r.n || r.wrong > 0)
  if (bad.length) problems.push(`${bad.length} round(s) with failed boots or wrong bytes`)
  if (rss1 > rss0 * 1.25 && rss1 - rss0 > 32 * 1024) problems.push(`RSS grew from ${(rss0 / 1024).toFixed(1)} to ${(rss1 / 1024).toFixed(1)} MiB`)
  if (fd1 > fd0 + 16) problems.push(`open descriptors grew from ${fd0} to ${fd1}`)
  const verdict = problems.length ? `FAIL: ${problems.join('; ')}` : 'pass'
  const section = [
    '## Soak (boot storms in a loop)',
    '',
    `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${await machineLine()}; \`npm run soak -- ${arg}\`: ${rounds.length} rounds of ${PIS} Pis (kernel 2 MB + initrd 6 MB; ${SETS} sets of ${PIS} configured Pis take turns, a round every ≥ 15 s, so each Pi netboots about once every 75 s) against one \`bootlab serve\`; RSS and open descriptors of bootlab 2 s after each round.`,
    '',
    `Rounds ${head.map((r) => r.round).join(', ')} → last ${tail.map((r) => r.round).join(', ')} (medians): RSS ${(rss0 / 1024).toFixed(1)} → ${(rss1 / 1024).toFixed(1)} MiB, descriptors ${fd0} → ${fd1}. Verdict: **${verdict}**.`,
    '',
    '| round | booted | wrong bytes | p95 s | RSS MiB | fds |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rounds.map((r) => `| ${r.round} | ${r.ok}/${r.n} | ${r.wrong} | ${(r.p95 / 1000).toFixed(2)} | ${(r.rssKb / 1024).toFixed(1)} | ${r.fds} |`),
    '',
  ].join('\n')
  console.log(section)
  const file = fileURLToPath(new URL('../RESULTS.md', import.meta.url))
  let results = await readFile(file, 'utf8').catch(() => '# Benchmark results\n')
  const block = `<!-- storm-soak:begin -->\n${section.trim()}\n<!-- storm-soak:end -->`
  const re = /<!-- storm-soak:begin -->[\s\S]*?<!-- storm-soak:end -->/
  results = re.test(results) ? results.replace(re, block) : `${results.trimEnd()}\n\n${block}\n`
  await writeFile(file, results)
  return problems.length ? 1 : 0
}

process.exitCode = await main()
