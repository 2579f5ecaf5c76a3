// Boot script for whoever asks: resolves the machine (by MAC, or by IP for TFTP/GRUB), applies the
// unknown-machine policy, issues a per-boot cloud-init token, renders iPXE or GRUB text and records
// the step. Used by the HTTP boot router and by the TFTP resolver (grub.cfg over TFTP).
import type { Platform } from '../boot/local.js'
import { RenderError, type Renderer } from '../boot/render.js'
import { profileKind, type Config, type Profile } from '../boot/types.js'
import type { Logger } from '../log.js'
import { normaliseMac } from '../config/names.js'
import { stripV4Mapped } from '../net/ipv4.js'
import { archFromIpxe, type Lifecycle } from './lifecycle.js'

export interface BootRequest {
  mac?: string
  ip?: string
  buildarch?: string
  platform?: string
  loader: 'ipxe' | 'grub'
}

export type BootResult =
  | { ok: true; text: string; machine: string; profile: string }
  | { ok: false; status: 404 | 500; reason: string }

export interface BootScriptsDeps {
  lifecycle: Lifecycle
  renderer: Renderer
  getConfig: () => Config
  /** http://<advertise>:<port> */
  baseUrl: () => string
  log: Logger
}

const LOCAL: Profile = { boot: 'local', initrd: [] }

export class BootScripts {
  constructor(private readonly deps: BootScriptsDeps) {}

  async render(req: BootRequest): Promise<BootResult> {
    const { lifecycle, renderer, getConfig } = this.deps
    const platform: Platform | undefined = req.platform === 'efi' || req.platform === 'pcbios' ? req.platform : undefined
    const target = lifecycle.bootTarget({ mac: req.mac, ip: req.ip, arch: archFromIpxe(req.buildarch, req.platform) })
    if (target.kind === 'ignored') return { ok: false, status: 404, reason: 'unknown machine (unknown: ignore)' }
    const cfg = getConfig()
    // a configured machine without a profile boots its disk
    const profileName = target.profileName ?? 'local'
    const profile = target.profileName === undefined ? LOCAL : cfg.profiles[profileName]
    if (!profile) return { ok: false, status: 500, reason: `profile ${profileName} is not defined` }
    const mac = target.row.mac
    const tok = target.kind === 'known' && profileKind(profile) !== 'local' ? lifecycle.issueToken(mac) : undefined
    const m = target.machine
    const ctx = {
      profileName,
      profile,
      machine: { name: m.name, mac, serial: m.serial ?? target.row.serial ?? undefined, arch: m.arch, ip: target.row.ip ?? m.ip, local_boot: m.local_boot, vars: m.vars },
      baseUrl: this.deps.baseUrl(),
      token: tok?.token,
      instanceId: tok?.instanceId,
      platform,
      buildarch: req.buildarch,
    }
    let text: string
    try {
      text = req.loader === 'ipxe' ? await renderer.ipxe(ctx) : await renderer.grub(ctx)
    } catch (err) {
      if (!(err instanceof RenderError)) throw err
      this.deps.log.error({ machine: m.name, profile: profileName, err: err.message }, 'boot script render failed')
      return { ok: false, status: 500, reason: err.message }
    }
    lifecycle.scriptServed(mac, target.profileName, req.loader)
    return { ok: true, text, machine: m.name, profile: profileName }
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
