// The machine lifecycle (DESIGN §5): config ⊕ observations → state, kept in the store, with every
// transition recorded as an event and published on an in-process bus (status page, SSE, metrics).
//
// unknown → discovered → ready → assigned → cycling → netbooting → installing → deployed, failed from
// any step. A deployment is one application of a profile to a machine; it starts when the profile
// changes (hot reload or API) and ends with phone-home (done) or a failure report.
import type { Logger } from '../log.js'
import { profileKind, type Arch, type Config } from '../boot/types.js'
import type { DeploymentRow, EventRow, MachineRow, MachineState, Store } from '../store/store.js'
import type { ConfigChangeEvent, DhcpObservation, HttpObservation, PowerEventType, PowerObservation, TftpObservation } from './inputs.js'
import { Booter } from './booter.js'
import { MachineBus } from './bus.js'
import { machineView, type MachineView } from './views.js'
import { instanceId, issueToken, tokenDeployment } from './tokens.js'

export type { MachineView } from './views.js'
export type { BusEvents } from './bus.js'

export interface LifecycleDeps {
  store: Store
  getConfig: () => Config
  log: Logger
  /** the boot decisions (unknown rule, machine lookup, next profile); one over the same config and store by default */
  booter?: Booter
  /** most unconfigured machines recorded (default DISCOVERED_MAX) */
  discoveredMax?: number
}

/** Unconfigured machines kept: beyond this a new MAC is not recorded, so a MAC flood cannot grow the table. */
export const DISCOVERED_MAX = 1024

/** events kept in the store (older ones are pruned at start) */
const EVENTS_KEPT = 200_000

const NETBOOT_FROM: ReadonlySet<MachineState> = new Set(['assigned', 'cycling', 'netbooting', 'failed'])

export class Lifecycle {
  readonly bus = new MachineBus()
  readonly booter: Booter
  /** new unknown MACs not recorded because DISCOVERED_MAX unconfigured machines are already known */
  discoveredRefused = 0
  private readonly discoveredMax: number
  private readonly store: Store
  private readonly readConfig: () => Config
  private readonly log: Logger
  /** the config object last reconciled; a new object (hot reload) triggers a reconcile */
  private seen: Config | undefined

  constructor(deps: LifecycleDeps) {
    this.store = deps.store
    this.readConfig = deps.getConfig
    this.log = deps.log
    this.discoveredMax = deps.discoveredMax ?? DISCOVERED_MAX
    this.booter = deps.booter ?? new Booter({ getConfig: () => this.getConfig(), store: () => this.store })
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
    this.tx(() => {
      this.store.ensureMachine(mc.mac, { name, state: 'ready' })
      const row = this.store.machine(mc.mac)!
      const open = this.openOps.get(`${name} ${ev.action}`)
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
    const prefix = /^\/?([0-9a-f]{8})\//.exec(o.file)?.[1]
    this.getConfig() // reconcile first if the config object changed
    const row = this.store.machineByIp(o.clientIp) ?? (prefix ? this.booter.row({ serial: prefix }) : undefined)
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
    const profileName = mc ? this.booter.bootProfile(mc) : undefined
    const p = profileName ? cfg.profiles[profileName] : undefined
    const rel = o.path.replace(/^\/+/, '')
    let kind: HttpObservation['kind'] = 'file'
    if (p?.kernel && `images/${p.kernel}` === rel) kind = 'kernel'
    else if (p?.initrd.some((i) => `images/${i}` === rel)) kind = 'initrd'
    this.onHttp({ mac: row.mac, ip: o.ip, path: o.path, kind })
  }

  // ---- boot -----------------------------------------------------------------------------------

  /** A fresh per-boot token for the machine's current deployment (undefined without one). */
  issueToken(mac: string): { token: string; instanceId: string } | undefined {
    return issueToken(this.store, mac)
  }

  /** The deployment a cloud-init token belongs to, if it is still the machine's current one. */
  tokenDeployment(token: string): DeploymentRow | undefined {
    return tokenDeployment(this.store, token)
  }

  /**
   * Called once a boot script was served (to `seen`: the address and arch it asked from): records a
   * discovered machine, and a deployment of a `boot: local` profile is complete then.
   */
  scriptServed(mac: string, profileName: string | undefined, loader: 'ipxe' | 'grub', seen: { ip?: string | undefined; arch?: Arch | undefined } = {}): void {
    this.tx(() => {
      if (!this.rowForMac(mac, seen.arch)) return
      if (seen.ip || seen.arch) this.store.observe(mac, { ip: seen.ip, arch: this.booter.configured({ mac }) ? undefined : seen.arch, seen: true })
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
    // source/install: the lab's installer and its installed system say where a phone-home comes from
    // (source=disk: a local boot, recorded without moving the state)
    const fields = ['instance_id', 'hostname', 'fqdn', 'source', 'install']
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
    return machineView(r, this.getConfig(), this.store, this.booter)
  }

  // ---- internals ------------------------------------------------------------------------------

  /** The row for a MAC seen on the wire: configured machines always, unknown ones under `discover`. */
  private rowForMac(mac: string, arch?: Arch): MachineRow | undefined {
    this.getConfig() // reconcile first if the config object changed
    const mc = this.booter.configured({ mac })
    if (mc) return this.tx(() => this.store.ensureMachine(mac, { name: mc.name, state: mc.profile ? 'assigned' : 'ready' }))
    if (!this.booter.answersUnknown()) return undefined
    const existing = this.store.machine(mac)
    if (existing) return existing
    if (this.store.countUnnamed() >= this.discoveredMax) {
      if (this.discoveredRefused++ === 0) this.log.warn({ max: this.discoveredMax }, 'too many unconfigured machines: new ones are not recorded (name them in the config, or remove old ones)')
      return undefined
    }
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
