// bootlab assign MACHINE PROFILE [--cycle]: sets the machine's profile: in the YAML (through the
// running server, which edits the file in place and reloads) and optionally power-cycles it.
import { Command } from 'commander'
import type { MachineView } from '../machines/lifecycle.js'
import { clientFrom, runCli, withClientOptions, type CliDeps } from './client.js'

export function assignCommand(deps: CliDeps = {}): Command {
  return withClientOptions(new Command('assign'))
    .description("assign a profile to a machine (writes its profile: line in the config file)")
    .argument('<machine>', 'machine name')
    .argument('<profile>', 'profile name')
    .option('--cycle', 'power-cycle it even if the machine has cycle_on_assign: false (needs power:)')
    .action((machine: string, profile: string, opts: { server: string; token?: string; tokenFile?: string; stateDir?: string; cycle?: boolean }) => runCli('assign', deps, async (write) => {
      const r = await clientFrom(opts).request<{ machine: MachineView; deployment: number; power: 'cycling' | 'none' }>(
        'POST', `/api/machines/${encodeURIComponent(machine)}/assign`, { profile, cycle: opts.cycle === true })
      write(`${machine}: ${profile} assigned (deployment ${r.deployment}), state ${r.machine.state}${r.power === 'cycling' ? ', power cycle started' : ''}\n`)
    }))
}
