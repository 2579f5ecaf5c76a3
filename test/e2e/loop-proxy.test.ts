// The reinstall loop with dnsmasq as the segment's DHCP server and bootlab in proxy mode, for the
// guests whose chain can use proxy offers (iPXE; GRUB ignores them). See fixtures/loop.ts.
import { loopTest } from './fixtures/loop.js'

loopTest(['bios', 'uefi-x64', 'uefi-arm64-ipxe'], { dhcp: 'proxy' })
