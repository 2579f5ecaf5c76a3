// The system the lab's tiny installer writes onto a guest's disk: built once per architecture on
// the host, cached, served by the server under test as a gzip image; the installer (guest-init.ts)
// writes it onto /dev/vda and adds an install record. Layout (MBR, 80 MiB):
//
//   LBA 0            GRUB i386-pc boot.img (x86 only) + the partition table
//   LBA 1 …          GRUB i386-pc core.img with an embedded config (x86 only, BIOS boots)
//   partition 1      LBA 2048, 70 MiB, type 0xEF, FAT: /bootlab/{vmlinuz,initrd.gz} and the UEFI
//                    removable-media loader /EFI/BOOT/BOOTX64.EFI or BOOTAA64.EFI (GRUB)
//   partition 2      LBA INSTALL_RECORD_LBA, 1 MiB, type 0x83: the install record the installer writes
//
// Every GRUB image carries the same embedded config: find the partition holding /bootlab/vmlinuz,
// boot it with `bootlab.boot=disk`. Tools come from Debian packages downloaded and unpacked into
// the cache (mtools, grub-common's grub-mkimage, grub-pc-bin, grub-efi-amd64-bin; arm64 modules
// from grub-efi-arm64-bin:arm64 via grubArm64()), never installed.
import { createHash } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { candidateVersions, defaultCacheDir, fetchAndUnpack, grubArm64, sh, withCacheLock, type ArtefactOptions, type GuestArch, type GuestImage } from './artefacts.js'
import { GUEST_MARK, INSTALL_RECORD_LBA } from './guest-init.js'

const MIB = 1024 * 1024
export const DISK_BYTES = 80 * MIB
const ESP_LBA = 2048
const ESP_SECTORS = 70 * 2048
const RECORD_SECTORS = 2048
/** bump when the layout changes, so old cache entries are not reused */
const LAYOUT = 1

/** the line GRUB from the disk prints before it loads the kernel (a milestone in qemu.ts) */
export const DISK_GRUB_MARK = 'bootlab-disk: GRUB from the local disk'

const TOOL_PACKAGES = ['mtools', 'grub-common', 'grub-pc-bin', 'grub-efi-amd64-bin']

export interface DiskImage {
  arch: GuestArch
  /** the whole disk, gzip-compressed (what the installer downloads) */
  gz: string
  /** bytes of the uncompressed image */
  bytes: number
}

interface Tools {
  root: string
  bin: (name: string) => string
  grubLib: string
}

/** mtools and grub-mkimage with the x86 GRUB modules, unpacked from their Debian packages (amd64 hosts) */
async function diskTools(cacheDir: string): Promise<Tools> {
  const versions = await candidateVersions(TOOL_PACKAGES)
  for (const p of TOOL_PACKAGES) if (!versions.has(p)) throw new Error(`apt knows no package ${p}`)
  const key = createHash('sha256').update(JSON.stringify(TOOL_PACKAGES.map((p) => `${p}=${versions.get(p)!}`))).digest('hex').slice(0, 16)
  const root = join(cacheDir, 'disk-tools', key)
  const tools: Tools = { root, bin: (n) => join(root, 'usr', 'bin', n), grubLib: join(root, 'usr', 'lib', 'grub') }
  if (existsSync(join(root, '.done'))) return tools
  const work = mkdtempSync(join(cacheDir, '.build-disk-tools-'))
  try {
    for (const p of TOOL_PACKAGES) await fetchAndUnpack(cacheDir, p, 'amd64', versions.get(p)!, work)
    writeFileSync(join(work, '.done'), '')
    mkdirSync(join(cacheDir, 'disk-tools'), { recursive: true })
    rmSync(root, { recursive: true, force: true })
    renameSync(work, root)
    return tools
  } catch (err) {
    rmSync(work, { recursive: true, force: true })
    throw err
  }
}

/** the config embedded in every GRUB image on the disk: the rescue parser runs it line by line */
export function embeddedGrubConfig(arch: GuestArch): string {
  const console = arch === 'arm64' ? 'ttyAMA0' : 'ttyS0'
  return [
    `echo "${DISK_GRUB_MARK}"`,
    'search --no-floppy --set=root --file /bootlab/vmlinuz',
    // the installed system stays up until its port is switched off, as a machine would
    `linux /bootlab/vmlinuz console=${console} panic=5 bootlab.boot=disk bootlab.after=idle`,
    'initrd /bootlab/initrd.gz',
    'boot',
    '',
  ].join('\n')
}

/** one MBR partition entry (CHS fields set to "use LBA") */
function mbrEntry(active: boolean, type: number, lba: number, sectors: number): Buffer {
  const e = Buffer.alloc(16)
  e[0] = active ? 0x80 : 0
  e.writeUIntBE(0xfeffff, 1, 3)
  e[4] = type
  e.writeUIntBE(0xfeffff, 5, 3)
  e.writeUInt32LE(lba, 8)
  e.writeUInt32LE(sectors, 12)
  return e
}

