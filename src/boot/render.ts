// Profile → iPXE script / grub.cfg / cloud-init documents. Pure functions of their inputs (plus the
// template files a profile names), so the exact text is testable.
import { readFile } from 'node:fs/promises'
import type { Liquid } from 'liquidjs'
import { createLiquid } from './liquid.js'
import { defaultLocalBoot, grubLocalLines, ipxeLocalLines, type Platform } from './local.js'
import { profileKind, type Arch, type LocalBootMethod, type Profile } from './types.js'

export interface BootMachine {
  name: string
  mac: string
  serial?: string
  arch: Arch
  ip?: string
  local_boot?: LocalBootMethod
  vars: Record<string, string>
}

export interface BootContext {
  profileName: string
  profile: Profile
  machine: BootMachine
  /** http://<advertise>:<port>, no trailing slash */
  baseUrl: string
  /** per-boot token; absent for machines without a deployment (e.g. discovered ones) */
  token?: string
  /** `<machine>-<deployment id>` */
  instanceId?: string
  platform?: Platform
  buildarch?: string
}

export type CloudInitDoc = 'meta-data' | 'user-data' | 'vendor-data' | 'network-config'

const CLOUD_INIT_KEY: Record<CloudInitDoc, 'meta_data' | 'user_data' | 'vendor_data' | 'network_config'> = {
  'meta-data': 'meta_data',
  'user-data': 'user_data',
  'vendor-data': 'vendor_data',
  'network-config': 'network_config',
}

export class RenderError extends Error {
  override name = 'RenderError'
}

