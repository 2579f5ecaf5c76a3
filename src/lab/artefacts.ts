// Guest artefacts for the lab, built from Debian packages into a cache directory that is reused
// across runs: a kernel + busybox initramfs per architecture, and GRUB's arm64 network image.
// Packages are downloaded (apt-get download) and unpacked (dpkg-deb -x), never installed.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, renameSync, writeFileSync, cpSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { initramfs, type CpioEntry } from './cpio.js'
import { resolveModules } from './kmod.js'
import { INIT_SCRIPT, UDHCPC_SCRIPT } from './guest-init.js'
import type { Logger } from '../log.js'

const run = promisify(execFile)

export type GuestArch = 'x86_64' | 'arm64'

const DEBIAN_ARCH: Record<GuestArch, string> = { x86_64: 'amd64', arm64: 'arm64' }
/** drivers the guest needs (QEMU virtio-net-pci, virtio-blk-pci for the lab disk); dependencies are resolved from the modules */
const NIC_MODULES = ['virtio_pci', 'virtio_net', 'virtio_blk']
/** Bump when the layout of what is built changes, so old cache entries are not reused. */
const LAYOUT = 1

export interface GuestImage {
  arch: GuestArch
  kernel: string
  initrd: string
  /** linux-image package and version, e.g. "linux-image-6.1.0-56-amd64 6.1.192-2" */
  kernelPackage: string
  modules: string[]
}

export interface GrubArm64 {
  /** grubnetaa64.efi, the monolithic network image */
  efi: string
  /** the arm64-efi module directory GRUB loads `insmod` modules from (serve it as grub/arm64-efi) */
  modulesDir: string
  version: string
}

export interface ArtefactOptions {
  cacheDir?: string
  log?: Logger
}

export function defaultCacheDir(): string {
  return process.env.BOOTLAB_LAB_CACHE ?? '/var/tmp/bootlab-lab-cache'
}

