// Boot script for whoever asks: the booter says which machine and profile (by MAC, or by IP for
// TFTP/GRUB; the unknown rule), a per-boot cloud-init token is issued, iPXE or GRUB text is rendered
// and the step is recorded through the observation queue. Used by the HTTP boot router and by the
// booter's TFTP hook (grub.cfg over TFTP).
import { own } from '../config/own.js'
import type { Platform } from '../boot/local.js'
import { RenderError, type BootContext, type Renderer } from '../boot/render.js'
import { profileKind, type Arch, type Config, type Profile } from '../boot/types.js'
import type { Logger } from '../log.js'
import { normaliseMac } from '../config/names.js'
import { stripV4Mapped } from '../net/ipv4.js'
import type { Lifecycle } from './lifecycle.js'
import type { Booter, BootTarget } from './booter.js'
import type { Recorder } from './observations.js'
import { archFromIpxe } from './inputs.js'
import { LogThrottle } from './log-throttle.js'
import { MintLimit, type MintLimitOptions } from './mint-limit.js'

export interface BootRequest {
  mac?: string
  ip?: string
  buildarch?: string
  platform?: string
  loader: 'ipxe' | 'grub'
}

export type BootResult =
  | { ok: true; text: string; machine: string; profile: string }
  | { ok: false; status: 404 | 429 | 500; reason: string }

export interface BootScriptsDeps {
  /** cloud-init token minting rate per machine and per source (mint-limit.ts defaults) */
  mintLimit?: MintLimitOptions
  booter: Booter
  /** issues cloud-init tokens */
  lifecycle: Lifecycle
  /** records the served script (queued) */
  record: Recorder
  renderer: Renderer
  getConfig: () => Config
  /** http://<advertise>:<port> */
  baseUrl: () => string
  log: Logger
}

const LOCAL: Profile = { boot: 'local', initrd: [] }

export class BootScripts {
  /** cloud-init tokens minted and refused (metrics) */
  readonly tokenStats = { minted: 0, refused_rate: 0, refused_in_use: 0, refused_address: 0 }
  private readonly mintLimit: MintLimit
  private readonly quiet = new LogThrottle()

  constructor(private readonly deps: BootScriptsDeps) {
    this.mintLimit = new MintLimit(deps.mintLimit)
  }

  async render(req: BootRequest): Promise<BootResult> {
    const platform: Platform | undefined = req.platform === 'efi' || req.platform === 'pcbios' ? req.platform : undefined
    const arch = archFromIpxe(req.buildarch, req.platform)
    const c = this.context({ mac: req.mac, ip: req.ip, arch })
    if (!c.ok) return c
    const { ctx, target } = c
    let text: string
    try {
      text = req.loader === 'ipxe' ? await this.deps.renderer.ipxe({ ...ctx, platform, buildarch: req.buildarch }) : await this.deps.renderer.grub({ ...ctx, platform, buildarch: req.buildarch })
    } catch (err) {
      if (!(err instanceof RenderError)) throw err
      this.deps.log.error({ machine: ctx.machine.name, profile: ctx.profileName, err: err.message }, 'boot script render failed')
      return { ok: false, status: 500, reason: err.message }
    }
    this.deps.record.scriptServed(target.mac, target.profileName, req.loader, { ip: req.ip, arch })
    return { ok: true, text, machine: ctx.machine.name, profile: ctx.profileName }
  }

  /**
   * A Raspberry Pi 5's cmdline.txt (its EEPROM boots the profile's kernel itself): the profile's
   * command line with a fresh cloud-init token, as in a boot script; recorded as the boot script step.
   */
  async piCmdline(q: { mac: string; ip: string }): Promise<string | null> {
    const c = this.context({ mac: q.mac, ip: q.ip, arch: 'rpi5' })
    if (!c.ok) return null
    let text: string
    try {
      text = await this.deps.renderer.cmdline(c.ctx)
    } catch (err) {
      if (!(err instanceof RenderError)) throw err
      this.deps.log.error({ machine: c.ctx.machine.name, profile: c.ctx.profileName, err: err.message }, 'cmdline.txt render failed')
      return null
    }
    this.deps.record.http({ mac: c.target.mac, ip: q.ip, path: 'cmdline.txt', kind: 'script' })
    return `${text}\n`
  }

