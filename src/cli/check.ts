// `bootlab check`: validates the config file, prints every error (exit 1) or a one-line summary.
import { Command } from 'commander'
import { loadConfig } from '../config/load.js'
import { formatIssue } from '../config/types.js'
import { EXIT } from './exit-codes.js'
import { terminalText } from './terminal-text.js'
import { DEFAULT_CONFIG } from './options.js'
import { bootWarnings } from '../machines/booter.js'
import { formatMissing, missingAssets } from '../assets/missing.js'

export function checkCommand(): Command {
  return new Command('check')
    .description('validate the config file and print every problem with its line and column')
    .option('-c, --config <file>', 'config file', process.env.BOOTLAB_CONFIG ?? DEFAULT_CONFIG)
    .option('--json', 'print the result as JSON')
    .option('--no-secrets', 'do not read secret files (check the file on another machine)')
    .action(async (o: { config: string; json?: boolean; secrets: boolean }) => {
      const r = await loadConfig(o.config, { readSecrets: o.secrets })
      if (o.json) {
        process.stdout.write(JSON.stringify(r.ok ? { ok: true, warnings: r.warnings, missing: missingAssets(r.config) } : { ok: false, errors: r.errors, warnings: r.warnings }, null, 2) + '\n')
        process.exit(r.ok ? EXIT.OK : EXIT.CONFIG)
      }
      // messages quote the file's text: printed without its control characters
      for (const w of r.warnings) process.stderr.write(`warning: ${terminalText(formatIssue(w))}\n`)
      if (!r.ok) {
        for (const e of r.errors) process.stdout.write(`${terminalText(formatIssue(e))}\n`)
        process.stdout.write(`${o.config}: ${r.errors.length} error(s)\n`)
        process.exit(EXIT.CONFIG)
      }
      const c = r.config
      for (const w of bootWarnings(c)) process.stderr.write(`warning: ${w}\n`)
      // files the machines and profiles need: a warning (the config itself is fine), with the fetch command
      for (const m of missingAssets(c)) process.stderr.write(`warning: ${formatMissing(m)}\n`)
      const count = (x: object): number => Object.keys(x).length
      process.stdout.write(`${o.config}: ok: ${count(c.machines)} machine(s), ${count(c.profiles)} profile(s), ${count(c.switches)} switch(es); dhcp ${c.server.dhcp.mode}${c.server.interface ? ` on ${c.server.interface}` : ''}, http :${c.server.http.port}, tftp :${c.server.tftp.port}\n`)
      process.exit(EXIT.OK)
    })
}
