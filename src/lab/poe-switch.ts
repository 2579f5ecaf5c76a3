// The lab's PoE switch: the IOS-like SSH switch simulator (./ios-sim.ts) whose ports power the
// lab's QEMU guests. `power inline never` stops a guest's QEMU (hard power loss), `power inline
// auto` starts a fresh QEMU for it, `show power inline` reports whether the QEMU runs. bootlab
// drives it with its real cisco-ios driver: legacy algorithms (as a 2960X), a pinned RSA host key,
// password login. The simulator listens on a unix socket in this process; a forwarder in bootlab's
// namespace (./forward-main.ts) makes it reachable there as 127.0.0.1:<port>.
import { join } from 'node:path'
import { IosSimulator, type PoweredDevices } from './ios-sim.js'
import { startFixture, type Fixture } from './fixture.js'
import { forwarderArgv } from './forward.js'
import type { Lab } from './netns.js'

/** what a port powers: one guest */
export interface PoweredGuest {
  /** switches the guest's power on (starts QEMU) or off (stops it); idempotent */
  power(on: boolean): void
  running(): boolean
}

export interface PoeChange {
  port: string
  on: boolean
  /** Date.now() */
  at: number
}

/** how bootlab's YAML names this switch (a `switches:` entry without the password) */
export interface PoeSwitchEndpoint {
  host: string
  port: number
  username: string
  password: string
  hostKey: string
}

export const SWITCH_PORT = 2222

export class LabPoeSwitch {
  readonly sim: IosSimulator
  /** every PoE change a port saw, in order */
  readonly changes: PoeChange[] = []
  #forwarder: Fixture | null = null

  /** `guests`: port name (Gi1/0/N) → the guest it powers */
  constructor(readonly guests: Map<string, PoweredGuest>) {
    const devices: PoweredDevices = {
      has: (port) => guests.has(port),
      isOn: (port) => guests.get(port)?.running() ?? false,
      power: (port, on) => {
        const g = guests.get(port)
        if (!g) return
        this.changes.push({ port, on, at: Date.now() })
        g.power(on)
      },
    }
    this.sim = new IosSimulator({
      hostname: 'lab-poe', legacyOnly: true, startOff: true, devices,
      password: Math.random().toString(36).slice(2),
      ports: Array.from({ length: Math.max(8, guests.size) }, (_, i) => `Gi1/0/${i + 1}`),
    })
  }

  /** the port names for n guests, in order */
  static ports(n: number): string[] {
    return Array.from({ length: n }, (_, i) => `Gi1/0/${i + 1}`)
  }

  /** power cycles seen on a port: each `never` that cut a running or stopped guest and was followed by `auto` */
  cycles(port: string): number {
    let n = 0
    let off = false
    for (const c of this.changes) {
      if (c.port !== port) continue
      if (!c.on) off = true
      else if (off) { n++; off = false }
    }
    return n
  }

  /** listens on a unix socket under workDir and forwards 127.0.0.1:SWITCH_PORT in `ns` to it */
  async start(lab: Lab, ns: string, workDir: string): Promise<PoeSwitchEndpoint> {
    const sock = join(workDir, 'poe-switch.sock')
    await this.sim.start(sock)
    this.#forwarder = await startFixture(lab, ns, forwarderArgv(`tcp:127.0.0.1:${SWITCH_PORT}`, `unix:${sock}`))
    return { host: '127.0.0.1', port: SWITCH_PORT, username: this.sim.opts.username, password: this.sim.opts.password, hostKey: this.sim.hostKeyFingerprint }
  }

  async stop(): Promise<void> {
    await this.#forwarder?.stop()
    this.#forwarder = null
    await this.sim.stop().catch(() => undefined)
  }
}
