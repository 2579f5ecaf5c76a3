// A machine's recorded events → its last boots, each a list of steps with time and duration:
// bootloader DHCP, firmware TFTP, UEFI DHCP, loader, boot script, kernel, initrd, cloud-init,
// phone-home, deployed — or what failed and why — and the power steps around them.
// Pure functions: the page and its tests feed them event rows.
import type { EventRow } from '../../store/store.js'

export type StepKind = 'power' | 'boot' | 'done' | 'failed' | 'info'

export interface Step {
  /** stable id of the kind of step ("dhcp-bootloader", "kernel", …), for the progress bar */
  key: string
  label: string
  /** details: file names, addresses, reasons (network-sourced: escape before showing) */
  detail: string
  kind: StepKind
  start: number
  end: number
  /** events folded into this step (DHCP discover/request/ack, several firmware files) */
  count: number
  /** when the step carries its own duration (power steps) */
  duration_ms?: number
}

export interface Boot {
  start: number
  end: number
  steps: Step[]
  outcome: 'deployed' | 'failed' | 'local' | 'running'
}

/** the boot stages in order; progress is the furthest reached */
export const STAGES = [
  ['dhcp-bootloader', 'bootloader DHCP'],
  ['tftp-firmware', 'firmware TFTP'],
  ['dhcp-uefi', 'UEFI DHCP'],
  ['loader', 'loader'],
  ['script', 'boot script'],
  ['kernel', 'kernel'],
  ['initrd', 'initrd'],
  ['cloud-init', 'cloud-init fetched'],
  ['phone-home', 'phone-home'],
  ['deployed', 'deployed'],
] as const

const STAGE_INDEX = new Map<string, number>(STAGES.map(([k], i) => [k, i]))
const STAGE_LABEL = new Map<string, string>(STAGES)

const POWER_STEP_LABEL: Record<string, string> = {
  graceful: 'graceful shutdown', off: 'off', verify_off: 'verified off', wait: 'waited', on: 'on', verify_on: 'verified on',
  manual: 'manual action', status: 'status',
}

const LOADER_FILE = /(^|\/)(ipxe|snponly|undionly|grub|shim|boot)[^/]*\.(efi|kpxe|pxe|0)$|^grub\//i
const s = (v: unknown): string => (v === null || v === undefined ? '' : String(v))

/** One event → the step it belongs to (undefined: not part of a timeline). */
export function stepOf(e: EventRow): Omit<Step, 'start' | 'end' | 'count'> | undefined {
  const d = e.data
  const stage = (key: string, detail = ''): Omit<Step, 'start' | 'end' | 'count'> => ({ key, label: STAGE_LABEL.get(key) ?? key, detail, kind: 'boot' })
  switch (e.type) {
    case 'dhcp': {
      const cls = s(d.class)
      const detail = [s(d.kind), cls, s(d.ip)].filter(Boolean).join(' ')
      if (cls === 'rpi' || cls === 'bios' || cls === 'pxe-other') return stage('dhcp-bootloader', detail)
      if (cls === 'ipxe') return { key: 'dhcp-ipxe', label: 'iPXE DHCP', detail, kind: 'boot' }
      return stage('dhcp-uefi', detail)
    }
    case 'tftp': {
      const file = s(d.file)
      if (d.outcome !== 'ok') return { key: 'tftp-error', label: `TFTP ${s(d.outcome)}`, detail: file, kind: 'failed' }
      return LOADER_FILE.test(file) ? stage('loader', file) : stage('tftp-firmware', file)
    }
    case 'http.script': case 'http.grub-cfg': return stage('script', s(d.path))
    case 'http.kernel': return stage('kernel', s(d.path))
    case 'http.initrd': return stage('initrd', s(d.path))
    case 'http.cloud-init': return stage('cloud-init', s(d.path).replace(/^\/cloud-init\/[^/]+/, ''))
    case 'phone-home': return stage('phone-home', [s(d.hostname), s(d.instance_id)].filter(Boolean).join(' '))
    case 'deployed': return { ...stage('deployed', s(d.profile)), kind: 'done' }
    case 'boot.local': return { key: 'local', label: 'local boot', detail: s(d.profile), kind: 'done' }
    case 'assigned': return { key: 'assigned', label: 'assigned', detail: `${s(d.profile)}${d.from ? ` (was ${s(d.from)})` : ''}`, kind: 'info' }
    case 'discovered': return { key: 'discovered', label: 'discovered', detail: s(d.arch), kind: 'info' }
    case 'state':
      if (d.to === 'failed') return { key: 'failed', label: 'failed', detail: s(d.reason), kind: 'failed' }
      return undefined
    case 'power.started': return { key: 'power-start', label: `power ${s(d.action)}`, detail: s(d.reason), kind: 'power' }
    case 'power.step': {
      const label = POWER_STEP_LABEL[s(d.step)] ?? s(d.step)
      return { key: `power-${s(d.step)}`, label: `power: ${label}${d.ok === false ? ' (failed)' : ''}`, detail: '', kind: d.ok === false ? 'failed' : 'power', ...(typeof d.duration_ms === 'number' ? { duration_ms: d.duration_ms } : {}) }
    }
    case 'power.done': return { key: 'power-done', label: `power ${s(d.action)} done`, detail: '', kind: 'power' }
    case 'power.failed': return { key: 'power-failed', label: `power ${s(d.action)} failed`, detail: s(d.reason), kind: 'failed' }
    case 'power.manual': return { key: 'power-manual', label: 'power: manual action needed', detail: s(d.message), kind: 'power' }
    default: return undefined
  }
}

