// What the rest of bootlab tells the machine lifecycle. The composition root forwards DHCP and
// TFTP server events and config change events here; the HTTP routers call it directly.
import { stripV4Mapped } from '../net/ipv4.js'
import type { Arch } from '../boot/types.js'
import type { ConfigChange } from '../config/diff.js'

export interface DhcpObservation {
  mac: string
  kind: 'discover' | 'request' | 'offer' | 'ack' | 'nak' | 'inform' | 'release' | 'decline'
  /** client class as classified by src/dhcp, e.g. 'rpi', 'uefi-arm64', 'ipxe' */
  class?: string
  ip?: string
  /** Raspberry Pi serial (TFTP prefix) from option 97 */
  serial?: string
  /** arch guessed from the request, if any */
  arch?: Arch
}

export interface TftpObservation {
  clientIp: string
  file: string
  /** src/tftp's TransferOutcome */
  outcome: 'ok' | 'aborted' | 'failed' | 'not_found' | 'denied' | 'refused'
  bytes?: number
}

/** The fields of src/tftp's TransferRecord used here. */
export interface TftpTransferLike {
  client: { address: string }
  file: string
  outcome: TftpObservation['outcome']
  bytes: number
}

/** src/tftp event → lifecycle input: `tftp.on('tftp.transfer.done', (r) => lifecycle.onTftp(tftpObservation(r)))`. */
export function tftpObservation(r: TftpTransferLike): TftpObservation {
  return { clientIp: stripV4Mapped(r.client.address), file: r.file, outcome: r.outcome, bytes: r.bytes }
}

export type HttpKind = 'script' | 'grub-cfg' | 'kernel' | 'initrd' | 'file' | 'cloud-init' | 'phone-home' | 'failed'

export interface HttpObservation {
  mac?: string
  ip?: string
  path: string
  kind: HttpKind
}

/** Config change events emitted by the config loader on hot reload (one declaration: config/diff.ts). */
export type ConfigChangeEvent = ConfigChange

/** The PowerEvents (src/power/events.ts) the lifecycle listens to. */
export const POWER_EVENT_TYPES = ['power.cycle.started', 'power.cycle.done', 'power.cycle.failed', 'power.manual_required', 'power.step'] as const
export type PowerEventType = (typeof POWER_EVENT_TYPES)[number]

/** The fields of those events used here. */
export interface PowerObservation {
  machine?: string
  action: 'cycle' | 'on' | 'off' | 'status' | 'recover'
  reason?: string
  message?: string
  /** power.step only: off, verify_off, wait, on, verify_on, … and whether it worked */
  step?: string
  ok?: boolean
  duration_ms?: number
}

/** The power side of the API and of assignments (src/power: powerApi() and PowerService.assigned()). */
export interface PowerApi {
  /** GET → port report, POST {action} → outcome; status codes chosen by the power module */
  api(method: 'GET' | 'POST', machine: string, body?: unknown): Promise<{ status: number; body: unknown }>
  /** an assignment made through the API: the power module cycles now if the machine has power: and cycle_on_assign */
  assigned(machine: string, profile: string): Promise<unknown>
}

/** The fields of src/dhcp's DhcpClientEvent used here. */
export interface DhcpClientEventLike {
  mac: string
  class: string
  arch: number | null
  rpiSerial: string | null
  /** option 97's model (a Pi 5 says "RPi5"); absent from older event sources */
  rpiModel?: 'rpi4' | 'rpi5' | null
  ip: string | null
}

const ARCH_BY_CLASS: Record<string, DhcpObservation['arch']> = {
  rpi: 'rpi4',
  'uefi-arm64': 'arm64',
  'http-arm64': 'arm64',
  'uefi-x64': 'x86_64',
  'http-x64': 'x86_64',
  bios: 'bios',
}

/** src/dhcp event → lifecycle input: `dhcp.on(type, (e) => lifecycle.onDhcp(dhcpObservation(type, e)))`. */
export function dhcpObservation(kind: DhcpObservation['kind'], e: DhcpClientEventLike): DhcpObservation {
  return {
    mac: e.mac,
    kind,
    class: e.class,
    ...(e.ip ? { ip: e.ip } : {}),
    ...(e.rpiSerial ? { serial: e.rpiSerial } : {}),
    ...(e.class === 'rpi' && e.rpiModel ? { arch: e.rpiModel } : ARCH_BY_CLASS[e.class] ? { arch: ARCH_BY_CLASS[e.class] } : {}),
  }
}

/** Arch from iPXE's ${buildarch} and ${platform}. */
export function archFromIpxe(buildarch?: string, platform?: string): Arch | undefined {
  if (buildarch === 'arm64') return 'arm64'
  if (buildarch === 'x86_64' || buildarch === 'i386') return platform === 'efi' ? 'x86_64' : 'bios'
  return undefined
}
