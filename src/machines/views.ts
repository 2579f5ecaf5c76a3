// What the API, CLI and status page show of a machine: its store row joined with its config entry.
import type { Config } from '../boot/types.js'
import type { MachineRow, MachineState, Store } from '../store/store.js'
import type { Booter } from './booter.js'
import { instanceId } from './tokens.js'

export interface MachineView {
  name: string | null
  mac: string
  serial: string | null
  arch: string | null
  ip: string | null
  configured: boolean
  state: MachineState
  state_reason: string | null
  state_since: string
  netboot_step: string | null
  /** profile in the YAML */
  profile: string | null
  /** profile the next boot gets (after `then:`) */
  boot_profile: string | null
  applied_profile: string | null
  deployed_at: string | null
  deployment: { id: number; profile: string; state: string; created_at: string; instance_id: string } | null
  power: boolean
  first_seen: string | null
  last_seen: string | null
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

export function machineView(r: MachineRow, cfg: Config, store: Store, booter: Booter): MachineView {
  const mc = r.name ? cfg.machines[r.name] : undefined
  const configured = mc !== undefined && mc.mac === r.mac
  const dep = r.deployment_id !== null ? store.deployment(r.deployment_id) : undefined
  return {
    name: configured ? r.name : null,
    mac: r.mac,
    serial: r.serial ?? (configured ? mc!.serial ?? null : null),
    arch: configured ? mc!.arch : r.arch,
    ip: r.ip,
    configured,
    state: r.state,
    state_reason: r.state_reason,
    state_since: iso(r.state_since)!,
    netboot_step: r.netboot_step,
    profile: configured ? mc!.profile ?? null : null,
    boot_profile: configured ? booter.bootProfile(mc!) ?? null : booter.unknownProfile(),
    applied_profile: r.applied_profile,
    deployed_at: iso(r.deployed_at),
    deployment: dep ? { id: dep.id, profile: dep.profile, state: dep.state, created_at: iso(dep.created_at)!, instance_id: instanceId(dep) } : null,
    power: configured && mc!.power !== undefined,
    first_seen: iso(r.first_seen),
    last_seen: iso(r.last_seen),
  }
}