/** the MBR: GRUB's boot.img code (or zeros), two partitions, the signature */
export function masterBootRecord(bootCode: Buffer | null): Buffer {
  const mbr = Buffer.alloc(512)
  if (bootCode) bootCode.copy(mbr, 0, 0, 440)
  mbrEntry(true, 0xef, ESP_LBA, ESP_SECTORS).copy(mbr, 446)
  mbrEntry(false, 0x83, INSTALL_RECORD_LBA, RECORD_SECTORS).copy(mbr, 462)
  mbr[510] = 0x55
  mbr[511] = 0xaa
  return mbr
}

/**
 * The disk image for one architecture (cached by kernel, initramfs, tool versions and layout).
 * x86_64 images boot under SeaBIOS (MBR GRUB) and OVMF (BOOTX64.EFI); arm64 under AAVMF (BOOTAA64.EFI).
 */
export async function diskImage(img: GuestImage, opts: ArtefactOptions = {}): Promise<DiskImage> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir()
  const grub = img.arch === 'arm64' ? await grubArm64(opts) : undefined
  return await withCacheLock(cacheDir, async () => {
    const tools = await diskTools(cacheDir)
    const kernel = readFileSync(img.kernel)
    const initrd = readFileSync(img.initrd)
    const key = createHash('sha256').update(JSON.stringify([LAYOUT, tools.root, grub?.version ?? '', embeddedGrubConfig(img.arch), INSTALL_RECORD_LBA, GUEST_MARK]))
      .update(kernel).update(initrd).digest('hex').slice(0, 16)
    const dir = join(cacheDir, 'disk', img.arch, key)
    const result: DiskImage = { arch: img.arch, gz: join(dir, 'disk.img.gz'), bytes: DISK_BYTES }
    if (existsSync(result.gz)) return result
    opts.log?.info({ arch: img.arch }, 'lab: building the guest disk image')
    const work = mkdtempSync(join(cacheDir, '.build-disk-'))
    try {
      const cfg = join(work, 'embedded.cfg')
      writeFileSync(cfg, embeddedGrubConfig(img.arch))
      const mkimage = (format: string, modDir: string, out: string, modules: string[]): Promise<string> =>
        sh(tools.bin('grub-mkimage'), ['-d', modDir, '-O', format, '-o', out, '-p', '/boot/grub', '-c', cfg, ...modules])
      const common = ['part_msdos', 'fat', 'linux', 'search', 'search_fs_file', 'echo']
      const disk = join(work, 'disk.img')
      const fd = openSync(disk, 'w')
      try {
        ftruncateSync(fd, DISK_BYTES)
        if (img.arch === 'x86_64') {
          const core = join(work, 'core.img')
          await mkimage('i386-pc', join(tools.grubLib, 'i386-pc'), core, ['biosdisk', ...common])
          const coreImg = readFileSync(core)
          if (coreImg.length > (ESP_LBA - 1) * 512) throw new Error(`GRUB core.img (${coreImg.length} bytes) does not fit before the first partition`)
          writeSync(fd, masterBootRecord(readFileSync(join(tools.grubLib, 'i386-pc', 'boot.img'))), 0, 512, 0)
          // boot.img loads sector 1; core.img's own first sector (diskboot.img) reads the rest from sector 2 on
          writeSync(fd, coreImg, 0, coreImg.length, 512)
          await mkimage('x86_64-efi', join(tools.grubLib, 'x86_64-efi'), join(work, 'BOOTX64.EFI'), common)
        } else {
          writeSync(fd, masterBootRecord(null), 0, 512, 0)
          await mkimage('arm64-efi', grub!.modulesDir, join(work, 'BOOTAA64.EFI'), common)
        }
      } finally {
        closeSync(fd)
      }
      const fat = `${disk}@@${ESP_LBA * 512}`
      // MTOOLS_SKIP_CHECK: the FAT's geometry is not a floppy's
      const m = async (bin: string, args: string[]): Promise<void> => { await sh('env', ['MTOOLS_SKIP_CHECK=1', tools.bin(bin), ...args]) }
      await m('mformat', ['-i', fat, '-T', String(ESP_SECTORS), '-h', '64', '-s', '32', '-H', String(ESP_LBA), '-v', 'BOOTLAB', '::'])
      await m('mmd', ['-i', fat, '::/bootlab', '::/EFI', '::/EFI/BOOT'])
      await m('mcopy', ['-i', fat, img.kernel, '::/bootlab/vmlinuz'])
      await m('mcopy', ['-i', fat, img.initrd, '::/bootlab/initrd.gz'])
      const loader = img.arch === 'x86_64' ? 'BOOTX64.EFI' : 'BOOTAA64.EFI'
      await m('mcopy', ['-i', fat, join(work, loader), `::/EFI/BOOT/${loader}`])
      const out = join(work, 'out')
      mkdirSync(out)
      writeFileSync(join(out, 'disk.img.gz'), gzipSync(readFileSync(disk), { level: 6 }))
      mkdirSync(join(cacheDir, 'disk', img.arch), { recursive: true })
      rmSync(dir, { recursive: true, force: true })
      renameSync(out, dir)
      return result
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
}

/** an empty disk for a guest (sparse): the installer fills it */
export function blankDisk(path: string): string {
  const fd = openSync(path, 'w')
  try { ftruncateSync(fd, DISK_BYTES) } finally { closeSync(fd) }
  return path
}
