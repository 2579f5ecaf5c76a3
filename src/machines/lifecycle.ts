// The machine lifecycle (DESIGN §5): config ⊕ observations → state, kept in the store, with every
// transition recorded as an event and published on an in-process bus (status page, SSE, metrics).
//
// unknown → discovered → ready → assigned → cycling → netbooting → installing → deployed, failed from
// any step. A deployment is one application of a profile to a machine; it starts when the profile
// changes (hot reload or API) and ends with phone-home (done) or a failure report.
import { EventEmitter } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import type { Logger } from '../log.js'
import { machineByMac, machineBySerial, profileKind, type Arch, type Config, type MachineConfig } from '../boot/types.js'
import type { DeploymentRow, EventRow, MachineRow, MachineState, Store } from '../store/store.js'
import type { ConfigChangeEvent, DhcpObservation, HttpObservation, PowerEventType, PowerObservation, TftpObservation } from './inputs.js'

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

export interface BusEvents {
  event: [EventRow]
  machine: [MachineView]
}

export interface LifecycleDeps {
  store: Store
  getConfig: () => Config
  log: Logger
}

/** What a boot request resolves to. */
export type BootTarget =
  | { kind: 'known'; machine: MachineConfig; profileName: string | undefined; row: MachineRow }
  | { kind: 'discovered'; machine: MachineConfig; profileName: string; row: MachineRow }
  | { kind: 'ignored' }

/** events kept in the store (older ones are pruned at start) */
const EVENTS_KEPT = 200_000

const NETBOOT_FROM: ReadonlySet<MachineState> = new Set(['assigned', 'cycling', 'netbooting', 'failed'])

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export function instanceId(d: Pick<DeploymentRow, 'machine' | 'id'>): string {
  return `${d.machine}-${d.id}`
}

