// The reinstall loop for the three default guest kinds in one lab (see fixtures/loop.ts).
import { loopTest } from './fixtures/loop.js'

loopTest(['bios', 'uefi-x64', 'uefi-arm64-ipxe'])
