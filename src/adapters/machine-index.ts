// Lookups of configured machines by MAC, serial and reserved IP, built once per config version.
import type { Config, Machine } from '../config/types.js'

export interface MachineIndex {
  byMac: Map<string, Machine>
  bySerial: Map<string, Machine>
  byIp: Map<string, Machine>
}

const cache = new WeakMap<Config, MachineIndex>()

export function machineIndex(cfg: Config): MachineIndex {
  let idx = cache.get(cfg)
  if (!idx) {
    idx = { byMac: new Map(), bySerial: new Map(), byIp: new Map() }
    for (const m of Object.values(cfg.machines)) {
      idx.byMac.set(m.mac, m)
      if (m.serial) idx.bySerial.set(m.serial, m)
      if (m.ip) idx.byIp.set(m.ip, m)
    }
    cache.set(cfg, idx)
  }
  return idx
}
