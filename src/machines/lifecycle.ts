// The machine lifecycle (DESIGN §5): config ⊕ observations → state, kept in the store, with every
// transition recorded as an event and published on an in-process bus (status page, SSE, metrics).
//
// unknown → discovered → ready → assigned → cycling → netbooting → installing → deployed, failed from
// any step. A deployment is one application of a profile to a machine; it starts when the profile
// changes (hot reload or API) and ends with phone-home (done) or a failure report.
import { own } from '../config/own.js'
import type { Logger } from '../log.js'
import { profileKind, type Arch, type Config } from '../boot/types.js'
import type { DeploymentRow, EventRow, MachineRow, MachineState, Store } from '../store/store.js'
import type { ConfigChangeEvent, DhcpObservation, HttpObservation, PowerEventType, PowerObservation, TftpObservation } from './inputs.js'
import { Booter } from './booter.js'
import { MachineBus } from './bus.js'
import { machineView, type MachineView } from './views.js'
import { LogThrottle } from './log-throttle.js'
import { parseDuration } from '../config/names.js'
import { instanceId, issueToken, tokenDeployment, useToken, type IssueResult, type TokenUse } from './tokens.js'

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

/** events kept in the store (older ones are pruned at start and by maintain()) */
export const EVENTS_KEPT = 200_000
/** events kept per machine by maintain() */
export const EVENTS_PER_MACHINE = 500
/** unconfigured machines forgotten per housekeeping slice */
export const MAINTAIN_SLICE = 50
/** unconfigured machines not seen for this long are forgotten (`server.discovered_expire`) */
export const DISCOVERED_EXPIRE_S = 7 * 86400

