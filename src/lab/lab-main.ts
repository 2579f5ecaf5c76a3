// Runs lab boots from the command line and prints their milestones as they happen:
//   node --import tsx src/lab/lab-main.ts [--server dnsmasq] [--timeout 150] [--keep] [bios] [uefi-x64] [uefi-arm64]
// (as root; the kinds run one after another). Exit status 0 when every guest phoned home.
import { parseArgs } from 'node:util'
import { createLabServer, describeBoot, GUEST_KINDS, missingPrerequisites, runLabBoot, type GuestKind } from './index.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { server: { type: 'string' }, timeout: { type: 'string', default: '150' }, keep: { type: 'boolean', default: false } },
})
const kinds = (positionals.length > 0 ? positionals : [...GUEST_KINDS]) as GuestKind[]
for (const k of kinds) {
  if (!(GUEST_KINDS as readonly string[]).includes(k)) {
    process.stderr.write(`unknown guest kind ${k} (known: ${GUEST_KINDS.join(', ')})\n`)
    process.exit(2)
  }
}
let failed = 0
for (const kind of kinds) {
  const missing = missingPrerequisites(kind)
  if (missing.length > 0) {
    process.stdout.write(`${kind}: cannot run, missing ${missing.join(', ')}\n`)
    failed++
    continue
  }
  process.stdout.write(`${kind}: booting\n`)
  const r = await runLabBoot({
    kind, server: createLabServer(values.server), timeoutMs: Number(values.timeout) * 1000, keepWorkDir: values.keep,
    onMilestone: (m) => process.stdout.write(`  ${(m.atMs / 1000).toFixed(1).padStart(6)} s  ${m.name}\n`),
  })
  process.stdout.write(describeBoot(r) + '\n')
  if (values.keep) process.stdout.write(`  work directory kept: ${r.workDir}\n`)
  if (!r.phoneHome) {
    failed++
    process.stdout.write(`${kind}: FAILED, no phone-home. Console tail:\n${r.consoleTail}\n`)
  }
}
process.exit(failed > 0 ? 1 : 0)
