// `bootlab fetch <asset>`: downloads, verifies and installs boot firmware, loaders and images.
import { Command, InvalidArgumentError, Option } from 'commander'
import { EXIT } from './exit-codes.js'
import { resolveRoots, rootOptions, RootsError, type RootFlags } from './assets-common.js'
import { createProgress } from '../assets/progress.js'
import { FetchError, isHex64, type FetchContext } from '../assets/download.js'
import { ZipError } from '../assets/zip.js'
import { fetchRpi4Uefi, PFTF_DEFAULT, PFTF_KNOWN, type FetchOutcome } from '../assets/rpi4-uefi.js'
import { fetchIpxe, fetchGrubArm64 } from '../assets/loaders.js'
import { fetchUbuntu, UBUNTU_RELEASES, type UbuntuArch } from '../assets/ubuntu.js'
import { fetchRpi5Boot, RPI5_DEFAULT_REF } from '../assets/rpi5.js'
import { downloadsDir, type AssetRoots } from '../assets/layout.js'
import { withFetchLock } from '../assets/lock.js'

interface CommonFlags extends RootFlags {
  from?: string
  quiet?: boolean
}

function sha256Arg(v: string): string {
  if (!isHex64(v)) throw new InvalidArgumentError('must be 64 hex digits')
  return v.toLowerCase()
}

function common(cmd: Command): Command {
  return rootOptions(cmd)
    .option('--from <url|dir>', 'fetch from a mirror URL or a local folder instead (bootlab reads <from>/<upstream file name>)')
    .option('-q, --quiet', 'no progress output')
}

function ctxFor(o: CommonFlags): FetchContext {
  const retry = process.env.BOOTLAB_FETCH_RETRY_MS
  return { progress: createProgress({ quiet: o.quiet === true }), ...(retry !== undefined ? { retryDelayMs: Number(retry) } : {}) }
}

async function runFetch(o: CommonFlags, fn: (roots: AssetRoots, ctx: FetchContext) => Promise<FetchOutcome>): Promise<never> {
  try {
    const { roots } = await resolveRoots(o)
    const r = await withFetchLock(downloadsDir(roots), () => fn(roots, ctxFor(o)))
    for (const n of r.notes) process.stderr.write(`note: ${n}\n`)
    process.stdout.write(`fetched ${r.asset} ${r.version}${r.sha256 ? ` (sha256 ${r.sha256}, ${r.trust})` : ` (${r.trust})`} → ${r.installed}\n`)
    process.exit(EXIT.OK)
  } catch (err) {
    if (err instanceof RootsError) { process.stderr.write(`${err.message}\n`); process.exit(EXIT.CONFIG) }
    if (err instanceof FetchError || err instanceof ZipError) { process.stderr.write(`fetch failed: ${err.message}\n`); process.exit(EXIT.FETCH) }
    process.stderr.write(`fetch failed: ${(err as Error).message}\n`)
    process.exit(EXIT.FETCH)
  }
}

export function fetchCommand(): Command {
  const cmd = new Command('fetch').description('download, verify and install boot firmware, loaders and installer images')

  cmd.addCommand(common(new Command('rpi4-uefi'))
    .description(`pftf Raspberry Pi 4 UEFI firmware → firmware/rpi4-uefi/<version>/ (known: ${Object.keys(PFTF_KNOWN).join(' ')})`)
    .option('--version <vX.YZ>', 'release', PFTF_DEFAULT)
    .option('--sha256 <hex>', 'expected SHA-256 of the release zip (required for a version bootlab does not know)', sha256Arg)
    .option('--keep-current', 'do not point firmware/rpi4-uefi/current at this version (for machines that pin it)')
    .action((o: CommonFlags & { version: string; sha256?: string; keepCurrent?: boolean }) => runFetch(o, (roots, ctx) =>
      fetchRpi4Uefi(roots, { version: o.version, ...(o.sha256 ? { sha256: o.sha256 } : {}), ...(o.from ? { from: o.from } : {}), keepCurrent: o.keepCurrent === true }, ctx))))

  const deb = (name: string, what: string, fn: typeof fetchIpxe): Command => common(new Command(name))
    .description(what)
    .option('--keyring <file>', 'OpenPGP keyring that signs the archive\'s InRelease (default: Debian\'s archive keyring)')
    .option('--sha256 <hex>', 'pin the .deb\'s SHA-256 instead of checking the archive signature', sha256Arg)
    .action((o: CommonFlags & { keyring?: string; sha256?: string }) => runFetch(o, (roots, ctx) =>
      fn(roots, { ...(o.from ? { from: o.from } : {}), ...(o.keyring ? { keyring: o.keyring } : {}), ...(o.sha256 ? { sha256: o.sha256 } : {}) }, ctx)))
  cmd.addCommand(deb('ipxe', 'iPXE for BIOS, x86-64 UEFI and arm64 UEFI (Debian trixie\'s ipxe package) → firmware/ipxe/', fetchIpxe))
  cmd.addCommand(deb('grub-arm64', 'GRUB\'s arm64 network image and modules (Debian trixie\'s grub-efi-arm64-bin) → firmware/grub/', fetchGrubArm64))

  cmd.addCommand(common(new Command('ubuntu'))
    .description('Ubuntu netboot kernel + initrd and live-server ISO → images/ubuntu-<release>/')
    .argument('<release>', `release (${UBUNTU_RELEASES.join(', ')})`)
    .addOption(new Option('--arch <arch>', 'architecture').choices(['amd64', 'arm64']).makeOptionMandatory())
    .option('--keyring <file>', 'OpenPGP keyring with Ubuntu\'s CD image key: check SHA256SUMS.gpg')
    .option('--no-iso', 'kernel and initrd only')
    .action((release: string, o: CommonFlags & { arch: UbuntuArch; keyring?: string; iso: boolean }) => runFetch(o, (roots, ctx) =>
      fetchUbuntu(roots, { release, arch: o.arch, noIso: !o.iso, ...(o.from ? { from: o.from } : {}), ...(o.keyring ? { keyring: o.keyring } : {}) }, ctx))))

  cmd.addCommand(common(new Command('rpi5-boot'))
    .description('Raspberry Pi 5 device trees and overlay maps (raspberrypi/firmware boot/) → firmware/rpi5/')
    .option('--ref <ref>', 'branch, tag or commit of raspberrypi/firmware (a tag or commit is pinned on first use)', RPI5_DEFAULT_REF)
    .option('--overlay <name...>', 'extra overlays to fetch (e.g. disable-bt-pi5)')
    .action((o: CommonFlags & { ref: string; overlay?: string[] }) => runFetch(o, (roots, ctx) =>
      fetchRpi5Boot(roots, { ref: o.ref, overlays: o.overlay ?? [], ...(o.from ? { from: o.from } : {}) }, ctx))))
  return cmd
}