  /** Which machine and profile, with a token when the profile deploys something. */
  private context(q: { mac?: string | undefined; ip?: string | undefined; arch?: Arch | undefined }):
    | { ok: true; ctx: BootContext; target: Exclude<BootTarget, { kind: 'ignored' }> }
    | { ok: false; status: 404 | 429 | 500; reason: string } {
    const target = this.deps.booter.bootTarget(q)
    if (target.kind === 'ignored') return { ok: false, status: 404, reason: 'unknown machine (unknown: ignore)' }
    // a configured machine without a profile boots its disk
    const profileName = target.profileName ?? 'local'
    const profile = target.profileName === undefined ? LOCAL : own(this.deps.getConfig().profiles, profileName)
    if (!profile) return { ok: false, status: 500, reason: `profile ${profileName} is not defined` }
    const mac = target.mac
    const issued = target.kind === 'known' && profileKind(profile) !== 'local' ? this.token(mac, q.ip) : undefined
    // over the mint rate, or every kept token in use by an install: no script rather than an
    // installer without its configuration (iPXE fails this boot; the next one tries again)
    if (issued === 'refused') return { ok: false, status: 429, reason: 'too many boot scripts for this machine or address; try again later' }
    const tok = issued
    const m = target.machine
    const ctx: BootContext = {
      profileName,
      profile,
      machine: { name: m.name, mac, serial: target.serial, arch: m.arch, ip: target.ip, local_boot: m.local_boot, vars: m.vars },
      baseUrl: this.deps.baseUrl(),
      token: tok?.token,
      instanceId: tok?.instanceId,
    }
    return { ok: true, ctx, target }
  }

  /**
   * A cloud-init token (a write) for `mac` asked from `ip`: undefined (the script goes out without
   * secrets) when asked from another address than the machine's or the store fails; 'refused' over
   * the mint rate or when every kept token is in use.
   */
  private token(mac: string, ip: string | undefined): { token: string; instanceId: string } | 'refused' | undefined {
    let r
    try {
      r = this.deps.lifecycle.issueToken(mac, ip, () => this.mintLimit.allow(mac, ip))
    } catch (err) {
      this.deps.log.error({ mac, err: (err as Error).message }, 'could not issue a cloud-init token (store error); the script goes out without one')
      return undefined
    }
    if (r.ok) {
      this.tokenStats.minted++
      return { token: r.token, instanceId: r.instanceId }
    }
    if (r.reason === 'no-deployment') return undefined
    const key = r.reason === 'address' ? 'refused_address' : r.reason === 'rate' ? 'refused_rate' : 'refused_in_use'
    this.tokenStats[key]++
    const suppressed = this.quiet.take(`${r.reason} ${ip ?? '?'}`)
    if (suppressed !== undefined) {
      this.deps.log.warn({ mac, ip, reason: r.reason, suppressed }, r.reason === 'address'
        ? 'boot script asked for a machine from another address than bootlab saw it use: served without a cloud-init token'
        : 'cloud-init token not minted (rate limit or all tokens in use): boot script refused (429)')
    }
    return r.reason === 'address' ? undefined : 'refused'
  }

  /**
   * For the TFTP resolver's `generated` hook: `grub/grub.cfg` (machine by client IP) and GRUB's own
   * `grub/grub.cfg-01-aa-bb-cc-dd-ee-ff` (machine by MAC); null for anything else or no machine.
   */
  async tftpGrubCfg(ctx: { client: { address: string }; path: string }): Promise<string | null> {
    const ip = stripV4Mapped(ctx.client.address)
    let mac: string | undefined
    if (ctx.path !== 'grub/grub.cfg') {
      const m = /^grub\/grub\.cfg-01-([0-9a-fA-F-]{17})$/.exec(ctx.path)
      mac = m ? normaliseMac(m[1]!) ?? undefined : undefined
      if (!mac) return null
    }
    const r = await this.render({ mac, ip, loader: 'grub' })
    return r.ok ? r.text : null
  }
}
