// One whole netboot in the lab: artefacts → network → server under test → QEMU guest → phone-home.
// Used by the e2e tests and meant for `bootlab demo`; everything it creates is removed at the end.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Logger } from '../log.js'
import { grubArm64, guestImage, type ArtefactOptions } from './artefacts.js'
import { createLabNetwork } from './network.js'
import { FIRMWARE, GUEST_ARCH, GUEST_CONSOLE, startGuest, type GuestExit, type Milestone } from './qemu.js'
import type { GuestKind, LabGuest, LabServer, PhoneHome } from './server.js'

export interface LabBootOptions {
  kind: GuestKind
  /** a fresh, not yet started server under test */
  server: LabServer
  /** whole boot budget from QEMU start to the phone-home (default 150 s) */
  timeoutMs?: number
  artefacts?: ArtefactOptions
  /** keep the work directory (console log, server root) instead of removing it */
  keepWorkDir?: boolean
  log?: Logger
  /** IPv6 router advertisements on the lab segment, as most LANs have (default true) */
  routerAdvertisements?: boolean
  /** called for each milestone as it happens */
  onMilestone?: (m: Milestone) => void
}

export interface LabBootResult {
  kind: GuestKind
  server: string
  /** ms spent building or finding the artefacts */
  artefactsMs: number
  milestones: Milestone[]
  /** what the server under test saw (null: nothing arrived) */
  phoneHome: PhoneHome | null
  /** ms from QEMU start to the server receiving the phone-home */
  phoneHomeMs: number | null
  exit: GuestExit | null
  accel: 'kvm' | 'tcg'
  /** last console lines, for failure messages */
  consoleTail: string
  /** server output lines, for failure messages */
  serverLog: string[]
  workDir: string
  /** random id in the names of this run's namespaces (blab-<id>, blab-<id>-srv) */
  labId: string
}

/** A locally administered MAC (52:54:00 is QEMU's prefix) with a random tail. */
export function labMac(): string {
  return '52:54:00:' + [...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')
}

export async function runLabBoot(o: LabBootOptions): Promise<LabBootResult> {
  const arch = GUEST_ARCH[o.kind]
  const t0 = Date.now()
  const artefactOpts: ArtefactOptions = { ...o.artefacts, ...(o.log ? { log: o.log } : {}) }
  const image = await guestImage(arch, artefactOpts)
  const grub = o.kind === 'uefi-arm64' ? await grubArm64(artefactOpts) : undefined
  const artefactsMs = Date.now() - t0

  const workDir = mkdtempSync(join(tmpdir(), `bootlab-lab-${o.kind}-`))
  const net = await createLabNetwork()
  const serverLog: string[] = []
  const onLog = (l: string): void => { serverLog.push(l); if (serverLog.length > 400) serverLog.shift() }
  o.server.on('log', onLog)
  let guest: ReturnType<typeof startGuest> | null = null
  try {
    const at = await net.attachServer()
    const tap = await net.addTap()
    if (o.routerAdvertisements !== false) await net.startRouterAdvertisements()
    const g: LabGuest = {
      name: `${o.kind}-${net.id}`, mac: labMac(), kind: o.kind, arch,
      kernel: image.kernel, initrd: image.initrd,
      cmdline: `console=${GUEST_CONSOLE[o.kind]} panic=5`,
    }
    let phoneHome: PhoneHome | null = null
    const gotPhoneHome = new Promise<PhoneHome>((resolve) => {
      o.server.on('phone-home', (p) => { if (p.guest === null || p.guest === g.name) { phoneHome = p; resolve(p) } })
    })
    await o.server.start({
      net, at, workDir,
      pool: { start: `${net.subnet}.100`, end: `${net.subnet}.199` },
      guests: [g],
      loaders: { ipxeEfiX64: FIRMWARE.ipxeEfiX64, ...(grub ? { grubArm64: grub } : {}) },
      ...(o.log ? { log: o.log } : {}),
    })
    const timeoutMs = o.timeoutMs ?? 150_000
    guest = startGuest({ kind: o.kind, net, tap, mac: g.mac, workDir, timeoutMs })
    if (o.onMilestone) guest.on('milestone', o.onMilestone)
    const startedAt = Date.now()
    // done when the server has the phone-home and the guest has powered off (or the budget is spent)
    const ended = guest.done.catch(() => null)
    await Promise.race([gotPhoneHome, ended])
    let grace: NodeJS.Timeout | undefined
    let exit = await Promise.race([ended, new Promise<null>((r) => { grace = setTimeout(() => r(null), 15_000) })])
    clearTimeout(grace)
    if (!exit) { await guest.stop(); exit = await ended }
    const ph = phoneHome as PhoneHome | null
    return {
      kind: o.kind, server: o.server.name, artefactsMs,
      milestones: [...guest.milestones], phoneHome: ph,
      phoneHomeMs: ph ? ph.at - startedAt : null,
      exit, accel: guest.accel, consoleTail: guest.consoleTail(), serverLog: [...serverLog], workDir, labId: net.id,
    }
  } finally {
    await guest?.stop()
    await o.server.stop()
    o.server.off('log', onLog)
    await net.cleanup()
    if (!o.keepWorkDir) rmSync(workDir, { recursive: true, force: true })
  }
}
