// iPXE for arm64 UEFI guests: Debian bookworm ships none, trixie's `ipxe` package (architecture
// all) has /usr/lib/ipxe/ipxe-arm64.efi. If the machine's own apt already offers an ipxe with that
// file, that version is used; otherwise the package is fetched with apt-get from trixie through a
// private apt configuration in the cache (its own sources.list and lists; the system's apt is not
// changed). Downloaded and unpacked, never installed.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultCacheDir, sh, withCacheLock, type ArtefactOptions } from './artefacts.js'

const SUITE = 'trixie'
const FILE = 'usr/lib/ipxe/ipxe-arm64.efi'

/** apt options that point apt-get at the suite's lists in the cache, nothing of the system's sources */
function aptOptions(dir: string): string[] {
  return [
    '-o', `Dir::Etc::SourceList=${join(dir, 'sources.list')}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', `Dir::Cache=${join(dir, 'cache')}`,
    '-o', 'APT::Architectures::=amd64', '-o', 'Acquire::Languages=none',
    '-o', 'Dir::Etc::Preferences=/dev/null', '-o', 'Dir::Etc::PreferencesParts=/nonexistent',
  ]
}

async function unpackEfi(deb: string, into: string): Promise<string | null> {
  const work = mkdtempSync(join(into, '.x-'))
  try {
    await sh('sh', ['-c', 'dpkg-deb --fsys-tarfile "$0" | tar -x -C "$1" "./$2"', deb, work, FILE])
    const efi = join(work, FILE)
    if (!existsSync(efi)) return null
    const out = join(into, 'ipxe-arm64.efi')
    renameSync(efi, out)
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

/** the path of an arm64 iPXE EFI binary (cached after the first call) */
export async function ipxeArm64(opts: ArtefactOptions = {}): Promise<string> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir()
  const dir = join(cacheDir, 'ipxe-arm64')
  const efi = join(dir, 'ipxe-arm64.efi')
  return await withCacheLock(cacheDir, async () => {
    if (existsSync(efi)) return efi
    mkdirSync(dir, { recursive: true })
    if (existsSync(`/${FILE}`)) {
      // the installed ipxe has it: the same version, downloaded, not copied from the system
      const deb = await download(['download', '-qq', 'ipxe'], dir)
      const got = await unpackEfi(deb, dir)
      if (got) return got
    }
    opts.log?.info({ suite: SUITE }, 'lab: fetching ipxe (arm64 EFI build) from Debian trixie')
    const apt = join(cacheDir, `apt-${SUITE}`)
    for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(apt, d), { recursive: true })
    writeFileSync(join(apt, 'sources.list'), `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian ${SUITE} main\n`)
    const o = aptOptions(apt)
    await sh('apt-get', [...o, 'update', '-qq'], { timeoutMs: 600_000 })
    const deb = await download([...o, 'download', '-qq', 'ipxe'], dir)
    const got = await unpackEfi(deb, dir)
    if (!got) throw new Error(`the ipxe package from ${SUITE} has no ${FILE}`)
    return got
  })
}
