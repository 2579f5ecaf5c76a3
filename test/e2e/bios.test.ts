// Whole netboot under QEMU: bios guest → bootlab → kernel + busybox initramfs → phone-home.
import { wholeBootTest } from './fixtures/whole-boot.js'

wholeBootTest('bios')
