// `bootlab fetch ipxe` and `bootlab fetch grub-arm64`: second-stage loaders from Debian packages,
// placed where bootlab's DHCP defaults point (DEFAULT_FILES).
import { mkdirSync, mkdtempSync, rmSync, cpSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_FILES } from '../dhcp/index.js'
import { FetchError, type FetchContext } from './download.js'
import { fetchDeb, unpackDeb, type DebianSource } from './debian.js'
import { downloadsDir, fileInside, installFile, readAssetsFile, swapDir, tmpName, writeAssetsFile, type AssetRoots } from './layout.js'
import type { FetchOutcome } from './rpi4-uefi.js'

export const DEBIAN_SUITE = 'trixie'

/**
 * Debian trixie's `ipxe` (Architecture: all) → firmware/ipxe/. Debian ships no SNP-only arm64
 * build: its ipxe-arm64.efi (the full build) goes where DEFAULT_FILES points arm64 UEFI clients.
 */
export const IPXE_FILES: ReadonlyArray<{ from: string; to: string }> = [
  { from: 'usr/lib/ipxe/ipxe-amd64.efi', to: DEFAULT_FILES.x64Ipxe },
  { from: 'usr/lib/ipxe/snponly.efi', to: DEFAULT_FILES.x64Snp },
  { from: 'usr/lib/ipxe/undionly.kpxe', to: DEFAULT_FILES.bios },
  { from: 'usr/lib/ipxe/ipxe-arm64.efi', to: DEFAULT_FILES.arm64Ipxe },
]

export const GRUB_NET_IMAGE = { from: 'usr/lib/grub/arm64-efi/monolithic/grubnetaa64.efi', to: DEFAULT_FILES.arm64Grub }
export const GRUB_MODULES = { from: 'usr/lib/grub/arm64-efi', to: 'grub/arm64-efi' }

export interface DebAssetOptions {
  from?: string
  keyring?: string
  sha256?: string
}

function debSource(o: DebAssetOptions): DebianSource {
  return { suite: DEBIAN_SUITE, component: 'main', ...(o.from ? { from: o.from } : {}), ...(o.keyring ? { keyring: o.keyring } : {}), ...(o.sha256 ? { sha256: o.sha256 } : {}) }
}

async function withUnpacked<T>(roots: AssetRoots, deb: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  const base = downloadsDir(roots)
  mkdirSync(base, { recursive: true })
  const dir = mkdtempSync(join(base, '.unpack-'))
  try {
    await unpackDeb(deb, dir)
    return await fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function fetchIpxe(roots: AssetRoots, o: DebAssetOptions, ctx: FetchContext): Promise<FetchOutcome> {
  const deb = await fetchDeb('ipxe', 'all', debSource(o), downloadsDir(roots), ctx)
  await withUnpacked(roots, deb.path, (dir) => {
    const picked = IPXE_FILES.map((f) => {
      const src = fileInside(dir, f.from)
      if (!src) throw new FetchError(`${deb.filename} has no ${f.from}: not the ipxe package bootlab expects (Debian trixie or later)`)
      return { src, to: f.to }
    })
    for (const p of picked) installFile(p.src, join(roots.firmware, p.to))
  })
  const state = readAssetsFile(roots)
  state.records.ipxe = {
    asset: 'ipxe', version: deb.version, sha256: deb.sha256, trust: deb.trust, source: `${deb.source}/${deb.filename}`,
    fetched_at: new Date().toISOString(), files: IPXE_FILES.map((f) => f.to), root: 'firmware',
  }
  writeAssetsFile(roots, state)
  return { asset: 'ipxe', version: deb.version, sha256: deb.sha256, trust: deb.trust, installed: join(roots.firmware, 'ipxe'), notes: [] }
}

export async function fetchGrubArm64(roots: AssetRoots, o: DebAssetOptions, ctx: FetchContext): Promise<FetchOutcome> {
  const deb = await fetchDeb('grub-efi-arm64-bin', 'arm64', debSource(o), downloadsDir(roots), ctx)
  await withUnpacked(roots, deb.path, (dir) => {
    const img = fileInside(dir, GRUB_NET_IMAGE.from)
    if (!img) throw new FetchError(`${deb.filename} has no ${GRUB_NET_IMAGE.from}`)
    const modDir = join(dir, ...GRUB_MODULES.from.split('/'))
    const grubDir = join(roots.firmware, 'grub')
    mkdirSync(grubDir, { recursive: true })
    const staged = tmpName(grubDir, 'arm64-efi')
    mkdirSync(staged)
    try {
      // regular files only (no links out of the package); the monolithic images are not modules
      for (const e of readdirSync(modDir, { withFileTypes: true })) {
        if (e.isFile()) cpSync(join(modDir, e.name), join(staged, e.name))
      }
      swapDir(staged, join(roots.firmware, GRUB_MODULES.to))
    } catch (err) {
      rmSync(staged, { recursive: true, force: true })
      throw err
    }
    installFile(img, join(roots.firmware, GRUB_NET_IMAGE.to))
  })
  const state = readAssetsFile(roots)
  state.records['grub-arm64'] = {
    asset: 'grub-arm64', version: deb.version, sha256: deb.sha256, trust: deb.trust, source: `${deb.source}/${deb.filename}`,
    fetched_at: new Date().toISOString(), files: [GRUB_NET_IMAGE.to, `${GRUB_MODULES.to}/`], root: 'firmware',
  }
  writeAssetsFile(roots, state)
  return { asset: 'grub-arm64', version: deb.version, sha256: deb.sha256, trust: deb.trust, installed: join(roots.firmware, 'grub'), notes: [] }
}
