// `bootlab init` as a plan of small steps (folders, files, user, ownership), so --dry-run prints
// exactly what a real run does, and tests check the plan without creating users.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync, chownSync, chmodSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { NetworkFacts } from './detect.js'

const run = promisify(execFile)

export type Step =
  | { kind: 'mkdir'; path: string; mode: number; exists: boolean }
  | { kind: 'write'; path: string; mode: number; content: string; exists: boolean; what: string }
  | { kind: 'user'; name: string; home: string; exists: boolean }
  | { kind: 'chown'; path: string; user: string }

export interface InitOptions {
  /** prefix for every path written ("" or "/" for the real system) */
  root: string
  user: string
  facts: NetworkFacts
  httpPort: number
  /** the folder bootlab is installed in (bin/bootlab.js lives there) */
  installDir: string
  nodePath: string
}

export const PATHS = { config: '/etc/bootlab/bootlab.yaml', stateDir: '/var/lib/bootlab', unit: '/etc/systemd/system/bootlab.service' }

export function installDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
}

/** The commented bootlab.yaml for this box: proxy DHCP on the detected interface, nothing else to fill in. */
export function renderConfig(f: NetworkFacts, httpPort: number): string {
  return `# yaml-language-server: $schema=./bootlab.schema.json
#
# bootlab configuration, written by \`bootlab init\`. Hot-reloaded: edit, save, done.
# Check it with:  bootlab check --config ${PATHS.config}
# Full reference: examples/bootlab.yaml in the bootlab folder, and README.md.

server:
  # The LAN interface (it carries the default route). DHCP listens and answers only here.
  interface: ${f.interface}
  # Clients are told to fetch from this box's address on it: ${f.address}/${f.prefix}
  # advertise: ${f.address}
  http:
    port: ${httpPort}            # boot scripts, kernels, images, cloud-init, API, status page
  tftp:
    port: 69              # firmware for Raspberry Pis, iPXE and GRUB binaries
  dhcp:
    # proxy: your router (${f.router ?? 'no default gateway found'}) keeps handing out addresses; bootlab only
    # tells netboot clients where to boot from. Safe next to any existing DHCP server.
    mode: proxy
    # To make bootlab the only DHCP server instead (only on a network without another one):
    # mode: full
    # pool: <first>-<last>            # free addresses in ${f.address}/${f.prefix}
    # router: ${f.router ?? '<gateway>'}
    # dns: [${f.router ?? '<dns server>'}]
  # Machines not listed below: record them and show them on the status page (discover), or ignore.
  unknown: discover
  unknown_profile: discovery
  state_dir: ${PATHS.stateDir}   # database, API token, firmware/, images/, tftproot/

# Power control (PoE switch ports, smart plugs): see examples/bootlab.yaml.
switches: {}

profiles:
  local:
    description: Boot the machine's own disk
    boot: local
  discovery:
    description: What unknown machines boot (they are recorded, then boot their disk)
    boot: local
  # After \`bootlab fetch ubuntu 24.04 --arch arm64\`:
  # ubuntu-24.04-install:
  #   kernel: ubuntu-24.04/arm64/linux
  #   initrd: [ubuntu-24.04/arm64/initrd]
  #   cmdline: >-
  #     ip=dhcp url={{ http }}/files/images/ubuntu-24.04/ubuntu-24.04-live-server-arm64.iso
  #     autoinstall ds=nocloud-net;s={{ cloud_init_url }}
  #   then: local

machines: {}
  # pi-01:
  #   mac: dc:a6:32:00:00:01
  #   arch: rpi4                 # rpi4 | arm64 | x86_64 | bios
  #   profile: local
`
}

/** The systemd unit from deploy/, pointed at this installation and this node. */
export function renderUnit(template: string, o: { installDir: string; nodePath: string; user: string }): string {
  return template
    .replaceAll('/usr/bin/node', o.nodePath)
    .replaceAll('/opt/bootlab', o.installDir)
    .replace(/^User=.*$/m, `User=${o.user}`)
    .replace(/^Group=.*$/m, `Group=${o.user}`)
}

