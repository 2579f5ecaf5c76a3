// The reinstall loop for the arm64 UEFI guest that netboots through GRUB's network image (a lab of
// its own: bootlab hands every arm64 UEFI client one loader). See fixtures/loop.ts.
import { loopTest } from './fixtures/loop.js'

loopTest(['uefi-arm64'])
