// bootlab status [MACHINE]: a summary of the lab, or one machine with its recent timeline.
import { Command } from 'commander'
import type { EventRow } from '../store/store.js'
import type { MachineView } from '../machines/lifecycle.js'
import { ago, clientFrom, runCli, table, withClientOptions, type CliDeps } from './client.js'
import { machineRows } from './machines.js'

function describeEvent(e: EventRow): string {
  const d = e.data
  switch (e.type) {
    case 'state': return `${String(d.from)} → ${String(d.to)}${d.reason ? ` (${String(d.reason)})` : ''}`
    case 'assigned': return `assigned ${String(d.profile)} (deployment ${String(d.deployment)})`
    case 'deployed': return `deployed ${String(d.profile)}`
    case 'dhcp': return `DHCP ${String(d.kind)}${d.class ? ` ${String(d.class)}` : ''}${d.ip ? ` ${String(d.ip)}` : ''}`
    case 'tftp': return `TFTP ${String(d.file)} ${String(d.outcome)}`
    default: return `${e.type}${d.path ? ` ${String(d.path)}` : ''}${d.action ? ` ${String(d.action)}` : ''}${d.error ? `: ${String(d.error)}` : ''}`
  }
}

export function statusCommand(deps: CliDeps = {}): Command {
  return withClientOptions(new Command('status'))
    .description('summary of all machines, or one machine and its timeline')
    .argument('[machine]', 'machine name or MAC')
    .option('-n, --events <n>', 'number of events to show', '20')
    .action((machine: string | undefined, opts: { server: string; token?: string; tokenFile?: string; stateDir?: string; events: string }) => runCli('status', deps, async (write) => {
      const api = clientFrom(opts)
      if (!machine) {
        const { machines } = await api.request<{ machines: MachineView[] }>('GET', '/api/machines')
        const counts = new Map<string, number>()
        for (const m of machines) counts.set(m.state, (counts.get(m.state) ?? 0) + 1)
        write(`bootlab at ${opts.server}: ${machines.length} machine(s)` + (counts.size ? ` — ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}` : '') + '\n\n')
        write(table(['NAME', 'MAC', 'ARCH', 'STATE', 'PROFILE', 'NEXT BOOT', 'IP', 'LAST SEEN'], machineRows(machines)))
        return
      }
      const { machine: m } = await api.request<{ machine: MachineView }>('GET', `/api/machines/${encodeURIComponent(machine)}`)
      const limit = Math.max(1, Math.min(Number.parseInt(opts.events, 10) || 20, 500))
      const { events } = await api.request<{ events: EventRow[] }>('GET', `/api/events?machine=${encodeURIComponent(m.name ?? m.mac)}&limit=${limit}`)
      const lines = [
        `${m.name ?? '(unnamed)'}  ${m.mac}  ${m.arch ?? '-'}${m.serial ? `  serial ${m.serial}` : ''}`,
        `state:      ${m.state}${m.state_reason ? ` (${m.state_reason})` : ''} since ${m.state_since}${m.netboot_step ? `, step: ${m.netboot_step}` : ''}`,
        `profile:    ${m.profile ?? '-'}   next boot: ${m.boot_profile ?? '-'}`,
        `deployment: ${m.deployment ? `${m.deployment.id} ${m.deployment.profile} (${m.deployment.state})` : '-'}`,
        `deployed:   ${m.deployed_at ? `${m.applied_profile ?? '-'} at ${m.deployed_at}` : '-'}`,
        `ip:         ${m.ip ?? '-'}   last seen ${ago(m.last_seen)}   power: ${m.power ? 'yes' : 'no'}`,
        '',
      ]
      write(lines.join('\n') + '\n')
      write(table(['TIME', 'EVENT'], [...events].reverse().map((e) => [new Date(e.ts).toISOString(), describeEvent(e)])))
    }))
}
