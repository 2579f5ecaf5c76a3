// `scripts/demo.sh --serve | --smoke` (`bootlab demo --serve | --smoke`): `bootlab serve` with
// examples/bootlab.yaml in a lab namespace (<prefix>-<id>-srv, 10.99.0.1 on lab0) and a client
// namespace next to it (<prefix>-<id>-client, 10.99.0.2). --serve runs until Ctrl-C; --smoke
// checks /healthz from the client namespace and stops. Built on the lab builder (./netns.ts).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLab, type Lab } from './netns.js'
import { until } from './fixture.js'
import { bootlabArgv, HTTP_PORT } from './bootlab-server.js'

const EXAMPLE_CONFIG = fileURLToPath(new URL('../../examples/bootlab.yaml', import.meta.url))
/** iPXE binaries Debian ships, handed out by the example config */
const IPXE = ['undionly.kpxe', 'ipxe.efi', 'snponly.efi']

export interface ExampleServeOptions {
  /** check /healthz once and stop (exit 0 when it answered) */
  smoke: boolean
  /** namespace name prefix, [a-z0-9-] (env BOOTLAB_DEMO_NS; default bootlab-demo) */
  prefix?: string
  out: (line: string) => void
  /** resolves when the user asks to stop (--serve) */
  stopped: Promise<void>
}

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-demo-'))
  for (const sub of ['firmware/ipxe', 'images', 'tftproot']) mkdirSync(join(dir, sub), { recursive: true })
  for (const f of IPXE) if (existsSync(`/usr/lib/ipxe/${f}`)) copyFileSync(`/usr/lib/ipxe/${f}`, join(dir, 'firmware/ipxe', f))
  return dir
}

/** returns the exit status; the lab and the state directory are removed in every case */
export async function serveExample(o: ExampleServeOptions): Promise<number> {
  const prefix = o.prefix ?? 'bootlab-demo'
  if (!/^[a-z0-9][a-z0-9-]{0,23}$/.test(prefix)) throw new Error(`bad namespace prefix ${prefix}`)
  let lab: Lab | null = null
  const state = stateDir()
  try {
    lab = await createLab({ prefix, subnet: '10.99.0' })
    const srv = await lab.addHost('srv', { octet: 1, ifname: 'lab0' })
    const cli = await lab.addHost('client', { octet: 2, ifname: 'lab0c' })
    const url = `http://${srv.ip}:${HTTP_PORT}/healthz`
    o.out(`bootlab demo: server namespace ${srv.ns} (${srv.ip}, ${srv.ifname}), client namespace ${cli.ns} (${cli.ip})`)
    o.out(`  try: ip netns exec ${cli.ns} curl -s ${url}`)
    const bootlab = lab.spawn('srv', [...bootlabArgv(), 'serve', '--config', EXAMPLE_CONFIG, '--interface', srv.ifname,
      '--advertise', srv.ip, '--state-dir', state], { stdio: 'inherit' })
    const exited = new Promise<number>((r) => bootlab.once('exit', (code) => r(code ?? 1)))
    if (!o.smoke) return await Promise.race([exited, o.stopped.then(() => 130)])
    let stop = false
    void o.stopped.then(() => { stop = true })
    const health = await until(async () => {
      if (stop) return null
      if (bootlab.exitCode !== null) throw new Error('bootlab exited')
      const r = await lab!.exec('client', ['curl', '-fsS', '--max-time', '2', url], { timeoutMs: 5000 })
      return r.code === 0 ? r.stdout : undefined
    }, 60_000, `bootlab to answer on ${url}`)
    if (health === null) return 130
    o.out(health.trim())
    return 0
  } finally {
    await lab?.cleanup()
    rmSync(state, { recursive: true, force: true })
  }
}
