// snmp: RFC 3621 POWER-ETHERNET-MIB. Off/on = set pethPsePortAdminEnable.<group>.<port> to
// false(2)/true(1); state = that object plus pethPsePortDetectionStatus (3 = deliveringPower).
// v2c (community) or v3 (USM user, auth/priv). The index comes from the configuration, never
// guessed: the machine's port is "group.port", or a name mapped by the switch's `ports:`.
import type { Session, Varbind } from 'net-snmp'
import { own } from '../../config/own.js'
import { PowerError, errorMessage, type DriverResult, type PortStatus, type PowerDriver, type SnmpSwitch } from '../types.js'

export const PETH_ADMIN_ENABLE = '1.3.6.1.2.1.105.1.1.1.3'
export const PETH_DETECTION_STATUS = '1.3.6.1.2.1.105.1.1.1.6'

type NetSnmp = typeof import('net-snmp').default
let lib: NetSnmp | null = null
/** net-snmp is loaded on first use: `bootlab serve` without SNMP switches never pays for it. */
async function netSnmp(): Promise<NetSnmp> {
  return lib ??= (await import('net-snmp')).default
}

const DETECTION: Record<number, string> = { 1: 'disabled', 2: 'searching', 3: 'deliveringPower', 4: 'fault', 5: 'test', 6: 'otherFault' }

export class SnmpDriver implements PowerDriver {
  readonly kind = 'snmp' as const
  readonly #sw: SnmpSwitch
  #session: Session | null = null

  constructor(sw: SnmpSwitch) {
    this.#sw = sw
  }

  /** "group.port" for a configured port name or a literal index */
  index(port: string): string {
    const mapped = (this.#sw.ports && own(this.#sw.ports, port)) ?? port
    if (!/^\d+\.\d+$/.test(mapped.trim())) {
      throw new PowerError('config', `port "${port}" is not a "group.port" PoE index and is not listed under the switch's ports:`)
    }
    return mapped.trim()
  }

  canonicalPort(port: string): string {
    try {
      return this.index(port)
    } catch {
      return port.trim()
    }
  }

  async #open(): Promise<{ s: Session; snmp: NetSnmp }> {
    const snmp = await netSnmp()
    if (this.#session) return { s: this.#session, snmp }
    const sw = this.#sw
    const options = { port: sw.port ?? 161, retries: 1, timeout: (sw.timeout_seconds ?? 5) * 1000 }
    let s: Session
    if (sw.version === '3') {
      if (!sw.username) throw new PowerError('config', 'SNMP v3 needs a username')
      const level = sw.priv_key ? snmp.SecurityLevel.authPriv : sw.auth_key ? snmp.SecurityLevel.authNoPriv : snmp.SecurityLevel.noAuthNoPriv
      s = snmp.createV3Session(sw.host, {
        name: sw.username,
        level,
        ...(sw.auth_key ? { authProtocol: snmp.AuthProtocols[sw.auth_protocol ?? 'sha'], authKey: sw.auth_key.reveal() } : {}),
        ...(sw.priv_key ? { privProtocol: snmp.PrivProtocols[sw.priv_protocol ?? 'aes'], privKey: sw.priv_key.reveal() } : {}),
      }, options)
    } else {
      s = snmp.createSession(sw.host, sw.community?.reveal() ?? 'private', { ...options, version: snmp.Version2c })
    }
    s.on('error', () => { this.#session = null })
    this.#session = s
    return { s, snmp }
  }

  async #request(kind: 'get' | 'set', arg: string[] | Varbind[] | ((snmp: NetSnmp) => Varbind[])): Promise<Varbind[]> {
    const { s, snmp } = await this.#open()
    const args = typeof arg === 'function' ? arg(snmp) : arg
    return await new Promise((resolve, reject) => {
      const cb = (err: Error | null, vbs: Varbind[]) => {
        if (err) {
          const timedOut = err.name === 'RequestTimedOutError'
          reject(new PowerError(timedOut ? 'timeout' : 'rejected', `SNMP ${kind} to ${this.#sw.host}: ${errorMessage(err)}`,
            { retryable: timedOut, applied: timedOut && kind === 'set' }))
          return
        }
        const bad = vbs.find((vb) => snmp.isVarbindError(vb))
        if (bad) {
          reject(new PowerError('rejected', `SNMP ${kind} ${bad.oid} on ${this.#sw.host}: ${snmp.varbindError(bad)}`))
          return
        }
        resolve(vbs)
      }
      if (kind === 'get') s.get(args as string[], cb); else s.set(args as Varbind[], cb)
    })
  }

  async #setAdmin(port: string, on: boolean): Promise<DriverResult> {
    const oid = `${PETH_ADMIN_ENABLE}.${this.index(port)}`
    await this.#request('set', (snmp) => [{ oid, type: snmp.ObjectType.Integer, value: on ? 1 : 2 }])
    return { detail: `set ${oid} = ${on ? 1 : 2}` }
  }

  on(port: string): Promise<DriverResult> {
    return this.#setAdmin(port, true)
  }

  off(port: string): Promise<DriverResult> {
    return this.#setAdmin(port, false)
  }

  async status(port: string): Promise<PortStatus> {
    const idx = this.index(port)
    const [admin, detect] = await this.#request('get', [`${PETH_ADMIN_ENABLE}.${idx}`, `${PETH_DETECTION_STATUS}.${idx}`])
    const a = Number(admin!.value)
    const d = Number(detect!.value)
    return {
      admin: a === 1 ? 'on' : a === 2 ? 'off' : 'unknown',
      oper: d === 3 ? 'on' : d in DETECTION ? 'off' : 'unknown',
      detail: `${idx} AdminEnable ${a === 1 ? 'true(1)' : a === 2 ? 'false(2)' : a}, DetectionStatus ${DETECTION[d] ?? '?'}(${d})`,
    }
  }

  async release(): Promise<void> {
    this.#session?.close()
    this.#session = null
  }
}