export async function sh(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const { stdout } = await run(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

/** Candidate versions of packages ("name:arch"), from one `apt-cache policy` call. */
export async function candidateVersions(pkgs: string[]): Promise<Map<string, string>> {
  const out = await sh('apt-cache', ['policy', ...pkgs])
  const versions = new Map<string, string>()
  let current = ''
  for (const line of out.split('\n')) {
    const head = /^(\S+):$/.exec(line)
    if (head) { current = head[1]!; continue }
    const cand = /^\s+Candidate: (\S+)$/.exec(line)
    if (cand && current && cand[1] !== '(none)') versions.set(current.replace(/:[a-z0-9]+$/, ''), cand[1]!)
  }
  return versions
}

/** linux-image-<abi>-<arch> behind the linux-image-<arch> metapackage, or null if apt does not know it. */
async function kernelPackage(debArch: string): Promise<string | null> {
  let out = ''
  try { out = await sh('apt-cache', ['depends', `linux-image-${debArch}:${debArch}`]) } catch { return null }
  const m = new RegExp(`Depends: (linux-image-[0-9][^\\s:]*-${debArch})`).exec(out)
  return m ? m[1]! : null
}

/**
 * The kernel package for an architecture and the candidate versions of it and `others`; for a
 * foreign architecture (arm64 on amd64) runs `dpkg --add-architecture` + `apt-get update` once
 * when apt does not know its packages yet.
 */
async function resolvePackages(debArch: string, others: string[], log?: Logger): Promise<{ kernel: string | null; versions: Map<string, string> }> {
  const lookup = async (): Promise<{ kernel: string | null; versions: Map<string, string> }> => {
    const kernel = await kernelPackage(debArch)
    const names = [...(kernel ? [kernel] : []), ...others]
    return { kernel, versions: await candidateVersions(names.map((n) => `${n}:${debArch}`)) }
  }
  let found = await lookup()
  if (found.kernel && others.every((o) => found.versions.has(o))) return found
  const native = (await sh('dpkg', ['--print-architecture'])).trim()
  if (debArch !== native) {
    const foreign = (await sh('dpkg', ['--print-foreign-architectures'])).split('\n').map((x) => x.trim())
    log?.info({ arch: debArch }, 'lab: adding foreign architecture to apt')
    if (!foreign.includes(debArch)) await sh('dpkg', ['--add-architecture', debArch])
  }
  await sh('apt-get', ['update', '-qq'], { timeoutMs: 600_000 })
  found = await lookup()
  if (!found.kernel || !others.every((o) => found.versions.has(o))) throw new Error(`apt knows no ${debArch} packages ${['linux-image-' + debArch, ...others].join(', ')}`)
  return found
}

/** Downloads pkg:arch=version (once, into cacheDir/debs) and unpacks it (or only `paths` of it). */
export async function fetchAndUnpack(cacheDir: string, pkg: string, debArch: string, version: string, into: string, paths?: string[]): Promise<void> {
  const debs = join(cacheDir, 'debs')
  mkdirSync(debs, { recursive: true })
  const want = `${pkg}_${version.replace(/:/g, '%3a')}_${debArch}.deb`
  if (!existsSync(join(debs, want))) {
    const tmp = mkdtempSync(join(debs, '.dl-'))
    try {
      await sh('apt-get', ['download', '-qq', `${pkg}:${debArch}=${version}`], { cwd: tmp, timeoutMs: 600_000 })
      const got = readdirSync(tmp).find((f) => f.endsWith('.deb'))
      if (!got) throw new Error(`apt-get download ${pkg}:${debArch} produced no .deb`)
      renameSync(join(tmp, got), join(debs, want))
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  }
  mkdirSync(into, { recursive: true })
  if (!paths) {
    await sh('dpkg-deb', ['-x', join(debs, want), into])
    return
  }
  // only what is needed: unpacking all of a linux-image package writes ~400 MB
  await sh('sh', ['-c', 'deb=$0; dir=$1; shift; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards "$@"', join(debs, want), into, ...paths])
}

/**
 * A cross-process lock on the cache (parallel test files build the same artefacts): an exclusive
 * directory holding the owner's PID; a lock whose owner is gone is taken over.
 */
export async function withCacheLock<T>(cacheDir: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(cacheDir, { recursive: true })
  const lock = join(cacheDir, '.lock')
  const deadline = Date.now() + 15 * 60_000
  for (;;) {
    try {
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), String(process.pid))
      break
    } catch {
      let owner = 0
      try { owner = Number(readFileSync(join(lock, 'pid'), 'utf8')) } catch { /* being written */ }
      let alive = true
      if (owner > 0) { try { process.kill(owner, 0) } catch { alive = false } }
      if (!alive) { rmSync(lock, { recursive: true, force: true }); continue }
      if (Date.now() > deadline) throw new Error(`lab cache lock ${lock} held too long`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  try { return await fn() } finally { rmSync(lock, { recursive: true, force: true }) }
}

function initrdEntries(busybox: Buffer, modulesRoot: string, modules: string[]): CpioEntry[] {
  const entries: CpioEntry[] = [
    { type: 'dir', path: 'bin' }, { type: 'dir', path: 'dev' }, { type: 'dir', path: 'etc' },
    { type: 'dir', path: 'proc' }, { type: 'dir', path: 'sys' }, { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'lib' }, { type: 'dir', path: 'lib/modules' },
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'init', data: Buffer.from(INIT_SCRIPT), mode: 0o755 },
    { type: 'file', path: 'etc/udhcpc.script', data: Buffer.from(UDHCPC_SCRIPT), mode: 0o755 },
  ]
  const names: string[] = []
  for (const m of modules) {
    const base = m.replace(/^.*\//, '')
    entries.push({ type: 'file', path: `lib/modules/${base}`, data: readFileSync(join(modulesRoot, m)) })
    names.push(base)
  }
  entries.push({ type: 'file', path: 'etc/modules.load', data: Buffer.from(names.join('\n') + '\n') })
  return entries
}

/**
 * Kernel and initramfs for one architecture, from the cache when the packages' versions and the
 * guest scripts are unchanged.
 */
export async function guestImage(arch: GuestArch, opts: ArtefactOptions = {}): Promise<GuestImage> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir()
  const debArch = DEBIAN_ARCH[arch]
  return await withCacheLock(cacheDir, async () => {
    const { kernel, versions } = await resolvePackages(debArch, ['busybox-static'], opts.log)
    const kpkg = kernel!
    const kver = versions.get(kpkg)!
    const bbver = versions.get('busybox-static')!
    const key = createHash('sha256').update(JSON.stringify([LAYOUT, kpkg, kver, bbver, INIT_SCRIPT, UDHCPC_SCRIPT, NIC_MODULES])).digest('hex').slice(0, 16)
    const dir = join(cacheDir, arch, key)
    const manifestFile = join(dir, 'manifest.json')
    if (existsSync(manifestFile)) return JSON.parse(readFileSync(manifestFile, 'utf8')) as GuestImage
    opts.log?.info({ arch, kernel: `${kpkg} ${kver}`, busybox: bbver }, 'lab: building guest kernel + initramfs')
    const work = mkdtempSync(join(cacheDir, `.build-${arch}-`))
    try {
      await fetchAndUnpack(cacheDir, kpkg, debArch, kver, join(work, 'kernel'), [
        './boot/vmlinuz-*', './lib/modules/*/modules.builtin', './lib/modules/*/kernel/drivers/virtio/*',
        './lib/modules/*/kernel/drivers/net/*', './lib/modules/*/kernel/net/*', './lib/modules/*/kernel/drivers/block/*',
      ])
      await fetchAndUnpack(cacheDir, 'busybox-static', debArch, bbver, join(work, 'busybox'))
      const abi = kpkg.replace(/^linux-image-/, '')
      const modulesRoot = join(work, 'kernel', 'lib', 'modules', abi)
      const modules = resolveModules(modulesRoot, NIC_MODULES)
      const busybox = readFileSync(join(work, 'busybox', 'bin', 'busybox'))
      const out = join(work, 'out')
      mkdirSync(out)
      cpSync(join(work, 'kernel', 'boot', `vmlinuz-${abi}`), join(out, 'vmlinuz'))
      writeFileSync(join(out, 'initrd.gz'), initramfs(initrdEntries(busybox, modulesRoot, modules)))
      const image: GuestImage = { arch, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz'), kernelPackage: `${kpkg} ${kver}`, modules }
      writeFileSync(join(out, 'manifest.json'), JSON.stringify(image, null, 2))
      mkdirSync(join(cacheDir, arch), { recursive: true })
      rmSync(dir, { recursive: true, force: true })
      renameSync(out, dir)
      return image
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
}

/** GRUB's arm64 EFI network image and module directory (grub-efi-arm64-bin:arm64, unpacked). */
export async function grubArm64(opts: ArtefactOptions = {}): Promise<GrubArm64> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir()
  return await withCacheLock(cacheDir, async () => {
    const { versions } = await resolvePackages('arm64', ['grub-efi-arm64-bin'], opts.log)
    const version = versions.get('grub-efi-arm64-bin')!
    const dir = join(cacheDir, 'grub-arm64', version.replace(/[^A-Za-z0-9.+~-]/g, '_'))
    const result: GrubArm64 = { efi: join(dir, 'grubnetaa64.efi'), modulesDir: join(dir, 'arm64-efi'), version }
    if (existsSync(result.efi)) return result
    opts.log?.info({ version }, 'lab: unpacking GRUB arm64 network image')
    const work = mkdtempSync(join(cacheDir, '.build-grub-'))
    try {
      await fetchAndUnpack(cacheDir, 'grub-efi-arm64-bin', 'arm64', version, join(work, 'pkg'))
      const lib = join(work, 'pkg', 'usr', 'lib', 'grub', 'arm64-efi')
      const out = join(work, 'out')
      mkdirSync(out)
      cpSync(join(lib, 'monolithic', 'grubnetaa64.efi'), join(out, 'grubnetaa64.efi'))
      cpSync(lib, join(out, 'arm64-efi'), { recursive: true, filter: (src) => !src.includes('/monolithic') })
      mkdirSync(join(cacheDir, 'grub-arm64'), { recursive: true })
      rmSync(dir, { recursive: true, force: true })
      renameSync(out, dir)
      return result
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
}

/**
 * More modules of the guest kernel guestImage() uses (same linux-image package), with their
 * dependencies, in load order: absolute paths of cached .ko files, for tests whose guest needs
 * something beyond the NIC (e.g. efivarfs). `paths` are the package paths to unpack (tar globs
 * such as './lib/modules/*\/kernel/fs/efivarfs/*'); modules built into the kernel are left out.
 */
export async function guestModules(arch: GuestArch, wanted: string[], paths: string[], opts: ArtefactOptions = {}): Promise<string[]> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir()
  const debArch = DEBIAN_ARCH[arch]
  return await withCacheLock(cacheDir, async () => {
    const { kernel, versions } = await resolvePackages(debArch, [], opts.log)
    const kpkg = kernel!
    const kver = versions.get(kpkg)!
    const key = createHash('sha256').update(JSON.stringify([LAYOUT, kpkg, kver, wanted, paths])).digest('hex').slice(0, 16)
    const dir = join(cacheDir, `${arch}-modules`, key)
    const manifestFile = join(dir, 'modules.json')
    if (existsSync(manifestFile)) return JSON.parse(readFileSync(manifestFile, 'utf8')) as string[]
    const work = mkdtempSync(join(cacheDir, `.build-${arch}-modules-`))
    try {
      await fetchAndUnpack(cacheDir, kpkg, debArch, kver, join(work, 'kernel'), ['./lib/modules/*/modules.builtin', ...paths])
      const modulesRoot = join(work, 'kernel', 'lib', 'modules', kpkg.replace(/^linux-image-/, ''))
      const out = join(work, 'out')
      mkdirSync(out)
      const files = resolveModules(modulesRoot, wanted).map((m) => {
        const base = m.replace(/^.*\//, '')
        cpSync(join(modulesRoot, m), join(out, base))
        return join(dir, base)
      })
      writeFileSync(join(out, 'modules.json'), JSON.stringify(files, null, 2))
      mkdirSync(join(cacheDir, `${arch}-modules`), { recursive: true })
      rmSync(dir, { recursive: true, force: true })
      renameSync(out, dir)
      return files
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
}
