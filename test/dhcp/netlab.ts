// Running the bootlab DHCP fixture server and DHCP clients inside a test lab's namespaces
// (the lab and the fixture protocol are src/lab's).
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { startFixture, tsxArgv, type Fixture, type Msg } from '../../src/lab/fixture.js'
import type { Lab } from '../../src/lab/netns.js'

export { until, type Msg } from '../../src/lab/fixture.js'

const here = dirname(fileURLToPath(import.meta.url))
export const FIXTURES = join(here, 'fixtures')
export const CLIENT_SCRIPT = join(FIXTURES, 'client-script.sh')
/** the DHCP fixture server (test/dhcp/fixtures/server.ts), for the benchmark too */
export const DHCP_SERVER_FIXTURE = join(FIXTURES, 'server.ts')

export interface RunningServer extends Fixture {
  stats(): Promise<Msg>
}

export async function startServer(lab: Lab, host: string, opts: Record<string, unknown>, env: Record<string, string> = {}): Promise<RunningServer> {
  const f = await startFixture(lab, host, tsxArgv(DHCP_SERVER_FIXTURE, JSON.stringify({ events: true, ...opts })), { env })
  return Object.assign(f, { stats: () => f.command('stats') })
}

/** parses the lines client-script.sh writes: "event=bound ip=… mask=…" */
export function parseClientLog(text: string): Array<Record<string, string>> {
  return text.split('\n').filter((l) => l.startsWith('event=')).map((l) => {
    const rec: Record<string, string> = {}
    for (const part of l.split(' ')) {
      const i = part.indexOf('=')
      if (i > 0) rec[part.slice(0, i)] = part.slice(i + 1)
    }
    return rec
  })
}

/**
 * Starts a QEMU guest on a tap in the lab's bridge namespace ("@TAP@" in argv becomes the tap's name).
 * Killed by PID at the lab's cleanup at the latest.
 */
export async function startGuest(lab: Lab, tapPrefix: string, argv: string[]): Promise<{ child: ChildProcess; tap: string }> {
  const tap = await lab.addTap({ name: `${tapPrefix}${lab.id}` })
  const child = lab.spawn(lab.bridgeNs, argv.map((a) => a.replace('@TAP@', tap)), { stdio: 'ignore' })
  return { child, tap }
}
