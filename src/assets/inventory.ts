// What is on disk: pftf versions, loaders, images, Pi 5 boot files; sizes, versions, hashes, and
// which machines and profiles use each. Data for `bootlab images`.
import { existsSync, readdirSync, statSync, lstatSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config/types.js'
import { DEFAULT_FILES } from '../dhcp/index.js'
import { sha256File } from './download.js'
import { readAssetsFile, readLink, type AssetRoots, type AssetRecord } from './layout.js'
import { profileImagePaths } from './missing.js'
import { VERSION_RE, pftfVersionName } from './rpi4-uefi.js'

export interface InventoryItem {
  kind: 'rpi4-uefi' | 'loader' | 'image' | 'rpi5-boot'
  /** path relative to its root (firmware/ or images/) */
  name: string
  path: string
  bytes: number
  version: string | null
  /** SHA-256 of the file; for folders, of the archive it came from (when bootlab fetched it) */
  sha256: string | null
  trust: string | null
  current?: boolean
  used_by: string[]
}

function sizeOf(path: string): number {
  const st = lstatSync(path)
  if (!st.isDirectory()) return st.size
  let n = 0
  for (const e of readdirSync(path)) n += sizeOf(join(path, e))
  return n
}

const HASH_LIMIT = 64 * 1024 * 1024

async function fileHash(path: string): Promise<string | null> {
  try { return statSync(path).size <= HASH_LIMIT ? await sha256File(path) : null } catch { return null }
}

function recordFor(records: Record<string, AssetRecord>, root: 'firmware' | 'images', rel: string): AssetRecord | null {
  for (const r of Object.values(records)) {
    if (r.root === root && r.files.some((f) => f === rel || (f.endsWith('/') && rel.startsWith(f)))) return r
  }
  return null
}

export async function inventory(roots: AssetRoots, cfg: Config | null): Promise<InventoryItem[]> {
  const { records } = readAssetsFile(roots)
  const machines = cfg ? Object.values(cfg.machines) : []
  const items: InventoryItem[] = []

  // pftf versions
  const pftf = join(roots.firmware, 'rpi4-uefi')
  const current = readLink(join(pftf, 'current'))
  if (existsSync(pftf)) {
    for (const v of readdirSync(pftf).filter((d) => VERSION_RE.test(d)).sort()) {
      const rec = records[`rpi4-uefi/${v}`]
      const used = machines.filter((m) => m.arch === 'rpi4' && (m.firmware ? pftfVersionName(m.firmware) === v : v === current)).map((m) => `machine ${m.name}`)
      items.push({ kind: 'rpi4-uefi', name: `rpi4-uefi/${v}`, path: join(pftf, v), bytes: sizeOf(join(pftf, v)), version: v, sha256: rec?.sha256 ?? null, trust: rec?.trust ?? null, current: v === current, used_by: used })
    }
  }

  // loaders where the DHCP defaults point
  const loaderUsers: Record<string, string[]> = {
    [DEFAULT_FILES.arm64Ipxe]: ['rpi4', 'arm64'], [DEFAULT_FILES.arm64Grub]: ['rpi4', 'arm64'],
    [DEFAULT_FILES.x64Ipxe]: ['x86_64'], [DEFAULT_FILES.x64Snp]: ['x86_64'], [DEFAULT_FILES.bios]: ['bios'], [DEFAULT_FILES.ia32Ipxe]: [],
  }
  for (const [rel, arches] of Object.entries(loaderUsers)) {
    const path = join(roots.firmware, rel)
    if (!existsSync(path)) continue
    const rec = recordFor(records, 'firmware', rel)
    items.push({ kind: 'loader', name: rel, path, bytes: sizeOf(path), version: rec ? `${rec.asset} ${rec.version}` : null, sha256: await fileHash(path), trust: rec?.trust ?? null, used_by: machines.filter((m) => arches.includes(m.arch)).map((m) => `machine ${m.name}`) })
  }

  // images named by profiles, plus everything bootlab fetched there
  const imageRels = new Set<string>()
  for (const r of Object.values(records)) if (r.root === 'images') r.files.forEach((f) => imageRels.add(f))
  for (const p of Object.values(cfg?.profiles ?? {})) profileImagePaths(p).forEach((f) => imageRels.add(f))
  for (const rel of [...imageRels].sort()) {
    const path = join(roots.images, ...rel.split('/'))
    if (!existsSync(path)) continue
    const rec = recordFor(records, 'images', rel)
    const profiles = Object.values(cfg?.profiles ?? {}).filter((p) => profileImagePaths(p).includes(rel))
    const used = profiles.flatMap((p) => [`profile ${p.name}`, ...machines.filter((m) => m.profile === p.name).map((m) => `machine ${m.name}`)])
    items.push({ kind: 'image', name: rel, path, bytes: sizeOf(path), version: rec ? `${rec.asset} ${rec.version}` : null, sha256: await fileHash(path), trust: rec?.trust ?? null, used_by: used })
  }

  // Pi 5 boot files (one set, in firmware/rpi5/)
  const rpi5 = join(roots.firmware, 'rpi5')
  if (existsSync(rpi5)) {
    const rec = records['rpi5-boot']
    items.push({ kind: 'rpi5-boot', name: 'rpi5/', path: rpi5, bytes: sizeOf(rpi5), version: rec?.version ?? null, sha256: null, trust: rec?.trust ?? null, used_by: machines.filter((m) => (m.arch as string) === 'rpi5').map((m) => `machine ${m.name}`) })
  }
  return items
}
