// bootlab machines: every machine the server knows (configured and discovered), one line each.
import { Command } from 'commander'
import type { MachineView } from '../machines/lifecycle.js'
import { terminalText } from './terminal-text.js'
import { ago, clientFrom, runCli, table, withClientOptions, type CliDeps } from './client.js'

/** One row per machine; every cell goes through terminalText (names, steps and addresses can come from the network). */
export function machineRows(ms: MachineView[], now = Date.now()): string[][] {
  return ms.map((m) => [
    m.name ?? '(unnamed)',
    m.mac,
    m.arch ?? '-',
    m.state + (m.state === 'netbooting' && m.netboot_step ? ` (${m.netboot_step})` : ''),
    m.profile ?? '-',
    m.boot_profile ?? '-',
    m.ip ?? '-',
    ago(m.last_seen, now),
  ].map((cell) => terminalText(String(cell))))
}

export function machinesCommand(deps: CliDeps = {}): Command {
  return withClientOptions(new Command('machines'))
    .description('list machines: configured ones and discovered unknown ones')
    .option('--json', 'print JSON')
    .action((opts: { server: string; token?: string; tokenFile?: string; stateDir?: string; json?: boolean }) => runCli('machines', deps, async (write) => {
      const machines = await clientFrom(opts).machines<MachineView>()
      if (opts.json) return write(JSON.stringify(machines, null, 2) + '\n')
      write(table(['NAME', 'MAC', 'ARCH', 'STATE', 'PROFILE', 'NEXT BOOT', 'IP', 'LAST SEEN'], machineRows(machines)))
      const unnamed = machines.filter((m) => !m.configured)
      if (unnamed.length > 0) {
        write(`\n${unnamed.length} discovered machine(s) not in the config; add them under machines: with their mac${unnamed.some((m) => m.serial) ? ' (and serial)' : ''}.\n`)
      }
    }))
}
