// `bootlab status --watch`: follows GET /api/events/stream (the status page's stream) and prints one
// line per event. Reconnects with Last-Event-ID so nothing is missed across a restart of bootlab;
// network-sourced text (machine names, hostnames, file names, failure reasons) is stripped of
// control characters before it reaches the terminal.
import { ApiError, type ApiClient } from './client.js'

export interface WatchEvent {
  id: number
  ts: number
  type: string
  machine: string | null
  mac: string | null
  data: Record<string, unknown>
}

/** Terminal-safe text: C0/C1 controls (escape sequences), DEL and bidi overrides become "?". */
export function printable(s: unknown, max = 300): string {
  const text = String(s ?? '')
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?')
  return clean.length > max ? clean.slice(0, max) + '…' : clean
}

/** One line for an event (also used by `bootlab status <machine>`). */
export function describeEvent(e: Pick<WatchEvent, 'type' | 'data'>): string {
  const d = e.data
  const v = (k: string): string => printable(d[k])
  switch (e.type) {
    case 'state': return `${v('from')} → ${v('to')}${d.reason ? ` (${v('reason')})` : ''}`
    case 'assigned': return `assigned ${v('profile')} (deployment ${v('deployment')})`
    case 'deployed': return `deployed ${v('profile')}`
    case 'dhcp': return `DHCP ${v('kind')}${d.class ? ` ${v('class')}` : ''}${d.ip ? ` ${v('ip')}` : ''}`
    case 'tftp': return `TFTP ${v('file')} ${v('outcome')}`
    case 'phone-home': return `phone-home${d.hostname ? ` from ${v('hostname')}` : ''}`
    case 'power.step': return `power ${v('action')}: ${v('step')}${d.ok === false ? ' failed' : ''}`
    case 'config.applied': return `config reloaded (${v('changes')} change(s))`
    case 'config.rejected': {
      const errs = Array.isArray(d.errors) ? d.errors as { file?: unknown; line?: unknown; column?: unknown; message?: unknown }[] : []
      return `config edit rejected: ${errs.map((x) => `${printable(x.file)}:${printable(x.line)}:${printable(x.column)} ${printable(x.message)}`).join('; ')}`
    }
    default: return `${printable(e.type)}${d.path ? ` ${v('path')}` : ''}${d.action ? ` ${v('action')}` : ''}${d.reason ? `: ${v('reason')}` : ''}${d.error ? `: ${v('error')}` : ''}`
  }
}

export function watchLine(e: WatchEvent): string {
  const time = new Date(e.ts).toISOString().slice(11, 19)
  return `${time}  ${printable(e.machine ?? (e.type.startsWith('config.') ? 'config' : '-'), 40).padEnd(18)}  ${describeEvent(e)}\n`
}

export interface WatchOptions {
  server: string
  client: ApiClient
  write: (s: string) => void
  /** only this machine's events */
  machine?: string
  /** stop after this many events (scripts, tests) */
  count?: number
  signal?: AbortSignal
  /** first reconnect delay; doubles up to 10 s */
  retryMs?: number
}

/** Parses SSE text: complete frames out, the unfinished rest back. */
export function parseFrames(buf: string): { frames: { id?: string; event?: string; data?: string }[]; rest: string } {
  const frames: { id?: string; event?: string; data?: string }[] = []
  let i: number
  while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
    const block = buf.slice(0, i)
    buf = buf.slice(i + (buf[i] === '\r' ? 4 : 2))
    const f: { id?: string; event?: string; data?: string } = {}
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue
      const m = /^(id|event|data): ?(.*)$/.exec(line)
      if (m) f[m[1] as 'id' | 'event' | 'data'] = m[1] === 'data' && f.data !== undefined ? `${f.data}\n${m[2]}` : m[2]
    }
    frames.push(f)
  }
  return { frames, rest: buf.length > 1_000_000 ? '' : buf }
}

/** Follows the stream until `count` events were printed, the signal aborts, or the token is refused. */
export async function watchEvents(o: WatchOptions): Promise<void> {
  const auth = await o.client.authorization(false)
  let last: string | undefined
  let seen = 0
  let delay = o.retryMs ?? 1000
  const url = `${o.server.replace(/\/+$/, '')}/api/events/stream${o.machine ? `?machine=${encodeURIComponent(o.machine)}` : ''}`
  while (!o.signal?.aborted) {
    let res: Response
    try {
      res = await fetch(url, { headers: { accept: 'text/event-stream', ...auth, ...(last ? { 'last-event-id': last } : {}) }, signal: o.signal })
    } catch (err) {
      if (o.signal?.aborted) return
      o.write(`# cannot reach bootlab at ${printable(o.server)}: ${printable((err as Error).message)}; retrying in ${Math.round(delay / 1000)} s\n`)
      await sleep(delay, o.signal)
      delay = Math.min(delay * 2, 10_000)
      continue
    }
    if (res.status === 401 || res.status === 403) throw new ApiError(res.status, res.status === 401 ? 'authorization required' : 'invalid token')
    if (!res.ok || !res.body) {
      await res.body?.cancel()
      o.write(`# event stream: HTTP ${res.status}; retrying in ${Math.round(delay / 1000)} s\n`)
      await sleep(delay, o.signal)
      delay = Math.min(delay * 2, 10_000)
      continue
    }
    delay = o.retryMs ?? 1000
    const decoder = new TextDecoder()
    let buf = ''
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const r = parseFrames(buf + decoder.decode(chunk, { stream: true }))
        buf = r.rest
        for (const f of r.frames) {
          if (f.event === 'gap') o.write('# some events were missed while disconnected (more than the server replays)\n')
          if (f.id === undefined || f.data === undefined) continue
          last = f.id
          let e: WatchEvent
          try { e = JSON.parse(f.data) as WatchEvent } catch { continue }
          o.write(watchLine(e))
          if (o.count !== undefined && ++seen >= o.count) return
        }
      }
    } catch (err) {
      if (o.signal?.aborted) return
      void err
    }
    if (o.signal?.aborted) return
    o.write('# event stream closed; reconnecting\n')
    await sleep(delay, o.signal)
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
  })
}
