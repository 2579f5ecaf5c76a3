// bootlab's whole reinstall loop in the virtual lab, for every guest kind at once:
//   1. bootlab switches the guest's PoE port on → netboot → the tiny installer writes the disk →
//      phone-home → `deployed`;
//   2. bootlab power-cycles the port → the guest netboots, bootlab answers `then: local` → the
//      firmware falls through to the disk → GRUB from the disk → `booted from disk, install <id>`
//      → a phone-home with source=disk (a local boot bootlab sees, not assumes);
//   3. the machine's `profile:` line in the YAML is edited like a user would → bootlab power-cycles
//      the port itself, once → reinstall → `deployed` again.
// The PoE switch is the IOS simulator (./poe-switch.ts) driven by bootlab's cisco-ios driver; each
// port powers one QEMU guest with its own disk. Everything lives in the lab's namespaces; bootlab's
// HTTP port (status page and API) is forwarded to the host's 127.0.0.1 only.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { guestImage, grubArm64, type GrubArm64, type GuestImage } from './artefacts.js'
import { trixieIpxe } from './ipxe-trixie.js'
import { BootlabLabServer, HTTP_PORT, type BootlabLabDirs, type ConfigCustomiser } from './bootlab-server.js'
import { blankDisk, diskImage, type DiskImage } from './disk.js'
import { forwardToHost, type HostForward } from './host-forward.js'
import { createLabNetwork, type LabNetwork, type ServerAttachment } from './network.js'
import { LabPoeSwitch, type PoweredGuest } from './poe-switch.js'
import { FIRMWARE, GUEST_ARCH, GUEST_CONSOLE, startGuest, type Guest, type Milestone } from './qemu.js'
import { labMac } from './boot.js'
import type { GuestKind, LabGuest } from './server.js'
import { setMachineProfile, writeFileAtomic } from '../machines/yaml-assign.js'
import type { EventRow } from '../store/store.js'

export const PROXY_GRUB = 'uefi-arm64 (GRUB) cannot netboot with --dhcp proxy: GRUB ignores proxyDHCP offers'

/** bootlab hands every arm64 UEFI client one loader: iPXE when firmware/ipxe/snp-arm64.efi exists, else GRUB */
export const LOADER_CONFLICT = 'uefi-arm64 (GRUB) and uefi-arm64-ipxe cannot share a run: bootlab hands all arm64 UEFI clients one loader (iPXE when firmware/ipxe/snp-arm64.efi exists)'

export type LoopStep = 'install' | 'local-boot' | 'reinstall'
export const LOOP_STEPS: readonly LoopStep[] = ['install', 'local-boot', 'reinstall']

export interface LoopOptions {
  kinds: GuestKind[]
  /** budget of each step of each guest (default 300 s) */
  stepTimeoutMs?: number
  /** host port for bootlab's status page on 127.0.0.1 (default 0: a free one) */
  httpPort?: number
  /** off_seconds of the lab switch (default 1) */
  offSeconds?: number
  /**
   * full (default): bootlab is the segment's DHCP server. proxy: dnsmasq hands out the addresses
   * (a plain DHCP server in its own namespace, like a home router) and bootlab answers in proxy
   * mode; GRUB ignores proxy offers, so uefi-arm64 (GRUB) cannot take part
   */
  dhcp?: 'full' | 'proxy'
  /** progress, as it happens */
  onMilestone?: (kind: GuestKind, m: Milestone, launchedAt: number) => void
  onEvent?: (kind: GuestKind, e: EventRow) => void
  onStep?: (kind: GuestKind, step: LoopStep, phase: 'start' | 'done' | 'failed', detail: string) => void
  /** resolves when the run is to stop (Ctrl-C) */
  stopped?: Promise<void>
}

export interface StepResult {
  step: LoopStep
  /** seconds, bootlab's clock: from the action to the event that completes the step */
  seconds: number | null
  ok: boolean
  detail: string
  /** Date.now() at the step's start and end */
  startedAt: number
  endedAt: number
}

export interface LoopGuestReport {
  guest: GuestKind
  installs: number
  power_cycles: number
  local_boots: number
  state: string
  /** the boot chain, from bootlab's events of the first install */
  chain: string
  steps: StepResult[]
  install_ids: string[]
  ok: boolean
}

