// The reference server under test: dnsmasq (full DHCP + TFTP) and a small Node HTTP server,
// playing the part bootlab plays, so the lab's boot chains are proven independently of bootlab.
import { EventEmitter } from 'node:events'
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { ChildProcess } from 'node:child_process'
import type { LabGuest, LabServer, LabServerContext, LabServerEvents } from './server.js'

const HTTP_PORT = 8080

/** How to start src/lab/file-server-main: the .ts source under tsx, or the compiled .js. */
function fileServerArgv(): string[] {
  const ts = fileURLToPath(new URL('./file-server-main.ts', import.meta.url))
  // tsx resolved from here, so this works whatever the current directory is
  if (existsSync(ts)) return [process.execPath, '--import', import.meta.resolve('tsx'), ts]
  return [process.execPath, fileURLToPath(new URL('./file-server-main.js', import.meta.url))]
}

function ipxeScript(http: string, g: LabGuest): string {
  return [
    '#!ipxe',
    `kernel ${http}/${g.name}/vmlinuz initrd=initrd.gz ${g.cmdline} bootlab.phone_home=${http}/phone-home/${g.name}`,
    `initrd ${http}/${g.name}/initrd.gz`,
    'boot',
    '',
  ].join('\n')
}

function grubCfg(server: string, http: string, g: LabGuest): string {
  return [
    'set timeout=0',
    `echo 'bootlab-lab grub.cfg for ${g.name}'`,
    `linux (tftp,${server})/${g.name}/vmlinuz ${g.cmdline} bootlab.phone_home=${http}/phone-home/${g.name}`,
    `initrd (tftp,${server})/${g.name}/initrd.gz`,
    'boot',
    '',
  ].join('\n')
}

export class DnsmasqLabServer extends EventEmitter<LabServerEvents> implements LabServer {
  readonly name = 'dnsmasq'
  private procs: ChildProcess[] = []

  async start(ctx: LabServerContext): Promise<void> {
    const { at, net } = ctx
    const http = `http://${at.address}:${HTTP_PORT}`
    const root = join(ctx.workDir, 'root')
    mkdirSync(root, { recursive: true })
    const args = [
      'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--group=root',
      `--interface=${at.iface}`, '--bind-interfaces', '--no-ping', '--log-dhcp', '--log-facility=-',
      `--dhcp-leasefile=${join(ctx.workDir, 'dnsmasq.leases')}`, '--pid-file=',
      `--dhcp-range=${ctx.pool.start},${ctx.pool.end},255.255.255.0,1h`, '--dhcp-authoritative',
      '--enable-tftp', `--tftp-root=${root}`,
      '--dhcp-userclass=set:ipxe,iPXE',
      '--dhcp-match=set:efi-x64,option:client-arch,7', '--dhcp-match=set:efi-x64,option:client-arch,9',
      '--dhcp-match=set:efi-arm64,option:client-arch,11',
    ]
    symlinkSync(ctx.loaders.ipxeEfiX64, join(root, 'ipxe.efi'))
    args.push(`--dhcp-boot=tag:!ipxe,tag:efi-x64,ipxe.efi,,${at.address}`)
    const grub = ctx.loaders.grubArm64
    let grubGuest: LabGuest | null = null
    if (grub) {
      symlinkSync(grub.efi, join(root, 'grubnetaa64.efi'))
      mkdirSync(join(root, 'grub'))
      symlinkSync(grub.modulesDir, join(root, 'grub', 'arm64-efi'))
      args.push(`--dhcp-boot=tag:!ipxe,tag:efi-arm64,grubnetaa64.efi,,${at.address}`)
    }
    ctx.guests.forEach((g, i) => {
      mkdirSync(join(root, g.name))
      symlinkSync(g.kernel, join(root, g.name, 'vmlinuz'))
      symlinkSync(g.initrd, join(root, g.name, 'initrd.gz'))
      const tag = `g${i}`
      args.push(`--dhcp-host=${g.mac},set:${tag}`)
      if (g.kind === 'uefi-arm64') {
        // GRUB reads $prefix/grub.cfg (prefix = /grub on the TFTP server): one arm64 guest per lab
        if (grubGuest) throw new Error('the dnsmasq lab server supports one arm64 guest')
        grubGuest = g
        writeFileSync(join(root, 'grub', 'grub.cfg'), grubCfg(at.address, http, g))
      } else {
        writeFileSync(join(root, g.name, 'boot.ipxe'), ipxeScript(http, g))
        args.push(`--dhcp-boot=tag:ipxe,tag:${tag},${http}/${g.name}/boot.ipxe,,${at.address}`)
      }
    })

    const dnsmasq = net.spawn(at.ns, args)
    this.procs.push(dnsmasq)
    const files = net.spawn(at.ns, [...fileServerArgv(), '--root', root, '--address', at.address, '--port', String(HTTP_PORT)])
    this.procs.push(files)

    const lines = (p: ChildProcess, prefix: string, onLine?: (l: string) => void): void => {
      for (const s of [p.stdout, p.stderr]) {
        if (!s) continue
        createInterface({ input: s }).on('line', (l) => { this.emit('log', `${prefix}: ${l}`); onLine?.(l) })
      }
    }
    const dnsmasqReady = new Promise<void>((resolve, reject) => {
      lines(dnsmasq, 'dnsmasq', (l) => { if (/DHCP, IP range/.test(l)) resolve() })
      dnsmasq.once('exit', (code) => reject(new Error(`dnsmasq exited (${code}) during start`)))
    })
    const httpReady = new Promise<void>((resolve, reject) => {
      lines(files, 'http', (l) => {
        let m: { event?: string; guest?: string; from?: string; path?: string; body?: string }
        try { m = JSON.parse(l) as typeof m } catch { return }
        if (m.event === 'listening') resolve()
        if (m.event === 'phone-home') this.emit('phone-home', { guest: m.guest ?? null, from: m.from ?? '', path: m.path ?? '', body: m.body ?? '', at: Date.now() })
      })
      files.once('exit', (code) => reject(new Error(`lab HTTP server exited (${code}) during start`)))
    })
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('dnsmasq lab server did not start in 20 s')), 20_000) })
    try {
      await Promise.race([Promise.all([dnsmasqReady, httpReady]), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async stop(): Promise<void> {
    const procs = this.procs
    this.procs = []
    await Promise.all(procs.map(async (p) => {
      if (p.exitCode !== null || p.signalCode !== null) return
      const exited = new Promise<void>((r) => p.once('exit', () => r()))
      p.kill('SIGTERM')
      const t = setTimeout(() => p.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(t)
    }))
  }
}