/** URL of a kernel/initrd: an http(s) URL as is, otherwise a path under images/. */
export function imageUrl(baseUrl: string, path: string): string {
  if (/^https?:\/\//i.test(path)) return path
  return `${baseUrl}/files/images/${path.split('/').filter((s) => s !== '').map(encodeURIComponent).join('/')}`
}

export function templateVars(ctx: BootContext): Record<string, unknown> {
  const m = ctx.machine
  const ciUrl = ctx.token ? `${ctx.baseUrl}/cloud-init/${ctx.token}/` : ''
  return {
    http: ctx.baseUrl,
    files: `${ctx.baseUrl}/files`,
    images: `${ctx.baseUrl}/files/images`,
    machine: { name: m.name, mac: m.mac, serial: m.serial ?? '', arch: m.arch, ip: m.ip ?? '', vars: m.vars },
    vars: m.vars,
    name: m.name,
    hostname: m.name,
    mac: m.mac,
    serial: m.serial ?? '',
    arch: m.arch,
    profile: ctx.profileName,
    platform: ctx.platform ?? '',
    buildarch: ctx.buildarch ?? '',
    cloud_init_url: ciUrl,
    phone_home_url: ciUrl ? `${ciUrl}phone-home` : '',
    failed_url: ciUrl ? `${ciUrl}failed` : '',
    instance_id: ctx.instanceId ?? '',
    kernel_url: ctx.profile.kernel ? imageUrl(ctx.baseUrl, ctx.profile.kernel) : '',
    initrd_urls: ctx.profile.initrd.map((p) => imageUrl(ctx.baseUrl, p)),
  }
}

/** GRUB word escaping: characters outside a safe set get a backslash (`;` would end the command). */
export function grubEscapeWord(w: string): string {
  return w.replace(/[^A-Za-z0-9_\-.,:/=+@%]/g, (c) => `\\${c}`)
}

/** http://host:port/path → (http,host:port)/path for GRUB's http module. */
export function grubUrl(url: string): string {
  const u = new URL(url)
  if (u.protocol !== 'http:') throw new RenderError(`GRUB can only fetch http:// URLs, not ${u.protocol}`)
  const host = u.port ? `${u.hostname}:${u.port}` : u.hostname
  return `(http,${host})${u.pathname}${u.search}`
}

export class Renderer {
  private readonly liquid: Liquid

  constructor(liquid: Liquid = createLiquid()) {
    this.liquid = liquid
  }

  async template(src: string, vars: Record<string, unknown>, what: string): Promise<string> {
    try {
      return String(await this.liquid.parseAndRender(src, vars))
    } catch (err) {
      throw new RenderError(`${what}: ${(err as Error).message}`)
    }
  }

  async cmdline(ctx: BootContext, vars = templateVars(ctx)): Promise<string> {
    if (!ctx.profile.cmdline) return ''
    const s = await this.template(ctx.profile.cmdline, vars, `profile ${ctx.profileName} cmdline`)
    return s.replace(/\s+/g, ' ').trim()
  }

  localMethod(ctx: BootContext): LocalBootMethod {
    return ctx.machine.local_boot ?? defaultLocalBoot(ctx.machine.arch, ctx.platform)
  }

  private header(ctx: BootContext): string {
    return `# bootlab: ${ctx.machine.name} (${ctx.machine.mac}) profile ${ctx.profileName}`
  }

  async ipxe(ctx: BootContext): Promise<string> {
    const vars = templateVars(ctx)
    const p = ctx.profile
    const lines = ['#!ipxe', this.header(ctx)]
    switch (profileKind(p)) {
      case 'kernel': {
        const cmdline = await this.cmdline(ctx, vars)
        const names = p.initrd.map((_, i) => `initrd${i}`)
        const args = [...names.map((n) => `initrd=${n}`), cmdline].filter((s) => s !== '').join(' ')
        lines.push(`kernel ${vars.kernel_url as string}${args ? ' ' + args : ''} || goto failed`)
        p.initrd.forEach((path, i) => lines.push(`initrd --name ${names[i]!} ${imageUrl(ctx.baseUrl, path)} || goto failed`))
        lines.push('boot || goto failed', ':failed', 'echo bootlab: boot failed, retrying in 30 seconds', 'sleep 30', 'reboot')
        break
      }
      case 'local':
        lines.push(...ipxeLocalLines(this.localMethod(ctx), ctx.machine.arch, vars.files as string))
        break
      case 'chain': {
        const url = (await this.template(p.chain!, vars, `profile ${ctx.profileName} chain`)).trim()
        lines.push(`chain --autofree ${url} || goto failed`, ':failed', 'echo bootlab: chain failed, retrying in 30 seconds', 'sleep 30', 'reboot')
        break
      }
      case 'ipxe': {
        const body = await this.template(p.ipxe!, vars, `profile ${ctx.profileName} ipxe`)
        const rest = body.replace(/^#!ipxe[^\n]*\n?/, '')
        return `#!ipxe\n${this.header(ctx)}\n${rest.endsWith('\n') ? rest : rest + '\n'}`
      }
    }
    return lines.join('\n') + '\n'
  }

  async grub(ctx: BootContext): Promise<string> {
    const vars = templateVars(ctx)
    const p = ctx.profile
    const head = [this.header(ctx)]
    if (p.grub !== undefined) {
      const body = await this.template(p.grub, vars, `profile ${ctx.profileName} grub`)
      return `${head[0]!}\n${body.endsWith('\n') ? body : body + '\n'}`
    }
    const lines = [...head, 'set timeout=0', 'set default=0']
    const title = `bootlab: ${ctx.profileName}`.replace(/'/g, '')
    switch (profileKind(p)) {
      case 'kernel': {
        const cmdline = await this.cmdline(ctx, vars)
        const args = cmdline ? ' ' + cmdline.split(' ').map(grubEscapeWord).join(' ') : ''
        lines.push('insmod http', `menuentry '${title}' {`)
        lines.push(`  linux ${grubUrl(vars.kernel_url as string)}${args}`)
        if (p.initrd.length) lines.push(`  initrd ${p.initrd.map((i) => grubUrl(imageUrl(ctx.baseUrl, i))).join(' ')}`)
        lines.push('}')
        break
      }
      case 'local': {
        const method = ctx.machine.local_boot ?? 'grub-chain'
        lines.push(`menuentry '${title}' {`, ...grubLocalLines(method, ctx.machine.arch).map((l) => `  ${l}`), '}')
        break
      }
      case 'chain':
      case 'ipxe':
        lines.push(`echo 'bootlab: profile ${ctx.profileName} has no GRUB form (add grub: to it)'`, 'sleep 10', 'exit 1')
        break
    }
    return lines.join('\n') + '\n'
  }

  /** A NoCloud document; undefined when the profile has no template for it and there is no default. */
  async cloudInit(ctx: BootContext, doc: CloudInitDoc): Promise<string | undefined> {
    const file = ctx.profile.cloud_init?.[CLOUD_INIT_KEY[doc]]
    const vars = templateVars(ctx)
    if (file !== undefined) {
      let src: string
      try {
        src = await readFile(file, 'utf8')
      } catch (err) {
        throw new RenderError(`profile ${ctx.profileName} ${doc}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
      const out = await this.template(src, vars, `profile ${ctx.profileName} ${doc} (${file})`)
      // cloud-init runs again only when instance-id changes: make sure every deployment has its own
      if (doc === 'meta-data' && !/^instance-id\s*:/m.test(out)) return `instance-id: ${ctx.instanceId ?? ctx.machine.name}\n${out}`
      return out
    }
    switch (doc) {
      case 'meta-data':
        return `instance-id: ${ctx.instanceId ?? ctx.machine.name}\nlocal-hostname: ${ctx.machine.name}\n`
      case 'user-data':
        return '#cloud-config\n{}\n'
      case 'vendor-data':
        return ''
      case 'network-config':
        return undefined
    }
  }
}
