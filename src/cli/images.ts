// `bootlab images`: what boot files are present (sizes, versions, hashes, who uses them) and what
// the configured machines and profiles need that is missing.
import { Command } from 'commander'
import { EXIT } from './exit-codes.js'
import { resolveRoots, rootOptions, RootsError, type RootFlags } from './assets-common.js'
import { inventory } from '../assets/inventory.js'
import { formatMissing, missingAssets, type MissingAsset } from '../assets/missing.js'

function human(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`
}

export function imagesCommand(): Command {
  return rootOptions(new Command('images'))
    .description('list boot firmware, loaders and images on disk, and what configured machines need that is missing')
    .option('--json', 'print the result as JSON')
    .action(async (o: RootFlags & { json?: boolean }) => {
      let r
      try { r = await resolveRoots(o) } catch (err) {
        if (err instanceof RootsError) { process.stderr.write(`${err.message}\n`); process.exit(EXIT.CONFIG) }
        throw err
      }
      const items = await inventory(r.roots, r.config)
      const missing: MissingAsset[] = r.config ? missingAssets(r.config) : []
      if (o.json) {
        process.stdout.write(JSON.stringify({ firmware: r.roots.firmware, images: r.roots.images, items, missing }, null, 2) + '\n')
        process.exit(EXIT.OK)
      }
      process.stdout.write(`firmware: ${r.roots.firmware}\nimages:   ${r.roots.images}\n\n`)
      if (items.length === 0) process.stdout.write('nothing fetched yet (bootlab fetch rpi4-uefi | ipxe | grub-arm64 | ubuntu 24.04 --arch … | rpi5-boot)\n')
      for (const it of items) {
        const head = `${it.name}${it.current ? ' (current)' : ''}`
        process.stdout.write(`${head.padEnd(44)} ${human(it.bytes).padStart(10)}  ${it.version ?? '-'}${it.trust ? ` [${it.trust}]` : ''}\n`)
        if (it.sha256) process.stdout.write(`    sha256 ${it.sha256}\n`)
        process.stdout.write(`    used by: ${it.used_by.length ? it.used_by.join(', ') : '(nothing configured)'}\n`)
      }
      if (missing.length) {
        process.stdout.write(`\n${missing.length} missing:\n`)
        for (const m of missing) process.stdout.write(`  ${formatMissing(m)}\n`)
      }
      process.exit(EXIT.OK)
    })
}
