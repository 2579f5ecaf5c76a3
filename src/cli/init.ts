// `bootlab init`: first run on a fresh box. Detects the LAN, writes a commented proxy-mode
// /etc/bootlab/bootlab.yaml, creates the service user, folders and systemd unit, prints next steps.
import { Command, InvalidArgumentError } from 'commander'
import { createInterface } from 'node:readline/promises'
import { resolve, join } from 'node:path'
import { EXIT } from './exit-codes.js'
import { detectNetwork } from '../init/detect.js'
import { applyStep, buildPlan, describeStep, installDir, PATHS } from '../init/plan.js'
import { loadConfig } from '../config/load.js'
import { formatIssue } from '../config/types.js'

interface InitFlags {
  root?: string
  dryRun?: boolean
  json?: boolean
  force?: boolean
  interface?: string
  user: string
  httpPort: number
}

function portArg(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number 1-65535')
  return n
}

async function ask(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try { return /^y(es)?$/i.test((await rl.question(question)).trim()) } finally { rl.close() }
}

export function initCommand(): Command {
  return new Command('init')
    .description('first run: detect the LAN, write a commented proxy-mode config, create the service user, folders and systemd unit')
    .option('--root <dir>', 'write everything under this folder instead of / (no user is created)', process.env.BOOTLAB_ROOT)
    .option('--dry-run', 'print what would be done and change nothing')
    .option('--json', 'with --dry-run: print the plan as JSON')
    .option('--force', 'replace existing files without asking')
    .option('--interface <name>', 'the LAN interface (default: the one with the default route)')
    .option('--user <name>', 'service user', 'bootlab')
    .option('--http-port <port>', 'HTTP port', portArg, 8080)
    .action(async (o: InitFlags) => {
      const root = o.root ? resolve(o.root) : ''
      if (!root && !o.dryRun && process.getuid?.() !== 0) {
        process.stderr.write('bootlab init writes /etc and creates a user: run it as root (or try --dry-run, or --root DIR)\n')
        process.exit(EXIT.USAGE)
      }
      if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(o.user)) { process.stderr.write(`bad user name ${o.user}\n`); process.exit(EXIT.USAGE) }
      let facts
      try { facts = await detectNetwork(o.interface) } catch (err) {
        process.stderr.write(`bootlab init: ${(err as Error).message}\n`)
        process.exit(EXIT.START)
      }
      const steps = await buildPlan({ root, user: o.user, facts, httpPort: o.httpPort, installDir: installDir(), nodePath: process.execPath })
      if (o.dryRun) {
        if (o.json) {
          process.stdout.write(JSON.stringify({ root: root || '/', network: facts, steps: steps.map((s) => ('content' in s ? { ...s, content: undefined } : s)) }, null, 2) + '\n')
        } else {
          process.stdout.write(`detected: interface ${facts.interface}, address ${facts.address}/${facts.prefix}, router ${facts.router ?? 'none'}\n`)
          for (const s of steps) process.stdout.write(`would ${describeStep(s, root)}\n`)
        }
        process.exit(EXIT.OK)
      }
      process.stdout.write(`detected: interface ${facts.interface}, address ${facts.address}/${facts.prefix}, router ${facts.router ?? 'none'}\n`)
      for (const s of steps) {
        try {
          process.stdout.write(`${await applyStep(s, root, (p) => (o.force ? Promise.resolve(true) : ask(`${p} exists. Replace it? [y/N] `)))}\n`)
        } catch (err) {
          process.stderr.write(`bootlab init: ${describeStep(s, root)}: ${(err as Error).message}\n`)
          process.exit(EXIT.START)
        }
      }
      const cfgPath = join(root || '/', PATHS.config)
      const r = await loadConfig(cfgPath, { readSecrets: false })
      if (!r.ok) {
        for (const e of r.errors) process.stderr.write(`${formatIssue(e)}\n`)
        process.exit(EXIT.CONFIG)
      }
      const bin = `${process.execPath} ${join(installDir(), 'bin', 'bootlab.js')}`
      process.stdout.write(`
${cfgPath}: ok (proxy DHCP on ${facts.interface})

Next steps:
  1. Fetch boot files:     bootlab fetch rpi4-uefi && bootlab fetch ipxe
                           (bootlab fetch ubuntu 24.04 --arch arm64 for an installer)
  2. Add a machine:        edit ${PATHS.config} (machines:), then bootlab check
  3. Start the service:    systemctl daemon-reload && systemctl enable --now bootlab
  4. Watch it boot:        http://${facts.address}:${o.httpPort}/   (or: bootlab status)
(bootlab here is: ${bin})
`)
      process.exit(EXIT.OK)
    })
}
