// bootlab's command line: one program, one subcommand per job.
import { Command, CommanderError } from 'commander'
import { version } from '../version.js'
import { EXIT } from './exit-codes.js'

type CommandLoader = () => Promise<Command>
/**
 * Every subcommand by name, each module imported only when needed: `bootlab serve` (the
 * long-running process) then never loads the demo's lab code, the asset fetchers or the client
 * commands (idle memory, docs/decisions.md).
 */
const COMMANDS: ReadonlyArray<readonly [string, CommandLoader]> = [
  ['serve', async () => (await import('./serve.js')).serveCommand()],
  ['check', async () => (await import('./check.js')).checkCommand()],
  ['schema', async () => (await import('./schema.js')).schemaCommand()],
  ['status', async () => (await import('./status.js')).statusCommand()],
  ['machines', async () => (await import('./machines.js')).machinesCommand()],
  ['assign', async () => (await import('./assign.js')).assignCommand()],
  ['power', async () => (await import('./power.js')).powerCommand()],
  ['demo', async () => (await import('./demo.js')).demoCommand()],
  ['uefi-vars', async () => (await import('./uefi-vars.js')).uefiVarsCommand()],
  ['fetch', async () => (await import('./fetch.js')).fetchCommand()],
  ['images', async () => (await import('./images.js')).imagesCommand()],
  ['init', async () => (await import('./init.js')).initCommand()],
]

/** the subcommand named in argv (the first word that is not an option: root options come before it) */
function named(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith('-'))
}

/** the program with the subcommand `argv` names, or with every subcommand (help, an unknown name) */
export async function program(argv: readonly string[] = process.argv): Promise<Command> {
  const p = new Command('bootlab')
    .description('netboot server for homelabs: DHCP (proxy or full), TFTP, HTTP, PoE power-cycling')
    .version(version)
    // root options only before the subcommand: `bootlab fetch rpi4-uefi --version v1.38` is the subcommand's
    .enablePositionalOptions()
    .exitOverride()
  const name = named(argv)
  const one = COMMANDS.find(([n]) => n === name)
  for (const [, load] of one ? [one] : COMMANDS) p.addCommand(await load())
  // commands added with addCommand do not inherit exitOverride: usage errors must exit 2 everywhere
  const override = (c: Command): void => { c.exitOverride(); c.commands.forEach(override) }
  override(p)
  return p
}

try {
  await (await program(process.argv)).parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE)
  throw err
}
