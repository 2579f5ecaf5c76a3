// The line every benchmark section starts with: when, on what, and the command that reproduces it.
import { readFile } from 'node:fs/promises'
import { cpus } from 'node:os'

export async function machineLine(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '')
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU'
  return `${cpus().length} CPUs (nproc), ${model}, Node ${process.version}`
}

/** "2026-12-02 02:20 UTC, 2 CPUs (nproc), …, Node v20…; `npm run bench -- tftp`" */
export async function runLine(started: Date, command: string): Promise<string> {
  return `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${await machineLine()}; \`${command}\``
}