/** a DHCP or power start after this stage begins a new boot */
const NEW_BOOT_AFTER = STAGE_INDEX.get('script')!
/** a quiet gap this long also begins a new boot */
const GAP_MS = 15 * 60_000

/** Events (any order) → boots, oldest first, at most `max` (the newest). */
export function boots(events: EventRow[], max = 5): Boot[] {
  const sorted = [...events].sort((a, b) => a.id - b.id)
  const out: Boot[] = []
  let cur: Boot | undefined
  let reached = -1
  for (const e of sorted) {
    const st = stepOf(e)
    if (!st) continue
    const isDhcp = e.type === 'dhcp'
    const startsBoot = e.type === 'power.started' || e.type === 'assigned' || e.type === 'discovered'
    // after a boot ended (deployed, failed, local), the next boot step belongs to the next boot
    const afterEnd = cur !== undefined && cur.outcome !== 'running' && st.kind === 'boot'
    if (!cur || afterEnd || (startsBoot && (reached >= 0 || cur.steps.some((x) => x.kind !== 'info'))) || (isDhcp && reached >= NEW_BOOT_AFTER) || e.ts - cur.end > GAP_MS) {
      cur = { start: e.ts, end: e.ts, steps: [], outcome: 'running' }
      out.push(cur)
      reached = -1
    }
    const last = cur.steps[cur.steps.length - 1]
    if (last && last.key === st.key && st.duration_ms === undefined && st.kind !== 'failed') {
      last.end = e.ts
      last.count++
      if (st.detail && !last.detail.split(', ').includes(st.detail) && last.detail.length < 200) last.detail = last.detail ? `${last.detail}, ${st.detail}` : st.detail
    } else {
      cur.steps.push({ ...st, start: e.ts, end: e.ts, count: 1 })
    }
    cur.end = e.ts
    const idx = STAGE_INDEX.get(st.key)
    if (idx !== undefined && idx > reached) reached = idx
    if (st.key === 'deployed') cur.outcome = 'deployed'
    else if (st.key === 'local') cur.outcome = 'local'
    else if (st.kind === 'failed' && (st.key === 'failed' || st.key === 'power-failed')) cur.outcome = 'failed'
  }
  return out.slice(-max)
}

/** The furthest boot stage reached in a boot, as [index, of]. */
export function progress(b: Boot | undefined): { reached: number; of: number; label: string } {
  let reached = -1
  for (const st of b?.steps ?? []) {
    const i = STAGE_INDEX.get(st.key)
    if (i !== undefined && i > reached) reached = i
  }
  return { reached: reached + 1, of: STAGES.length, label: reached >= 0 ? STAGES[reached]![1] : '' }
}
