// How a machine hands over to its local disk. The method is chosen per arch/platform and can be
// overridden per machine with `local_boot:`.
//
// - `exit`: iPXE `exit 1`. On UEFI a non-zero status makes the boot manager (EDK2 BdsDxe) try the
//   next Boot#### entry; a plain `exit` (status 0 = EFI_SUCCESS) stops the boot order and opens the
//   boot manager menu — which is what the pftf Raspberry Pi 4 firmware does. On BIOS the status is
//   ignored and the BIOS tries its next boot device.
// - `sanboot`: iPXE `sanboot --no-describe --drive 0x80` boots the first BIOS hard disk (BIOS only;
//   on UEFI it fails and falls back to `exit 1`).
// - `grub-chain`: iPXE chainloads bootlab's GRUB network image, whose grub.cfg (rendered for the
//   same machine) searches the local disks for the removable-media EFI loader and chainloads it.
import type { Arch, LocalBootMethod } from './types.js'

export type Platform = 'pcbios' | 'efi'

export function defaultLocalBoot(arch: Arch, platform?: Platform): LocalBootMethod {
  if (platform === 'pcbios') return 'sanboot'
  if (platform === 'efi') return 'exit'
  return arch === 'bios' ? 'sanboot' : 'exit'
}

/** The removable-media EFI loader name on an ESP, per arch. */
export function efiFallbackLoader(arch: Arch): string {
  return arch === 'x86_64' ? '/EFI/BOOT/BOOTX64.EFI' : '/EFI/BOOT/BOOTAA64.EFI'
}

/** GRUB network image served under /files/firmware/grub/ for `grub-chain`. */
export function grubNetImage(arch: Arch): string {
  return arch === 'x86_64' ? 'grub/grubnetx64.efi' : 'grub/grubnetaa64.efi'
}

export function ipxeLocalLines(method: LocalBootMethod, arch: Arch, filesUrl: string): string[] {
  switch (method) {
    case 'exit':
      return ['exit 1']
    case 'sanboot':
      return ['sanboot --no-describe --drive 0x80 || exit 1']
    case 'grub-chain':
      return [`chain --autofree ${filesUrl}/firmware/${grubNetImage(arch)} || exit 1`]
  }
}

export function grubLocalLines(method: LocalBootMethod, arch: Arch): string[] {
  if (method === 'exit') return ['exit 1']
  const loader = efiFallbackLoader(arch)
  return [
    `if search --no-floppy --set=root --file ${loader}; then`,
    `  chainloader ${loader}`,
    '  boot',
    'fi',
    'exit 1',
  ]
}