function discoveredExpireMs(cfg: Config): number {
  const v = (cfg.server as { discovered_expire?: string | number }).discovered_expire
  const s = v === undefined ? null : parseDuration(v)
  return (s ?? DISCOVERED_EXPIRE_S) * 1000
}

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
  /** log lines about unconfigured machines (anyone can make up MACs): at most one a minute per kind */
  private readonly quiet = new LogThrottle()

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

  /**
   * Housekeeping, off the hot path (a timer in service.ts): forgets unconfigured machines not seen
   * for `server.discovered_expire`, keeps the newest EVENTS_PER_MACHINE events of each machine and
   * EVENTS_KEPT overall. Runs in slices of MAINTAIN_SLICE machines; `more` says whether to call again
   * (service.ts does, on a later tick, so packets are not held up behind a big clean-up).
   */
  maintainStep(): { machines: number; events: number; more: boolean } {
    const cutoff = this.store.now() - discoveredExpireMs(this.readConfig())
    const gone = this.store.expireUnnamed(cutoff, MAINTAIN_SLICE)
    if (gone.length === MAINTAIN_SLICE) return { machines: gone.length, events: 0, more: true }
    const events = this.store.tx(() => this.store.pruneEventsPerMachine(EVENTS_PER_MACHINE) + this.store.pruneEvents(EVENTS_KEPT))
    return { machines: gone.length, events, more: false }
  }

  /** All of maintainStep() at once (tests, start). */
  maintain(): { machines: number; events: number } {
    const total = { machines: 0, events: 0 }
    for (;;) {
      const r = this.maintainStep()
      total.machines += r.machines
      total.events += r.events
      if (!r.more) break
    }
    this.logMaintained(total)
    return total
  }

  logMaintained(r: { machines: number; events: number }): void {
    if (r.machines > 0 || r.events > 0) this.log.info(r, 'expired unconfigured machines and old events')
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
      this.observe(row.mac, { ip: o.ip, serial: o.serial, arch: row.name ? undefined : o.arch, seen: true })
      this.record(row.mac, 'dhcp', { kind: o.kind, class: o.class ?? null, ip: o.ip ?? null })
      this.netbootStep(row.mac, `dhcp ${o.class ?? o.kind}`)
    })
    this.publish(row.mac)
  }

  onTftp(o: TftpObservation): void {
    const prefix = /^\/?([0-9a-f]{8})\//.exec(o.file)?.[1]
    this.getConfig() // reconcile first if the config object changed
    // the prefix names the Pi (its configured serial, or the one its DHCP option 97 told); else its address
    const row = (prefix ? this.booter.row({ serial: prefix }) : undefined) ?? this.store.machineByIp(o.clientIp)
    if (!row) return
    const mac = row.mac
    this.tx(() => {
      // a serial is learnt from a TFTP prefix only when the machine has none and nobody else has it
      const learn = prefix && !row.serial && !this.booter.macOf({ serial: prefix }) ? prefix : undefined
      this.observe(mac, { ip: o.clientIp, serial: learn, seen: true })
      this.record(mac, 'tftp', { file: o.file, outcome: o.outcome, bytes: o.bytes ?? null })
      if (o.outcome === 'ok') this.netbootStep(mac, `tftp ${o.file}`)
    })
    this.publish(mac)
  }

  /** A generated Pi file went out over TFTP: one line on the machine's timeline (known machines only). */
  piServed(e: { mac: string; file: string; note: string }): void {
    if (!this.store.machine(e.mac)) return
    this.tx(() => this.record(e.mac, 'tftp.generated', { file: e.file, note: e.note }))
    this.publish(e.mac)
  }

  onHttp(o: HttpObservation): void {
    const mac = o.mac ?? (o.ip ? this.store.machineByIp(o.ip)?.mac : undefined)
    if (!mac || !this.store.machine(mac)) return
    this.tx(() => {
      if (o.ip) this.observe(mac, { ip: o.ip, seen: true })
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
    const p = profileName ? own(cfg.profiles, profileName) : undefined
    const rel = o.path.replace(/^\/+/, '')
    let kind: HttpObservation['kind'] = 'file'
    if (p?.kernel && `images/${p.kernel}` === rel) kind = 'kernel'
    else if (p?.initrd.some((i) => `images/${i}` === rel)) kind = 'initrd'
    this.onHttp({ mac: row.mac, ip: o.ip, path: o.path, kind })
  }

  // ---- boot -----------------------------------------------------------------------------------

  /** A fresh per-boot token for the machine's current deployment, asked for from `ip` (tokens.ts: binding, eviction). */
  issueToken(mac: string, ip?: string, allow?: () => boolean): IssueResult {
    return issueToken(this.store, mac, ip, allow, this.booter.configured({ mac })?.ip)
  }

  /** A cloud-init request with a token from `ip` (tokens.ts: refused from another address than the token's). */
  useToken(token: string, ip: string | undefined, markUsed: boolean): TokenUse {
    return useToken(this.store, token, ip, markUsed)
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
      // a script request names its MAC itself: its address is taken only when none was seen yet
      // (DHCP/TFTP), else anyone could move a machine's address, and its cloud-init token, to theirs
      const ip = seen.ip && !this.store.machine(mac)?.ip ? seen.ip : undefined
      if (ip || seen.arch) this.observe(mac, { ip, arch: this.booter.configured({ mac }) ? undefined : seen.arch, seen: true })
      this.onHttp({ mac, path: loader === 'ipxe' ? '/boot.ipxe' : '/grub.cfg', kind: loader === 'ipxe' ? 'script' : 'grub-cfg' })
      const p = profileName ? own(this.getConfig().profiles, profileName) : undefined
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
      if (ip) this.observe(dep.mac, { ip, seen: true })
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

  events(q: { machine?: string; limit?: number; afterId?: number; beforeId?: number }): EventRow[] {
    return this.store.events(q)
  }

  // ---- views ----------------------------------------------------------------------------------

  list(): MachineView[] {
    return this.store.machines().map((r) => this.view(r))
  }

  /** One page of list(): `cursor` is the `next` of the previous page (undefined: the first page). */
  page(limit: number, cursor?: string): { machines: MachineView[]; next: string | null } {
    let after: { name: string | null; mac: string } | undefined
    if (cursor) {
      try {
        const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
        if (Array.isArray(v) && v.length === 2 && (v[0] === null || typeof v[0] === 'string') && typeof v[1] === 'string') after = { name: v[0] as string | null, mac: v[1] }
      } catch { /* a malformed cursor starts from the beginning */ }
      if (!after) throw new RangeError('bad cursor')
    }
    const rows = this.store.machinesPage(limit + 1, after)
    const more = rows.length > limit
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    return {
      machines: page.map((r) => this.view(r)),
      next: more && last ? Buffer.from(JSON.stringify([last.name, last.mac])).toString('base64url') : null,
    }
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
    if (!this.booter.recordsUnknown()) return undefined
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
    const suppressed = this.quiet.take('discovered')
    if (suppressed !== undefined) this.log.info({ mac, suppressed }, 'discovered an unknown machine')
    return row
  }

  /**
   * Records what was observed about a machine, except where it contradicts the config: a configured
   * `serial:` or `ip:` is a fact, and a packet (anyone on the LAN can send one) never overwrites it,
   * nor takes a configured address away from its machine.
   */
  private observe(mac: string, o: { serial?: string | undefined; arch?: string | undefined; ip?: string | undefined; seen?: boolean }): void {
    const mc = this.booter.configured({ mac })
    const cfg = this.getConfig()
    const ipOwner = o.ip ? Object.values(cfg.machines).find((m) => m.ip === o.ip) : undefined
    const serialOwner = o.serial ? Object.values(cfg.machines).find((m) => m.serial === o.serial) : undefined
    const ip = o.ip && mc?.ip === undefined && (!ipOwner || ipOwner.mac === mac) ? o.ip : undefined
    const serial = o.serial && mc?.serial === undefined && (!serialOwner || serialOwner.mac === mac) ? o.serial : undefined
    this.store.observe(mac, {
      ...(ip ? { ip } : mc?.ip ? { ip: mc.ip } : {}),
      ...(serial ? { serial } : mc?.serial ? { serial: mc.serial } : {}),
      ...(o.arch ? { arch: o.arch } : {}),
      ...(o.seen ? { seen: true } : {}),
    })
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
    const unnamed = this.store.machine(mac)?.name == null
    for (const ev of evs) {
      // the machine history in the journal too; per-packet observations only at debug level; events
      // of unconfigured machines (a MAC flood) at most one a minute per type at info level
      const level = ev.type === 'dhcp' || ev.type === 'tftp' || ev.type === 'http' ? 'debug' : 'info'
      const suppressed = level === 'info' && unnamed ? this.quiet.take(`event ${ev.type}`) : 0
      if (suppressed !== undefined) this.log[level]({ machine: ev.machine, mac: ev.mac, event: ev.type, data: ev.data, ...(suppressed ? { suppressed } : {}) }, `machine ${ev.machine}: ${ev.type}`)
      this.bus.emit('event', ev)
    }
    const row = this.store.machine(mac)
    if (row) this.bus.emit('machine', this.view(row))
  }
}