interface LoopGuest {
  kind: GuestKind
  lab: LabGuest
  port: string
  tap: string
  disk: string
  guest: Guest | null
  /** the port delivers power (and the guest has not shut itself down) */
  on: boolean
  /** power changes run one after the other (a stop finishes before the next start) */
  queue: Promise<void>
  launches: number
  /** the console milestones of each QEMU launch, in order */
  milestones: Milestone[][]
  events: EventRow[]
  lastEvent: number
  state: string
  installs: number
  localBoots: number
  installIds: string[]
  chain: string
  steps: StepResult[]
}

/** the firmware's own part of each chain, before bootlab's events say more */
const FIRMWARE_NAME: Record<GuestKind, string> = { bios: 'SeaBIOS + iPXE ROM', 'uefi-x64': 'OVMF PXE', 'uefi-arm64': 'AAVMF PXE', 'uefi-arm64-ipxe': 'AAVMF PXE' }

/** one word per boot step bootlab recorded: what the chain column shows */
export function chainStep(e: Pick<EventRow, 'type' | 'data'>): string | null {
  const file = typeof e.data.file === 'string' ? e.data.file : typeof e.data.path === 'string' ? e.data.path : ''
  switch (e.type) {
    // GRUB's modules, and its grub.cfg (that is the http.grub-cfg event), are not steps of their own
    case 'tftp': return e.data.outcome === 'ok' && !/\.(mod|lst)$|grub\.cfg$/.test(file) ? `TFTP ${basename(file)}` : null
    case 'http.script': return 'HTTP boot.ipxe'
    case 'http.grub-cfg': return 'grub.cfg'
    case 'http.kernel': return 'kernel (HTTP)'
    default: return null
  }
}

export function describeChain(kind: GuestKind, events: Pick<EventRow, 'type' | 'data'>[]): string {
  const parts = [FIRMWARE_NAME[kind]]
  for (const e of events) {
    const s = chainStep(e)
    if (s && !parts.includes(s)) parts.push(s)
  }
  return parts.join(' → ')
}

export class ReinstallLoop {
  readonly workDir = mkdtempSync(join(tmpdir(), 'bootlab-loop-'))
  net: LabNetwork | null = null
  at: ServerAttachment | null = null
  server: BootlabLabServer | null = null
  poe: LabPoeSwitch | null = null
  http: HostForward | null = null
  readonly guests: LoopGuest[] = []
  readonly serverLog: string[] = []
  #token = ''
  #edits: Promise<void> = Promise.resolve()
  #polling = false
  #stop = false
  #cleaning: Promise<void> | null = null

