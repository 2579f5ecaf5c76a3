// bootlab status [MACHINE]: a summary of the lab, or one machine with its recent timeline;
// with --watch, follows the live event stream (src/cli/watch.ts).
import { Command } from 'commander'
import type { EventRow } from '../store/store.js'
import type { MachineView } from '../machines/lifecycle.js'
import { ago, clientFrom, runCli, table, withClientOptions, type CliDeps } from './client.js'
import { machineRows } from './machines.js'
import { describeEvent, printable, watchEvents } from './watch.js'
import { terminalText } from './terminal-text.js'

/** every cell and line printed here can carry text from the network (names, steps, addresses) */
const safeRows = (rows: string[][]): string[][] => rows.map((r) => r.map((c) => terminalText(String(c))))

export function statusCommand(deps: CliDeps = {}): Command {
  return withClientOptions(new Command('status'))
    .description('summary of all machines, or one machine and its timeline')
    .argument('[machine]', 'machine name or MAC')
    .option('-n, --events <n>', 'number of events to show', '20')
    .option('-w, --watch', 'follow the live event stream (reconnects; Ctrl-C ends)')
    .option('--count <n>', 'with --watch: stop after n events')
    .action((machine: string | undefined, opts: { server: string; token?: string; tokenFile?: string; stateDir?: string; events: string; watch?: boolean; count?: string }) => runCli('status', deps, async (write) => {
      const api = clientFrom(opts)
      if (opts.watch) {
        const stop = new AbortController()
        const onSignal = (): void => stop.abort()
        process.once('SIGINT', onSignal)
        try {
          const count = opts.count !== undefined ? Math.max(1, Number.parseInt(opts.count, 10) || 1) : undefined
          await watchEvents({ server: opts.server, client: api, write, signal: stop.signal, ...(machine ? { machine } : {}), ...(count ? { count } : {}) })
        } finally {
          process.off('SIGINT', onSignal)
        }
        return
      }
      if (!machine) {
        const machines = await api.machines<MachineView>()
        const counts = new Map<string, number>()
        for (const m of machines) counts.set(m.state, (counts.get(m.state) ?? 0) + 1)
        write(terminalText(`bootlab at ${opts.server}: ${machines.length} machine(s)` + (counts.size ? ` — ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}` : '')) + '\n\n')
        write(table(['NAME', 'MAC', 'ARCH', 'STATE', 'PROFILE', 'NEXT BOOT', 'IP', 'LAST SEEN'], safeRows(machineRows(machines))))
        return
      }
      const { machine: m } = await api.request<{ machine: MachineView }>('GET', `/api/machines/${encodeURIComponent(machine)}`)
      const limit = Math.max(1, Math.min(Number.parseInt(opts.events, 10) || 20, 500))
      const { events } = await api.request<{ events: EventRow[] }>('GET', `/api/events?machine=${encodeURIComponent(m.name ?? m.mac)}&limit=${limit}`)
      const lines = [
        `${printable(m.name ?? '(unnamed)')}  ${m.mac}  ${m.arch ?? '-'}${m.serial ? `  serial ${printable(m.serial)}` : ''}`,
        `state:      ${m.state}${m.state_reason ? ` (${printable(m.state_reason)})` : ''} since ${m.state_since}${m.netboot_step ? `, step: ${printable(m.netboot_step)}` : ''}`,
        `profile:    ${m.profile ?? '-'}   next boot: ${m.boot_profile ?? '-'}`,
        `deployment: ${m.deployment ? `${m.deployment.id} ${m.deployment.profile} (${m.deployment.state})` : '-'}`,
        `deployed:   ${m.deployed_at ? `${m.applied_profile ?? '-'} at ${m.deployed_at}` : '-'}`,
        `ip:         ${m.ip ?? '-'}   last seen ${ago(m.last_seen)}   power: ${m.power ? 'yes' : 'no'}`,
        '',
      ]
      write(lines.map((l) => terminalText(l)).join('\n') + '\n')
      write(table(['TIME', 'EVENT'], safeRows([...events].reverse().map((e) => [new Date(e.ts).toISOString(), describeEvent(e)]))))
    }))
}
