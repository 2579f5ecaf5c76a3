// Whole netboot under QEMU: uefi-x64 guest → bootlab → kernel + busybox initramfs → phone-home.
import { wholeBootTest } from './fixtures/whole-boot.js'

wholeBootTest('uefi-x64')