  constructor(readonly o: LoopOptions) {
    void o.stopped?.then(() => { this.#stop = true })
  }

  /** images, disks, network, switch, bootlab, the status page forward */
  async setup(out: (s: string) => void = () => {}): Promise<void> {
    const images = new Map<string, GuestImage>()
    const disks = new Map<string, DiskImage>()
    for (const arch of new Set(this.o.kinds.map((k) => GUEST_ARCH[k]))) {
      const img = await guestImage(arch)
      images.set(arch, img)
      disks.set(arch, await diskImage(img))
    }
    if (this.o.kinds.includes('uefi-arm64') && this.o.kinds.includes('uefi-arm64-ipxe')) throw new Error(LOADER_CONFLICT)
    if (this.o.dhcp === 'proxy' && this.o.kinds.includes('uefi-arm64')) throw new Error(PROXY_GRUB)
    // GRUB's arm64 network image: the uefi-arm64 guest's loader
    const grub: GrubArm64 | undefined = this.o.kinds.includes('uefi-arm64') ? await grubArm64() : undefined
    // trixie's iPXE for the UEFI guests: the arm64 build Debian 12 lacks, and an x86-64 build that
    // returns to OVMF on `exit 1` (Debian 12's does not: its guests could never reach their disk)
    const ipxe = this.o.kinds.some((k) => k === 'uefi-x64' || k === 'uefi-arm64-ipxe') ? await trixieIpxe() : undefined
    const net = this.net = await createLabNetwork()
    const at = this.at = await net.attachServer()
    await net.startRouterAdvertisements()
    if (this.o.dhcp === 'proxy') await this.#startPlainDhcp(out)
    const ports = LabPoeSwitch.ports(this.o.kinds.length)
    for (const [i, kind] of this.o.kinds.entries()) {
      const img = images.get(GUEST_ARCH[kind])!
      this.guests.push({
        kind, port: ports[i]!, tap: await net.addTap(), disk: blankDisk(join(this.workDir, `${kind}-disk.img`)),
        guest: null, on: false, queue: Promise.resolve(), launches: 0, milestones: [], events: [], lastEvent: 0, state: '?',
        installs: 0, localBoots: 0, installIds: [], chain: '', steps: [],
        lab: { name: kind, mac: labMac(), kind, arch: GUEST_ARCH[kind], kernel: img.kernel, initrd: img.initrd, cmdline: `console=${GUEST_CONSOLE[kind]} panic=5` },
      })
    }
    out(`lab network: namespace ${net.ns} (bridge ${net.bridge}, the guests' taps), bootlab in ${at.ns} at ${at.address} on ${at.iface}`)
    const poe = this.poe = new LabPoeSwitch(new Map(this.guests.map((g) => [g.port, this.#powered(g)])))
    const sw = await poe.start(net, at.ns, this.workDir)
    out(`PoE switch: IOS simulator (ssh ${sw.host}:${sw.port} in ${at.ns}, legacy algorithms, host key ${sw.hostKey}), ports ${this.guests.map((g) => `${g.port}=${g.kind}`).join(' ')}`)
    const server = this.server = new BootlabLabServer((config, dirs) => this.#customise(config, dirs, disks, sw))
    server.on('log', (l) => { this.serverLog.push(l); if (this.serverLog.length > 300) this.serverLog.shift() })
    await server.start({
      net, at, workDir: this.workDir,
      pool: { start: `${net.subnet}.100`, end: `${net.subnet}.199` },
      guests: this.guests.map((g) => g.lab),
      loaders: {
        ipxeEfiX64: ipxe?.x64 ?? FIRMWARE.ipxeEfiX64,
        ...(grub ? { grubArm64: grub } : {}),
        ...(ipxe && this.o.kinds.includes('uefi-arm64-ipxe') ? { ipxeArm64: ipxe.arm64 } : {}),
      },
    })
    this.#token = readFileSync(join(server.dirs!.stateDir, 'api-token'), 'utf8').trim()
    this.http = await forwardToHost(net, at.ns, `tcp:${at.address}:${HTTP_PORT}`, this.workDir, this.o.httpPort ?? 0)
  }

  /** the segment's own DHCP server for proxy mode: dnsmasq, addresses and a router only, no boot options */
  async #startPlainDhcp(out: (s: string) => void): Promise<void> {
    const net = this.net!
    const h = await net.addHost('dhcp', { octet: 2, ifname: 'lan0' })
    const p = net.spawn(h.ns, ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--group=root',
      `--interface=${h.ifname}`, '--bind-interfaces', '--no-ping', '--log-dhcp', '--log-facility=-', '--pid-file=',
      `--dhcp-leasefile=${join(this.workDir, 'dnsmasq.leases')}`, `--dhcp-range=${net.subnet}.100,${net.subnet}.199,255.255.255.0,1h`,
      `--dhcp-option=option:router,${net.subnet}.1`])
    await new Promise<void>((resolve, reject) => {
      let text = ''
      const timer = setTimeout(() => reject(new Error(`dnsmasq (plain DHCP) did not start: ${text}`)), 10_000)
      const onData = (d: Buffer): void => {
        text += d.toString()
        if (/started, version|DHCP, IP range/.test(text)) { clearTimeout(timer); resolve() }
      }
      p.stdout!.on('data', onData)
      p.stderr!.on('data', onData)
      p.once('exit', (code) => { clearTimeout(timer); reject(new Error(`dnsmasq (plain DHCP) exited (${code}): ${text}`)) })
    })
    out(`plain DHCP server: dnsmasq in ${h.ns} at ${h.ip} (pool ${net.subnet}.100-199, no boot options); bootlab answers in proxy mode`)
  }

  get configFile(): string {
    return this.server!.dirs!.config
  }

  /** bootlab's YAML for the loop: the switch, each machine on its port, profiles that install the disk */
  #customise(config: Parameters<ConfigCustomiser>[0], dirs: BootlabLabDirs, disks: Map<string, DiskImage>, sw: { host: string; port: number; username: string; password: string; hostKey: string }): void {
    const pwFile = join(dirs.stateDir, '..', 'switch.password')
    writeFileSync(pwFile, sw.password + '\n')
    chmodSync(pwFile, 0o600)
    config.switches = {
      lab: {
        driver: 'cisco-ios', host: sw.host, port: sw.port, username: sw.username, password_file: pwFile,
        host_key: sw.hostKey, legacy_algorithms: true, off_seconds: this.o.offSeconds ?? 1, on_verify_seconds: 10, timeout_seconds: 20,
      },
    }
    if (this.o.dhcp === 'proxy') config.server.dhcp = { mode: 'proxy' }
    config.profiles.local = { description: 'boot the local disk', boot: 'local' }
    for (const g of this.guests) {
      mkdirSync(join(dirs.images, g.kind), { recursive: true })
      copyFileSync(disks.get(g.lab.arch)!.gz, join(dirs.images, g.kind, 'disk.img.gz'))
      const base = config.profiles[`lab-${g.kind}`] as Record<string, unknown>
      const install = {
        ...base,
        cmdline: `${String(base.cmdline)} bootlab.disk={{ http }}/files/images/${g.kind}/disk.img.gz bootlab.after=idle`,
        then: 'local',
      }
      config.profiles[`lab-${g.kind}`] = { ...install, description: `install the lab system on ${g.kind}'s disk` }
      config.profiles[`lab-${g.kind}-v2`] = { ...install, description: `install the lab system on ${g.kind}'s disk, again` }
      const m = config.machines[g.kind] as Record<string, unknown>
      m.power = { switch: 'lab', port: g.port }
    }
  }

  /** what a switch port does to its guest */
  #powered(g: LoopGuest): PoweredGuest {
    const launch = (): void => {
      if (!g.on || g.guest !== null || this.#stop) return
      const launchedAt = Date.now()
      const guest = startGuest({ kind: g.kind, net: this.net!, tap: g.tap, mac: g.lab.mac, workDir: this.workDir, timeoutMs: 60 * 60_000, disk: g.disk })
      g.guest = guest
      g.launches++
      const seen: Milestone[] = []
      g.milestones.push(seen)
      guest.on('milestone', (m) => { seen.push(m); this.o.onMilestone?.(g.kind, m, launchedAt) })
      // a guest that shut itself down draws no power any more
      const ended = (): void => { if (g.guest === guest) { g.guest = null; g.on = false } }
      void guest.done.then(ended, ended)
    }
    return {
      running: () => g.on,
      power: (on) => {
        g.on = on
        // a start waits for the previous stop to finish (the same tap, the same disk)
        if (on) g.queue = g.queue.then(launch)
        else {
          const guest = g.guest
          g.guest = null
          if (guest) g.queue = g.queue.then(() => guest.stop())
        }
      },
    }
  }

  async #api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T | null }> {
    const res = await fetch(`${this.http!.url}${path}`, {
      method, signal: AbortSignal.timeout(30_000),
      headers: { authorization: `Bearer ${this.#token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    try { return { status: res.status, body: JSON.parse(text) as T } } catch { return { status: res.status, body: null } }
  }

  /** bootlab's events for every guest, fetched every 500 ms while the loop runs */
  async #poll(): Promise<void> {
    this.#polling = true
    while (this.#polling) {
      for (const g of this.guests) {
        try {
          const r = await this.#api<{ events: EventRow[] }>('GET', `/api/events?machine=${g.kind}&limit=1000`)
          const fresh = (r.body?.events ?? []).filter((e) => e.id > g.lastEvent).sort((a, b) => a.id - b.id)
          for (const e of fresh) {
            g.lastEvent = Math.max(g.lastEvent, e.id)
            g.events.push(e)
            if (e.type === 'state' && typeof e.data.to === 'string') g.state = e.data.to
            if (e.type === 'deployed') g.state = 'deployed'
            this.o.onEvent?.(g.kind, e)
          }
        } catch { /* bootlab busy or stopping: next round */ }
      }
      await new Promise((r) => setTimeout(r, 500))
    }
  }

  async #waitEvent(g: LoopGuest, from: number, pred: (e: EventRow) => boolean, timeoutMs: number, what: string): Promise<EventRow> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const e = g.events.slice(from).find(pred)
      if (e) return e
      if (this.#stop) throw new Error('stopped')
      if (Date.now() > deadline) throw new Error(`no ${what} within ${Math.round(timeoutMs / 1000)} s (state ${g.state})`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  async #power(g: LoopGuest, action: 'on' | 'cycle'): Promise<void> {
    const r = await this.#api<{ ok?: boolean; reason?: string; error?: string }>('POST', `/api/machines/${g.kind}/power`, { action })
    if (r.status !== 200) throw new Error(`bootlab power ${action} ${g.kind}: HTTP ${r.status} ${r.body?.reason ?? r.body?.error ?? ''}`)
  }

  /** the user's edit: machines.<guest>.profile in the YAML, in place; bootlab's hot reload does the rest */
  async #editProfile(g: LoopGuest, profile: string): Promise<void> {
    const edit = this.#edits.then(async () => {
      const text = readFileSync(this.configFile, 'utf8')
      await writeFileAtomic(this.configFile, setMachineProfile(text, g.kind, profile))
    })
    this.#edits = edit.catch(() => undefined)
    await edit
  }

  async #step(g: LoopGuest, step: LoopStep, run: () => Promise<{ t0: number; done: EventRow; detail: string }>): Promise<boolean> {
    this.o.onStep?.(g.kind, step, 'start', '')
    const startedAt = Date.now()
    try {
      const r = await run()
      const seconds = (r.done.ts - r.t0) / 1000
      g.steps.push({ step, seconds, ok: true, detail: r.detail, startedAt, endedAt: Date.now() })
      this.o.onStep?.(g.kind, step, 'done', `${r.detail} in ${seconds.toFixed(1)} s`)
      return true
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err)
      g.steps.push({ step, seconds: null, ok: false, detail, startedAt, endedAt: Date.now() })
      this.o.onStep?.(g.kind, step, 'failed', detail)
      return false
    }
  }

  async #runGuest(g: LoopGuest): Promise<void> {
    const timeout = this.o.stepTimeoutMs ?? 300_000
    const deployed = async (from: number, t0: number): Promise<{ t0: number; done: EventRow; detail: string }> => {
      const done = await this.#waitEvent(g, from, (e) => e.type === 'deployed', timeout, 'deployed')
      const ph = g.events.slice(from).find((e) => e.type === 'phone-home' && e.data.source === 'install')
      const id = typeof ph?.data.install === 'string' ? ph.data.install : '?'
      g.installs++
      g.installIds.push(id)
      return { t0, done, detail: `deployed (profile ${String(done.data.profile)}), install ${id}` }
    }
    const ok1 = await this.#step(g, 'install', async () => {
      const from = g.events.length
      const t0 = Date.now()
      await this.#power(g, 'on')
      const r = await deployed(from, t0)
      g.chain = describeChain(g.kind, g.events.slice(from))
      return r
    })
    if (!ok1) return
    const ok2 = await this.#step(g, 'local-boot', async () => {
      const from = g.events.length
      const t0 = Date.now()
      await this.#power(g, 'cycle')
      const done = await this.#waitEvent(g, from, (e) => e.type === 'phone-home' && e.data.source === 'disk', timeout, 'a phone-home from the disk')
      g.localBoots++
      return { t0, done, detail: `booted from disk, install ${String(done.data.install ?? '?')}` }
    })
    if (!ok2) return
    await this.#step(g, 'reinstall', async () => {
      const from = g.events.length
      const t0 = Date.now()
      await this.#editProfile(g, `lab-${g.kind}-v2`)
      return await deployed(from, t0)
    })
  }

  /** runs the loop for every guest at once; resolves with one report per guest */
  async run(): Promise<LoopGuestReport[]> {
    const poll = this.#poll()
    try {
      await Promise.all(this.guests.map((g) => this.#runGuest(g)))
    } finally {
      this.#polling = false
      await poll
    }
    return this.report()
  }

  report(): LoopGuestReport[] {
    return this.guests.map((g) => ({
      guest: g.kind, installs: g.installs, power_cycles: this.poe?.cycles(g.port) ?? 0, local_boots: g.localBoots,
      state: g.state, chain: g.chain, steps: [...g.steps], install_ids: [...g.installIds],
      ok: g.steps.length === LOOP_STEPS.length && g.steps.every((s) => s.ok),
    }))
  }

  consoleTail(kind: GuestKind, lines = 15): string {
    const g = this.guests.find((x) => x.kind === kind)
    if (!g) return ''
    try {
      return readFileSync(join(this.workDir, `${kind}-console.log`), 'latin1').split(/\r?\n|\r/).filter((l) => l.trim()).slice(-lines).join('\n')
    } catch { return '' }
  }

  /** stops guests, bootlab, the switch and the forwarders, removes the namespaces and files; safe to call twice */
  cleanup(): Promise<void> {
    this.#cleaning ??= (async () => {
      this.#stop = true
      this.#polling = false
      for (const g of this.guests) { g.on = false; const q = g.guest; g.guest = null; await q?.stop(); await g.queue.catch(() => undefined) }
      await this.http?.stop().catch(() => undefined)
      await this.server?.stop().catch(() => undefined)
      await this.poe?.stop().catch(() => undefined)
      await this.net?.cleanup()
      // BOOTLAB_LAB_KEEP=1: keep consoles, config and bootlab's state for a post-mortem
      if (process.env.BOOTLAB_LAB_KEEP !== '1') rmSync(this.workDir, { recursive: true, force: true })
    })()
    return this.#cleaning
  }
}