/** Arch from iPXE's ${buildarch} and ${platform}. */
export function archFromIpxe(buildarch?: string, platform?: string): Arch | undefined {
  if (buildarch === 'arm64') return 'arm64'
  if (buildarch === 'x86_64' || buildarch === 'i386') return platform === 'efi' ? 'x86_64' : 'bios'
  return undefined
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

export class Lifecycle {
  readonly bus = new EventEmitter<BusEvents>()
  private readonly store: Store
  private readonly readConfig: () => Config
  private readonly log: Logger
  /** the config object last reconciled; a new object (hot reload) triggers a reconcile */
  private seen: Config | undefined

  constructor(deps: LifecycleDeps) {
    this.store = deps.store
    this.readConfig = deps.getConfig
    this.log = deps.log
    this.bus.setMaxListeners(100)
  }

  /** Brings the store in line with the config (changes made while bootlab was down are assignments too). */
  start(): void {
    const n = this.store.abandonPowerOps()
    if (n > 0) this.log.warn({ count: n }, 'power operations interrupted by the last shutdown')
    this.store.pruneEvents(EVENTS_KEPT)
    this.seen = this.readConfig()
    this.reconcile()
  }

  /**
   * The running config. When the loader swapped in a new config object, the store is reconciled
   * with it first, so a missed change event cannot leave a machine on an old assignment.
   */
  private getConfig(): Config {
    const cfg = this.readConfig()
    if (this.seen !== undefined && cfg !== this.seen) {
      this.seen = cfg
      this.reconcile()
    }
    return cfg
  }

  // ---- inputs ---------------------------------------------------------------------------------

  onConfigChange(ev: ConfigChangeEvent): void {
    this.seen = this.readConfig()
    this.reconcile()
    this.log.debug({ change: ev.type }, 'config change reconciled')
  }

  /**
   * Power events (src/power's PowerEvents, forwarded by the composition root). A cycle that starts
   * while a deployment waits makes the machine `cycling`; a failed cycle makes it `failed`.
   * Every operation is kept in power_ops.
   */
  onPower(type: PowerEventType, ev: PowerObservation): void {
    if (!ev.machine) return
    const mc = this.getConfig().machines[ev.machine]
    if (!mc) return
    const name = ev.machine
    if (ev.action === 'status' || ev.action === 'recover') return
    const action = ev.action
    if (type === 'power.step') {
      // the cycle's steps for the timeline (off, verified off, on, verified on); no device output
      this.tx(() => this.record(mc.mac, 'power.step', { action, step: ev.step ?? null, ok: ev.ok ?? null, duration_ms: ev.duration_ms ?? null }))
      this.publish(mc.mac)
      return
    }
    this.tx(() => {
      this.store.ensureMachine(mc.mac, { name, state: 'ready' })
      const row = this.store.machine(mc.mac)!
      const open = this.openOps.get(`${name} ${action}`)
      switch (type) {
        case 'power.cycle.started': {
          const id = this.store.addPowerOp(name, ev.action)
          this.openOps.set(`${name} ${ev.action}`, id)
          this.record(mc.mac, 'power.started', { action: ev.action, reason: ev.reason ?? null })
          if (ev.action === 'cycle' && row.state === 'assigned') this.transition(mc.mac, 'cycling', null)
          break
        }
        case 'power.cycle.done':
          if (open !== undefined) this.store.finishPowerOp(open, 'ok')
          this.openOps.delete(`${name} ${ev.action}`)
          this.record(mc.mac, 'power.done', { action: ev.action })
          break
        case 'power.cycle.failed':
          if (open !== undefined) this.store.finishPowerOp(open, 'error', ev.reason)
          this.openOps.delete(`${name} ${ev.action}`)
          this.record(mc.mac, 'power.failed', { action: ev.action, reason: ev.reason ?? null })
          if (ev.action === 'cycle' && row.state === 'cycling') this.transition(mc.mac, 'failed', `power cycle failed: ${ev.reason ?? 'unknown error'}`)
          break
        case 'power.manual_required':
          this.record(mc.mac, 'power.manual', { action: ev.action, message: ev.message ?? null })
          break
      }
    })
    this.publish(mc.mac)
  }

  private readonly openOps = new Map<string, number>()

  onDhcp(o: DhcpObservation): void {
    const row = this.rowForMac(o.mac, o.arch)
    if (!row) return
    this.tx(() => {
      this.store.observe(row.mac, { ip: o.ip, serial: o.serial, arch: row.name ? undefined : o.arch, seen: true })
      this.record(row.mac, 'dhcp', { kind: o.kind, class: o.class ?? null, ip: o.ip ?? null })
      this.netbootStep(row.mac, `dhcp ${o.class ?? o.kind}`)
    })
    this.publish(row.mac)
  }

  onTftp(o: TftpObservation): void {
    let row = this.store.machineByIp(o.clientIp)
    const prefix = /^\/?([0-9a-f]{8})\//.exec(o.file)?.[1]
    if (!row && prefix) {
      const cfg = machineBySerial(this.getConfig(), prefix)
      row = cfg ? this.store.machine(cfg.mac) : this.store.machineBySerial(prefix)
    }
    if (!row) return
    const mac = row.mac
    this.tx(() => {
      this.store.observe(mac, { ip: o.clientIp, serial: prefix, seen: true })
      this.record(mac, 'tftp', { file: o.file, outcome: o.outcome, bytes: o.bytes ?? null })
      if (o.outcome === 'ok') this.netbootStep(mac, `tftp ${o.file}`)
    })
    this.publish(mac)
  }

  onHttp(o: HttpObservation): void {
    const mac = o.mac ?? (o.ip ? this.store.machineByIp(o.ip)?.mac : undefined)
    if (!mac || !this.store.machine(mac)) return
    this.tx(() => {
      if (o.ip) this.store.observe(mac, { ip: o.ip, seen: true })
      switch (o.kind) {
        case 'script':
        case 'grub-cfg':
        case 'kernel':
        case 'initrd':
          this.record(mac, `http.${o.kind}`, { path: o.path })
          this.netbootStep(mac, o.kind)
          break
        case 'file':
          this.record(mac, 'http.file', { path: o.path })
          break
        case 'cloud-init': {
          const row = this.store.machine(mac)!
          const dep = this.store.currentDeployment(mac)
          this.record(mac, 'http.cloud-init', { path: o.path })
          if (dep && dep.state === 'pending' && NETBOOT_FROM.has(row.state)) {
            this.transition(mac, 'installing', null)
          }
          break
        }
        case 'phone-home':
        case 'failed':
          // handled by phoneHome()/reportFailed(), which know the deployment
          break
      }
    })
    this.publish(mac)
  }

  /** A file under /files was served; tells kernel and initrd fetches apart by the machine's profile. */
  fileServed(o: { ip: string; path: string }): void {
    const row = this.store.machineByIp(o.ip)
    if (!row || !row.name) return
    const cfg = this.getConfig()
    const mc = cfg.machines[row.name]
    const profileName = mc ? this.bootProfile(mc) : undefined
    const p = profileName ? cfg.profiles[profileName] : undefined
    const rel = o.path.replace(/^\/+/, '')
    let kind: HttpObservation['kind'] = 'file'
    if (p?.kernel && `images/${p.kernel}` === rel) kind = 'kernel'
    else if (p?.initrd.some((i) => `images/${i}` === rel)) kind = 'initrd'
    this.onHttp({ mac: row.mac, ip: o.ip, path: o.path, kind })
  }

  // ---- boot -----------------------------------------------------------------------------------

  /** Who is asking for a boot script, and which profile it gets. Records discovered machines. */
  bootTarget(q: { mac?: string; ip?: string; arch?: Arch }): BootTarget {
    const cfg = this.getConfig()
    const mac = q.mac ?? (q.ip ? this.store.machineByIp(q.ip)?.mac : undefined)
    if (!mac) return { kind: 'ignored' }
    const mc = machineByMac(cfg, mac)
    if (mc) {
      const row = this.store.ensureMachine(mac, { name: mc.name, state: mc.profile ? 'assigned' : 'ready' })
      if (q.ip) this.store.observe(mac, { ip: q.ip, seen: true })
      return { kind: 'known', machine: mc, profileName: this.bootProfile(mc), row }
    }
    if (cfg.server.unknown !== 'discover') return { kind: 'ignored' }
    const row = this.rowForMac(mac, q.arch)
    if (!row) return { kind: 'ignored' }
    if (q.ip || q.arch) this.store.observe(mac, { ip: q.ip, arch: q.arch, seen: true })
    const cur = this.store.machine(mac)!
    const machine: MachineConfig = {
      name: `unknown-${mac.replace(/:/g, '')}`,
      mac,
      serial: cur.serial ?? undefined,
      arch: (cur.arch as Arch | null) ?? q.arch ?? 'x86_64',
      ip: cur.ip ?? undefined,
      cycle_on_assign: false,
      vars: {},
    }
    return { kind: 'discovered', machine, profileName: cfg.server.unknown_profile, row: cur }
  }

  /** The profile a configured machine boots next: its `profile:`, or the profile's `then:` once deployed. */
  bootProfile(mc: MachineConfig): string | undefined {
    if (!mc.profile) return undefined
    const p = this.getConfig().profiles[mc.profile]
    const dep = this.store.currentDeployment(mc.mac)
    if (p?.then && dep && dep.profile === mc.profile && dep.state === 'done') return p.then
    return mc.profile
  }

  /** A fresh per-boot token for the machine's current deployment (undefined without one). */
  issueToken(mac: string): { token: string; instanceId: string } | undefined {
    const dep = this.store.currentDeployment(mac)
    if (!dep) return undefined
    const token = randomBytes(16).toString('hex')
    this.store.addBootToken(hashToken(token), dep.id, mac)
    return { token, instanceId: instanceId(dep) }
  }

  /** The deployment a cloud-init token belongs to, if it is still the machine's current one. */
  tokenDeployment(token: string): DeploymentRow | undefined {
    if (!/^[0-9a-f]{32}$/.test(token)) return undefined
    return this.store.tokenDeployment(hashToken(token))
  }

  /** Called once a boot script was served: a deployment of a `boot: local` profile is complete then. */
  scriptServed(mac: string, profileName: string | undefined, loader: 'ipxe' | 'grub'): void {
    this.tx(() => {
      this.onHttp({ mac, path: loader === 'ipxe' ? '/boot.ipxe' : '/grub.cfg', kind: loader === 'ipxe' ? 'script' : 'grub-cfg' })
      const p = profileName ? this.getConfig().profiles[profileName] : undefined
      const dep = this.store.currentDeployment(mac)
      if (p && profileKind(p) === 'local') {
        if (dep && dep.state === 'pending' && dep.profile === profileName) {
          this.store.markDeployed(mac, dep.id, profileName)
          this.record(mac, 'deployed', { profile: profileName, deployment: dep.id })
        } else {
          this.record(mac, 'boot.local', { profile: profileName })
        }
      }
    })
    this.publish(mac)
  }

  phoneHome(dep: DeploymentRow, data: Record<string, string>, ip?: string): void {
    const fields = ['instance_id', 'hostname', 'fqdn']
    const info: Record<string, unknown> = {}
    for (const f of fields) if (typeof data[f] === 'string') info[f] = data[f]!.slice(0, 255)
    info.keys = Object.keys(data).filter((k) => k.startsWith('pub_key_')).map((k) => k.slice(8))
    if (info.instance_id !== undefined && info.instance_id !== instanceId(dep)) info.instance_id_mismatch = true
    this.tx(() => {
      if (ip) this.store.observe(dep.mac, { ip, seen: true })
      this.record(dep.mac, 'phone-home', info)
      if (dep.state !== 'done') {
        this.store.markDeployed(dep.mac, dep.id, dep.profile)
        this.record(dep.mac, 'deployed', { profile: dep.profile, deployment: dep.id })
      }
    })
    this.publish(dep.mac)
  }

  reportFailed(dep: DeploymentRow, reason: string): void {
    const r = reason.replace(/[\r\n\t]+/g, ' ').slice(0, 500) || 'installer reported failure'
    this.tx(() => {
      this.store.finishDeployment(dep.id, 'failed')
      this.transition(dep.mac, 'failed', r)
    })
    this.publish(dep.mac)
  }

  // ---- assignment and power ---------------------------------------------------------------------

  /**
   * Applies an assignment made through the API, after it was persisted in the YAML. If the reload
   * already started a deployment of `profile` (its id differs from `before`), that one is kept;
   * otherwise a new one starts — assigning the same profile again means "reinstall".
   */
  assign(name: string, profile: string, before: number | null): { deployment: DeploymentRow; created: boolean } {
    const mc = this.getConfig().machines[name]
    if (!mc) throw new Error(`unknown machine ${name}`)
    const result = this.tx(() => {
      this.store.ensureMachine(mc.mac, { name, state: 'ready' })
      const dep = this.store.currentDeployment(mc.mac)
      if (dep && dep.id !== before && dep.profile === profile) return { deployment: dep, created: false }
      const d = this.store.newDeployment(mc.mac, name, profile)
      this.record(mc.mac, 'assigned', { profile, deployment: d.id, from: dep?.profile ?? null })
      return { deployment: d, created: true }
    })
    this.publish(mc.mac)
    return result
  }

  currentDeploymentId(name: string): number | null {
    const mc = this.getConfig().machines[name]
    return mc ? this.store.currentDeployment(mc.mac)?.id ?? null : null
  }

  events(q: { machine?: string; limit?: number; afterId?: number }): EventRow[] {
    return this.store.events(q)
  }

  // ---- views ----------------------------------------------------------------------------------

  list(): MachineView[] {
    return this.store.machines().map((r) => this.view(r))
  }

  get(nameOrMac: string): MachineView | undefined {
    const mc = this.getConfig().machines[nameOrMac]
    const row = mc ? this.store.machine(mc.mac) : this.store.machine(nameOrMac) ?? this.store.machineByName(nameOrMac)
    return row ? this.view(row) : undefined
  }

  view(r: MachineRow): MachineView {
    const cfg = this.getConfig()
    const mc = r.name ? cfg.machines[r.name] : undefined
    const configured = mc !== undefined && mc.mac === r.mac
    const dep = r.deployment_id !== null ? this.store.deployment(r.deployment_id) : undefined
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
      boot_profile: configured ? this.bootProfile(mc!) ?? null : cfg.server.unknown === 'discover' ? cfg.server.unknown_profile : null,
      applied_profile: r.applied_profile,
      deployed_at: iso(r.deployed_at),
      deployment: dep ? { id: dep.id, profile: dep.profile, state: dep.state, created_at: iso(dep.created_at)!, instance_id: instanceId(dep) } : null,
      power: configured && mc!.power !== undefined,
      first_seen: iso(r.first_seen),
      last_seen: iso(r.last_seen),
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  /** The row for a MAC seen on the wire: configured machines always, unknown ones under `discover`. */
  private rowForMac(mac: string, arch?: Arch): MachineRow | undefined {
    const cfg = this.getConfig()
    const mc = machineByMac(cfg, mac)
    if (mc) return this.store.ensureMachine(mac, { name: mc.name, state: mc.profile ? 'assigned' : 'ready' })
    if (cfg.server.unknown !== 'discover') return undefined
    const existing = this.store.machine(mac)
    if (existing) return existing
    const row = this.tx(() => {
      const r = this.store.ensureMachine(mac, { name: null, state: 'discovered' })
      if (arch) this.store.observe(mac, { arch })
      this.record(mac, 'discovered', { arch: arch ?? null })
      return r
    })
    this.log.info({ mac }, 'discovered an unknown machine')
    return row
  }

  private reconcile(): void {
    const cfg = this.readConfig()
    const touched = new Set<string>()
    this.tx(() => {
      const byMac = new Map(Object.values(cfg.machines).map((m) => [m.mac, m]))
      // rows whose config entry went away (or moved to another MAC) become discovered machines again
      for (const r of this.store.machines()) {
        const mc = byMac.get(r.mac)
        if (r.name && (!mc || mc.name !== r.name)) {
          this.store.setName(r.mac, mc ? mc.name : null)
          if (!mc) {
            this.transition(r.mac, 'discovered', 'removed from the config')
            touched.add(r.mac)
          }
        }
      }
      for (const mc of byMac.values()) {
        const row = this.store.ensureMachine(mc.mac, { name: mc.name, state: 'ready' })
        if (row.name !== mc.name) this.store.setName(mc.mac, mc.name)
        const dep = this.store.currentDeployment(mc.mac)
        if (mc.profile) {
          if (!dep || dep.profile !== mc.profile) {
            const d = this.store.newDeployment(mc.mac, mc.name, mc.profile)
            this.record(mc.mac, 'assigned', { profile: mc.profile, deployment: d.id, from: dep?.profile ?? null })
            touched.add(mc.mac)
          }
        } else if (row.state !== 'ready') {
          this.transition(mc.mac, 'ready', null)
          touched.add(mc.mac)
        }
      }
    })
    for (const mac of touched) this.publish(mac)
  }

  private netbootStep(mac: string, step: string): void {
    const row = this.store.machine(mac)
    if (!row) return
    const dep = this.store.currentDeployment(mac)
    if (NETBOOT_FROM.has(row.state) && dep && dep.state === 'pending') {
      if (row.state !== 'netbooting') this.transition(mac, 'netbooting', null)
    }
    if (this.store.machine(mac)!.state === 'netbooting') this.store.setNetbootStep(mac, step)
  }

  private transition(mac: string, state: MachineState, reason: string | null): void {
    const row = this.store.machine(mac)
    if (!row || (row.state === state && row.state_reason === reason)) return
    this.store.setState(mac, state, reason)
    this.record(mac, 'state', { from: row.state, to: state, reason })
  }

  private pending: EventRow[] = []

  /** A store transaction whose events are only published if it commits. */
  private tx<T>(fn: () => T): T {
    const mark = this.pending.length
    try {
      return this.store.tx(fn)
    } catch (err) {
      this.pending.length = mark
      throw err
    }
  }

  private record(mac: string, type: string, data: Record<string, unknown>): void {
    const row = this.store.machine(mac)
    const ev = this.store.addEvent({ machine: row?.name ?? mac, mac, type, data })
    this.pending.push(ev)
  }

  private publish(mac: string): void {
    const evs = this.pending
    this.pending = []
    for (const ev of evs) {
      // the machine history in the journal too; per-packet observations only at debug level
      const level = ev.type === 'dhcp' || ev.type === 'tftp' || ev.type === 'http' ? 'debug' : 'info'
      this.log[level]({ machine: ev.machine, mac: ev.mac, event: ev.type, data: ev.data }, `machine ${ev.machine}: ${ev.type}`)
      this.bus.emit('event', ev)
    }
    const row = this.store.machine(mac)
    if (row) this.bus.emit('machine', this.view(row))
  }
}
