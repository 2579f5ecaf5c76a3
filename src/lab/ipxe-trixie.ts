// iPXE from Debian trixie's `ipxe` package (architecture all) for the reinstall loop's UEFI guests:
// - arm64: Debian 12 ships no arm64 iPXE; trixie has /usr/lib/ipxe/ipxe-arm64.efi;
// - x86-64: Debian 12's ipxe.efi (2019) does not return to OVMF's boot manager after a script's
//   `exit 1` (bootlab's `boot: local`), so a machine could never fall through to its disk; trixie's
//   (1.21.1, 2025) does.
// If the machine's own apt already offers an ipxe with ipxe-arm64.efi, that version is used;
// otherwise the package is fetched with apt-get from trixie through a private apt configuration in
// the cache (its own sources.list and lists; the system's apt is not changed). Downloaded and
// unpacked, never installed.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultCacheDir, sh, withCacheLock, type ArtefactOptions } from './artefacts.js'

const SUITE = 'trixie'
const FILES = { arm64: 'usr/lib/ipxe/ipxe-arm64.efi', x64: 'usr/lib/ipxe/ipxe-amd64.efi' } as const

export interface TrixieIpxe {
  /** ipxe-arm64.efi (served as ipxe/snp-arm64.efi) */
  arm64: string
  /** ipxe.efi for x86-64 UEFI */
  x64: string
}

/** apt options that point apt-get at the suite's lists in the cache, nothing of the system's sources */
function aptOptions(dir: string): string[] {
  return [
    '-o', `Dir::Etc::SourceList=${join(dir, 'sources.list')}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', `Dir::Cache=${join(dir, 'cache')}`,
    '-o', 'APT::Architectures::=amd64', '-o', 'Acquire::Languages=none',
    '-o', 'Dir::Etc::Preferences=/dev/null', '-o', 'Dir::Etc::PreferencesParts=/nonexistent',
  ]
}

async function unpackEfi(deb: string, into: string): Promise<TrixieIpxe | null> {
  const work = mkdtempSync(join(into, '.x-'))
  try {
    await sh('sh', ['-c', 'dpkg-deb --fsys-tarfile "$0" | tar -x -C "$1" "./$2" "./$3"', deb, work, FILES.arm64, FILES.x64])
    if (!existsSync(join(work, FILES.arm64)) || !existsSync(join(work, FILES.x64))) return null
    const out: TrixieIpxe = { arm64: join(into, 'ipxe-arm64.efi'), x64: join(into, 'ipxe.efi') }
    renameSync(join(work, FILES.x64), out.x64)
    renameSync(join(work, FILES.arm64), out.arm64)
    return out
  } catch {
    return null
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

async function download(args: string[], cwd: string): Promise<string> {
  const dl = mkdtempSync(join(cwd, '.dl-'))
  try {
    await sh('apt-get', [...args], { cwd: dl, timeoutMs: 600_000 })
    const deb = readdirSync(dl).find((f) => f.endsWith('.deb'))
    if (!deb) throw new Error(`apt-get ${args.join(' ')} produced no .deb`)
    renameSync(join(dl, deb), join(cwd, deb))
    return join(cwd, deb)
  } finally {
    rmSync(dl, { recursive: true, force: true })
  }
}

/** trixie's iPXE EFI binaries (cached after the first call) */
export async function trixieIpxe(opts: ArtefactOptions = {}): Promise<TrixieIpxe> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir()
  const dir = join(cacheDir, 'ipxe-trixie')
  const cached: TrixieIpxe = { arm64: join(dir, 'ipxe-arm64.efi'), x64: join(dir, 'ipxe.efi') }
  return await withCacheLock(cacheDir, async () => {
    if (existsSync(cached.arm64) && existsSync(cached.x64)) return cached
    mkdirSync(dir, { recursive: true })
    if (existsSync(`/${FILES.arm64}`)) {
      // the installed ipxe has it: the same version, downloaded, not copied from the system
      const deb = await download(['download', '-qq', 'ipxe'], dir)
      const got = await unpackEfi(deb, dir)
      if (got) return got
    }
    opts.log?.info({ suite: SUITE }, 'lab: fetching ipxe from Debian trixie')
    const apt = join(cacheDir, `apt-${SUITE}`)
    for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(apt, d), { recursive: true })
    writeFileSync(join(apt, 'sources.list'), `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian ${SUITE} main\n`)
    const o = aptOptions(apt)
    await sh('apt-get', [...o, 'update', '-qq'], { timeoutMs: 600_000 })
    const deb = await download([...o, 'download', '-qq', 'ipxe'], dir)
    const got = await unpackEfi(deb, dir)
    if (!got) throw new Error(`the ipxe package from ${SUITE} lacks ${FILES.arm64} or ${FILES.x64}`)
    return got
  })
}