export async function userExists(name: string): Promise<boolean> {
  try { await run('id', ['-u', name], { timeout: 5000 }); return true } catch { return false }
}

export async function buildPlan(o: InitOptions): Promise<Step[]> {
  const at = (p: string): string => join(o.root || '/', p)
  const steps: Step[] = []
  for (const d of ['/etc/bootlab', PATHS.stateDir, `${PATHS.stateDir}/firmware`, `${PATHS.stateDir}/images`, `${PATHS.stateDir}/tftproot`, dirname(PATHS.unit)]) {
    steps.push({ kind: 'mkdir', path: at(d), mode: d === '/etc/bootlab' ? 0o770 : 0o750, exists: existsSync(at(d)) })
  }
  steps.push({ kind: 'write', what: 'config', path: at(PATHS.config), mode: 0o660, content: renderConfig(o.facts, o.httpPort), exists: existsSync(at(PATHS.config)) })
  const template = readFileSync(join(o.installDir, 'deploy', 'bootlab.service'), 'utf8')
  steps.push({ kind: 'write', what: 'systemd unit', path: at(PATHS.unit), mode: 0o644, content: renderUnit(template, o), exists: existsSync(at(PATHS.unit)) })
  // users are made on the real system only; with --root the plan lists the step and skips it
  const realRoot = !o.root || resolve(o.root) === '/'
  steps.push({ kind: 'user', name: o.user, home: PATHS.stateDir, exists: realRoot ? await userExists(o.user) : false })
  if (realRoot) {
    for (const d of [PATHS.stateDir, `${PATHS.stateDir}/firmware`, `${PATHS.stateDir}/images`, `${PATHS.stateDir}/tftproot`, '/etc/bootlab', PATHS.config]) steps.push({ kind: 'chown', path: d, user: o.user })
  }
  return steps
}

export function describeStep(s: Step, root: string): string {
  switch (s.kind) {
    case 'mkdir': return `${s.exists ? 'keep  ' : 'create'} folder ${s.path}`
    case 'write': return `${s.exists ? 'exists' : 'write '} ${s.what} ${s.path}${s.exists ? ' (asks before replacing)' : ''}`
    case 'user': return !root || resolve(root) === '/' ? `${s.exists ? 'keep  ' : 'create'} system user ${s.name} (home ${s.home}, no login)` : `skip   system user ${s.name} (--root: users are created on the real system only)`
    case 'chown': return `chown  ${s.path} to ${s.user}`
  }
}

/** Carries out one step. `replace` decides for files that exist (asked or --force). */
export async function applyStep(s: Step, root: string, replace: (path: string) => Promise<boolean>): Promise<string> {
  switch (s.kind) {
    case 'mkdir':
      mkdirSync(s.path, { recursive: true, mode: s.mode })
      return describeStep(s, root)
    case 'write':
      if (s.exists && !(await replace(s.path))) return `kept   ${s.path} (not replaced)`
      mkdirSync(dirname(s.path), { recursive: true })
      writeFileSync(s.path, s.content, { mode: s.mode })
      chmodSync(s.path, s.mode)
      return `wrote  ${s.what} ${s.path}`
    case 'user':
      if (root && resolve(root) !== '/') return describeStep(s, root)
      if (s.exists) return `keep   system user ${s.name}`
      await run('useradd', ['--system', '--user-group', '--home-dir', s.home, '--no-create-home', '--shell', '/usr/sbin/nologin', s.name], { timeout: 30_000 })
      return `created system user ${s.name}`
    case 'chown': {
      const { stdout } = await run('id', ['-u', s.user])
      const { stdout: g } = await run('id', ['-g', s.user])
      chownSync(s.path, Number(stdout.trim()), Number(g.trim()))
      return describeStep(s, root)
    }
  }
}
