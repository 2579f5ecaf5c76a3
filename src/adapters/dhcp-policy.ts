// DhcpPolicy from the running config: which clients bootlab answers and with what.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config/types.js'
import { DEFAULT_FILES, defaultBootDecision, type BootDecision, type ClassifiedClient, type DhcpPolicy } from '../dhcp/index.js'
import { machineIndex } from './machine-index.js'

export interface DhcpPolicyOptions {
  getConfig: () => Config
  /** address clients fetch from (TFTP and HTTP) */
  serverAddress: string
  /** the port the HTTP server listens on (fixed at start, like the address) */
  httpPort: number
}

/**
 * Known machines are always answered (a Pi needs its firmware over TFTP even to boot its own
 * disk; the boot script then says "local"). Unknown machines are answered only with
 * `unknown: discover`. The arm64 loader is iPXE when `firmware/ipxe/snp-arm64.efi` is there,
 * else GRUB's network image when that is there (Debian ships no arm64 iPXE).
 */
export function createDhcpPolicy(o: DhcpPolicyOptions): DhcpPolicy {
  let loaderChecked = 0
  let arm64Loader: 'ipxe' | 'grub' = 'ipxe'
  const arm64 = (cfg: Config): 'ipxe' | 'grub' => {
    const now = Date.now()
    if (now - loaderChecked > 5_000) {
      loaderChecked = now
      const fw = cfg.server.paths.firmware
      arm64Loader = !existsSync(join(fw, DEFAULT_FILES.arm64Ipxe)) && existsSync(join(fw, DEFAULT_FILES.arm64Grub)) ? 'grub' : 'ipxe'
    }
    return arm64Loader
  }
  return {
    bootFor(client: ClassifiedClient): BootDecision | null {
      const cfg = o.getConfig()
      const known = machineIndex(cfg).byMac.get(client.mac)
      if (!known && cfg.server.unknown === 'ignore') return null
      return defaultBootDecision(client, { serverAddress: o.serverAddress, httpPort: o.httpPort, arm64Loader: arm64(cfg) })
    },
    reservationFor(mac: string): string | null {
      return machineIndex(o.getConfig()).byMac.get(mac)?.ip ?? null
    },
    isReserved(ip: string): boolean {
      return machineIndex(o.getConfig()).byIp.has(ip)
    },
    isKnown(mac: string): boolean {
      return machineIndex(o.getConfig()).byMac.has(mac)
    },
  }
}
