// The virtual lab: whole netboots under QEMU against a pluggable server under test.
// See docs/lab.md.
import { DnsmasqLabServer } from './dnsmasq-server.js'
import { BootlabLabServer } from './bootlab-server.js'
import type { LabServer } from './server.js'
import type { LabBootResult } from './boot.js'

export { runLabBoot, labMac, type LabBootOptions, type LabBootResult } from './boot.js'
export { guestImage, grubArm64, defaultCacheDir, type GuestImage, type GrubArm64, type GuestArch } from './artefacts.js'
export { createLab, isRoot, takeOverSignals, type Lab, type LabHost, type LabSpec, type HostOptions, type ExecResult } from './netns.js'
export { startFixture, tsxArgv, until, type Fixture, type FixtureOptions, type Msg } from './fixture.js'
export { addLoss, removeLoss, lossTable, type LossRule } from './loss.js'
export { createLabNetwork, type LabNetwork, type ServerAttachment } from './network.js'
export { startGuest, missingPrerequisites, kvmUsable, GUEST_ARCH, GUEST_CONSOLE, FIRMWARE, type Guest, type Milestone, type MilestoneName } from './qemu.js'
export type { GuestKind, LabGuest, LabServer, LabServerContext, LabLoaders, PhoneHome } from './server.js'
export { DnsmasqLabServer } from './dnsmasq-server.js'
export { BootlabLabServer, writeBootlabLabConfig } from './bootlab-server.js'
export { ReinstallLoop, describeChain, LOOP_STEPS, type LoopOptions, type LoopGuestReport, type LoopStep, type StepResult } from './reinstall-loop.js'
export { LabPoeSwitch, type PoweredGuest, type PoeChange } from './poe-switch.js'
export { IosSimulator, type SimOptions, type PoweredDevices } from './ios-sim.js'
export { diskImage, blankDisk, type DiskImage } from './disk.js'
export { trixieIpxe, type TrixieIpxe } from './ipxe-trixie.js'
export { forwardToHost, type HostForward } from './host-forward.js'

/** the kinds runLabBoot() (one-shot boots) knows; the reinstall loop also has uefi-arm64-ipxe */
export const GUEST_KINDS = ['bios', 'uefi-x64', 'uefi-arm64'] as const

/** Server implementations by name; env BOOTLAB_LAB_SERVER picks one for the e2e tests. */
export const LAB_SERVERS: Record<string, () => LabServer> = {
  dnsmasq: () => new DnsmasqLabServer(),
  bootlab: () => new BootlabLabServer(),
}

export function createLabServer(name = process.env.BOOTLAB_LAB_SERVER ?? 'bootlab'): LabServer {
  const make = LAB_SERVERS[name]
  if (!make) throw new Error(`unknown lab server ${name} (known: ${Object.keys(LAB_SERVERS).join(', ')})`)
  return make()
}

/** A short human-readable account of a boot: one line per milestone, seconds from QEMU start. */
export function describeBoot(r: LabBootResult): string {
  const lines = [`${r.kind} via ${r.server} (${r.accel}), artefacts ${(r.artefactsMs / 1000).toFixed(1)} s`]
  for (const m of r.milestones) lines.push(`  ${(m.atMs / 1000).toFixed(1).padStart(6)} s  ${m.name.padEnd(17)} ${m.line.slice(0, 90)}`)
  lines.push(`  phone-home at the server: ${r.phoneHomeMs === null ? 'none' : `${(r.phoneHomeMs / 1000).toFixed(1)} s`}`)
  return lines.join('\n')
}
