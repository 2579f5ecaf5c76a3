// bootlab's command line: one program, one subcommand per job.
import { Command, CommanderError } from 'commander'
import { version } from '../version.js'
import { EXIT } from './exit-codes.js'
import { serveCommand } from './serve.js'
import { checkCommand } from './check.js'
import { schemaCommand } from './schema.js'
import { machinesCommand } from './machines.js'
import { statusCommand } from './status.js'
import { assignCommand } from './assign.js'
import { powerCommand } from './power.js'
import { demoCommand } from './demo.js'
import { uefiVarsCommand } from './uefi-vars.js'
import { fetchCommand } from './fetch.js'
import { imagesCommand } from './images.js'
import { initCommand } from './init.js'

export function program(): Command {
  const p = new Command('bootlab')
    .description('netboot server for homelabs: DHCP (proxy or full), TFTP, HTTP, PoE power-cycling')
    .version(version)
    // root options only before the subcommand: `bootlab fetch rpi4-uefi --version v1.38` is the subcommand's
    .enablePositionalOptions()
    .exitOverride()
  p.addCommand(serveCommand())
  p.addCommand(checkCommand())
  p.addCommand(schemaCommand())
  p.addCommand(statusCommand())
  p.addCommand(machinesCommand())
  p.addCommand(assignCommand())
  p.addCommand(powerCommand())
  p.addCommand(demoCommand())
  p.addCommand(uefiVarsCommand())
  p.addCommand(fetchCommand())
  p.addCommand(imagesCommand())
  p.addCommand(initCommand())
  // commands added with addCommand do not inherit exitOverride: usage errors must exit 2 everywhere
  const override = (c: Command): void => { c.exitOverride(); c.commands.forEach(override) }
  override(p)
  return p
}

try {
  await program().parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE)
  throw err
}
