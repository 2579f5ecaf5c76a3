// HTML of the status page, server-rendered. Every value is escaped: machine names, hostnames,
// file names and failure reasons come from the network or the YAML. No external assets: the style
// sheet and the small live-update script are served by bootlab itself (assets.ts).
import type { ConfigView, MachineView, PowerState, ServerView } from './source.js'
import { STAGES, type Boot, type Step } from './timeline.js'

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]!)
}

/** Everything a page needs besides its main part. */
export interface PageContext {
  server: ServerView
  config: ConfigView
  /** a logged-in browser session: its CSRF token; undefined for bearer, public or anonymous readers */
  csrf?: string
  /** reading without logging in (public_read) */
  publicView?: boolean
  /** the newest event id when the page was rendered: the live script resumes the stream from it */
  lastEventId?: number
  now: number
}

export interface Row {
  m: MachineView
  powerState: PowerState | null
  powerControl: boolean
  progress: { reached: number; of: number; label: string }
}

export const STATE_WORDS: Record<string, string> = {
  unknown: 'unknown', discovered: 'discovered', ready: 'ready', assigned: 'assigned', cycling: 'power cycling',
  netbooting: 'netbooting', installing: 'installing', deployed: 'deployed', failed: 'failed',
}

/** /machines/<name> for configured machines, /machines/<mac> for discovered ones */
export function machinePath(m: Pick<MachineView, 'name' | 'mac'>): string {
  return `/machines/${encodeURIComponent(m.name ?? m.mac)}`
}

export function rowId(mac: string): string {
  return `m-${mac.replace(/[^0-9a-f]/gi, '')}`
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`
  const s = ms / 1000
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

export function ago(iso: string | null, now: number): string {
  if (!iso) return 'never'
  if (now - Date.parse(iso) < 1000) return 'just now'
  return `${duration(Math.max(0, now - Date.parse(iso))).replace(/ \d+ s$/, '')} ago`
}

function time(iso: string | null, now: number): string {
  return iso ? `<time datetime="${esc(iso)}" data-ago>${esc(ago(iso, now))}</time>` : '<span class="dim">never</span>'
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19)
}

export function stateBadge(m: Pick<MachineView, 'state' | 'state_reason'>): string {
  const words = STATE_WORDS[m.state] ?? m.state
  return `<span class="state s-${esc(m.state)}" title="${esc(m.state_reason ?? '')}">${esc(words)}</span>`
}

function progressBar(p: Row['progress'], state: string): string {
  const segs = STAGES.map(([, label], i) => `<i class="${i < p.reached ? 'on' : ''}" title="${esc(label)}"></i>`).join('')
  const label = p.reached > 0 ? `${p.reached}/${p.of} ${p.label}` : '—'
  return `<span class="progress p-${esc(state)}" aria-label="boot progress ${esc(label)}">${segs}</span><span class="plabel">${esc(label)}</span>`
}

function powerCell(r: Row): string {
  if (!r.m.power) return '<span class="dim">—</span>'
  const st = r.powerState ?? 'unknown'
  return `<span class="power pw-${esc(st)}">${esc(st)}</span>${r.powerControl ? '' : ' <span class="dim" title="protected port or no power control">🔒</span>'}`
}

/** One row of the machines table (also sent on the event stream, so the page updates in place). */
export function machineRow(r: Row, now: number): string {
  const m = r.m
  const name = m.name
    ? `<a href="${esc(machinePath(m))}">${esc(m.name)}</a>`
    : `<a href="${esc(machinePath(m))}" class="disc">discovered</a>`
  const step = m.state === 'netbooting' && m.netboot_step ? `<div class="dim small">${esc(m.netboot_step)}</div>` : ''
  const reason = m.state === 'failed' && m.state_reason ? `<div class="reason small">${esc(m.state_reason)}</div>` : ''
  return `<tr id="${rowId(m.mac)}" class="${m.configured ? '' : 'is-disc'}">`
    + `<td data-label="Name">${name}</td>`
    + `<td data-label="Arch">${esc(m.arch ?? '—')}</td>`
    + `<td data-label="MAC"><code>${esc(m.mac)}</code></td>`
    + `<td data-label="Serial">${m.serial ? `<code>${esc(m.serial)}</code>` : '<span class="dim">—</span>'}</td>`
    + `<td data-label="IP">${m.ip ? `<code>${esc(m.ip)}</code>` : '<span class="dim">—</span>'}</td>`
    + `<td data-label="Profile">${esc(m.profile ?? m.boot_profile ?? '—')}${m.profile && m.boot_profile && m.boot_profile !== m.profile ? ` <span class="dim small">next: ${esc(m.boot_profile)}</span>` : ''}</td>`
    + `<td data-label="State">${stateBadge(m)}${step}${reason}</td>`
    + `<td data-label="Boot">${progressBar(r.progress, m.state)}</td>`
    + `<td data-label="Last seen">${time(m.last_seen, now)}</td>`
    + `<td data-label="Power">${powerCell(r)}</td>`
    + '</tr>'
}

/** A ready YAML entry for a discovered machine: copy it into the config file and pick a profile. */
export function yamlSnippet(m: MachineView, profiles: string[]): string {
  const name = m.serial ? `pi-${m.serial.slice(-4)}` : `node-${m.mac.replace(/:/g, '').slice(-6)}`
  const lines = ['machines:', `  ${name}:`, `    mac: "${m.mac}"`]
  if (m.serial) lines.push(`    serial: "${m.serial}"`)
  if (m.arch) lines.push(`    arch: ${m.arch}`)
  lines.push(`    # profile: ${profiles[0] ?? 'PROFILE'}`)
  return lines.join('\n')
}

export function banner(c: ConfigView): string {
  if (c.ok) return '<div id="banner"></div>'
  const items = c.errors.map((e) => `<li><code>${esc(e.line > 0 ? `${e.file}:${e.line}:${e.column}` : e.file)}</code>${e.path ? ` <b>${esc(e.path)}</b>` : ''} ${esc(e.message)}</li>`).join('')
  return `<div id="banner" class="banner" role="alert"><strong>The last edit of the config file was rejected</strong> — the previous config keeps running.<ul>${items}</ul></div>`
}

function header(ctx: PageContext): string {
  const s = ctx.server
  const dhcp = s.dhcp.mode === 'off' ? 'DHCP off' : `DHCP ${s.dhcp.mode}${s.dhcp.interface ? ` on ${s.dhcp.interface}` : ''}`
  const cfg = ctx.config.ok ? '<span class="ok">config ok</span>' : '<span class="bad">config error</span>'
  const who = ctx.csrf
    ? `<form method="post" action="/logout" class="inline">${csrfField(ctx.csrf)}<button class="link">log out</button></form>`
    : ctx.publicView ? '<a href="/login">log in</a>' : ''
  return `<header><a href="/" class="brand">bootlab</a><span class="meta">v${esc(s.version)}</span>`
    + `<span class="meta">up <span data-uptime="${s.started}">${esc(duration(ctx.now - s.started))}</span></span>`
    + `<span class="meta">${esc(dhcp)}</span><span class="meta" id="cfgstate">${cfg}</span>`
    + `<span class="live" id="live" title="live updates">●</span><span class="who">${who}</span></header>`
    + banner(ctx.config)
}

export function csrfField(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${esc(csrf)}">`
}

export function layout(ctx: PageContext, title: string, main: string, live: { machine?: string } = {}): string {
  return '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    + '<meta name="viewport" content="width=device-width, initial-scale=1">'
    + `<title>${esc(title)} · bootlab</title><link rel="stylesheet" href="/status/assets/status.css"><link rel="icon" href="/status/assets/icon.svg">`
    + '<script src="/status/assets/status.js" defer></script></head>'
    + `<body data-live="/api/events/stream"${live.machine ? ` data-machine="${esc(live.machine)}"` : ''}${ctx.lastEventId !== undefined ? ` data-since="${ctx.lastEventId}"` : ''}>`
    + header(ctx) + `<main>${main}</main></body></html>`
}

/** Below the table: one YAML block for every discovered machine, ready to paste. */
function discoveredBlock(rows: Row[], profiles: string[]): string {
  const disc = rows.filter((r) => !r.m.configured)
  if (disc.length === 0) return ''
  const yaml = ['machines:', ...disc.map((r) => yamlSnippet(r.m, profiles).split('\n').slice(1).join('\n'))].join('\n')
  return `<details class="card discovered"><summary>${disc.length} discovered machine${disc.length > 1 ? 's' : ''} not in the config file: YAML to add ${disc.length > 1 ? 'them' : 'it'}</summary>`
    + `<pre class="yaml">${esc(yaml)}</pre></details>`
}

export function listPage(ctx: PageContext, rows: Row[], notice?: string, profiles: string[] = []): string {
  const counts = new Map<string, number>()
  for (const r of rows) counts.set(r.m.state, (counts.get(r.m.state) ?? 0) + 1)
  const summary = [...counts].map(([s, n]) => `<span class="state s-${esc(s)}">${n} ${esc(STATE_WORDS[s] ?? s)}</span>`).join(' ')
  const body = rows.length === 0
    ? '<tr class="empty"><td colspan="10">No machines yet. Add them under <code>machines:</code> in the config file, or let one netboot to see it here.</td></tr>'
    : rows.map((r) => machineRow(r, ctx.now)).join('')
  return layout(ctx, 'machines', `${notice ? `<p class="notice">${esc(notice)}</p>` : ''}`
    + `<div class="titlebar"><h1>Machines <span class="count">${rows.length}</span></h1><div class="summary">${summary}</div></div>`
    + '<div class="tablewrap"><table class="machines"><thead><tr><th>Name</th><th>Arch</th><th>MAC</th><th>Serial</th><th>IP</th><th>Profile</th><th>State</th><th>Boot</th><th>Last seen</th><th>Power</th></tr></thead>'
    + `<tbody id="machines">${body}</tbody></table></div>${discoveredBlock(rows, profiles)}`)
}

function stepRow(st: Step, next: Step | undefined, boot: Boot): string {
  const dur = st.duration_ms ?? ((next?.start ?? boot.end) - st.start)
  const n = st.count > 1 ? ` <span class="dim small">×${st.count}</span>` : ''
  return `<li class="step k-${esc(st.kind)}"><span class="t">${clock(st.start)}</span>`
    + `<span class="what">${esc(st.label)}${n}</span><span class="dur">${next || st.duration_ms !== undefined ? esc(duration(dur)) : ''}</span>`
    + `${st.detail ? `<span class="detail">${esc(st.detail)}</span>` : ''}</li>`
}

const OUTCOME: Record<Boot['outcome'], string> = { deployed: 'deployed', failed: 'failed', local: 'local boot', running: 'in progress' }

export function timeline(list: Boot[]): string {
  if (list.length === 0) return '<div id="timeline"><p class="dim">No boots recorded yet.</p></div>'
  const items = [...list].reverse().map((b, i) => {
    const steps = b.steps.map((st, j) => stepRow(st, b.steps[j + 1], b)).join('')
    return `<section class="boot o-${b.outcome}"><h3>${i === 0 ? 'Latest boot' : 'Earlier boot'} <span class="dim">${esc(new Date(b.start).toISOString().replace('T', ' ').slice(0, 19))} UTC</span>`
      + `<span class="outcome">${esc(OUTCOME[b.outcome])} · ${esc(duration(b.end - b.start))}</span></h3><ol class="steps">${steps}</ol></section>`
  }).join('')
  return `<div id="timeline">${items}</div>`
}

function actions(ctx: PageContext, r: Row, profiles: string[]): string {
  const m = r.m
  if (!ctx.csrf) return ctx.publicView ? '<p class="dim"><a href="/login">Log in</a> to assign profiles or switch power.</p>' : ''
  const csrf = csrfField(ctx.csrf)
  const path = esc(machinePath(m))
  const parts: string[] = []
  if (m.configured) {
    const options = profiles.map((p) => `<option${p === m.profile ? ' selected' : ''}>${esc(p)}</option>`).join('')
    parts.push(`<form method="post" action="${path}/assign" class="act">${csrf}<label>Profile <select name="profile">${options}</select></label>`
      + (r.powerControl ? '<label class="check"><input type="checkbox" name="cycle" value="1"> power cycle now</label>' : '')
      + '<button>Assign</button></form>')
    if (r.powerControl) {
      parts.push(`<form method="post" action="${path}/power" class="act">${csrf}<span class="lbl">Power</span>`
        + '<button name="action" value="cycle">Cycle</button><button name="action" value="on">On</button><button name="action" value="off" class="danger">Off</button></form>')
    } else if (m.power) {
      parts.push('<p class="dim">Power control: this port is protected (or power control is not set up); no power actions here.</p>')
    }
  } else {
    parts.push(`<form method="post" action="${path}/forget" class="act">${csrf}<button class="danger">Forget this machine</button></form>`)
  }
  return `<div class="actions">${parts.join('')}</div>`
}

export function machinePage(ctx: PageContext, r: Row, boots: Boot[], profiles: string[], notice?: { ok: boolean; text: string }): string {
  const m = r.m
  const title = m.name ?? m.mac
  const facts: [string, string][] = [
    ['State', `${stateBadge(m)} <span class="dim small">since ${time(m.state_since, ctx.now)}</span>${m.state_reason ? `<div class="reason">${esc(m.state_reason)}</div>` : ''}`],
    ['MAC', `<code>${esc(m.mac)}</code>`],
    ['Serial', m.serial ? `<code>${esc(m.serial)}</code>` : '—'],
    ['Arch', esc(m.arch ?? '—')],
    ['IP', m.ip ? `<code>${esc(m.ip)}</code>` : '—'],
    ['Profile', `${esc(m.profile ?? '—')}${m.boot_profile && m.boot_profile !== m.profile ? ` <span class="dim">(next boot: ${esc(m.boot_profile)})</span>` : ''}`],
    ['Deployment', m.deployment ? `#${m.deployment.id} ${esc(m.deployment.profile)} <span class="dim">(${esc(m.deployment.state)})</span>` : '—'],
    ['Deployed', m.deployed_at ? `${esc(m.applied_profile ?? '')} ${time(m.deployed_at, ctx.now)}` : '—'],
    ['Boot', progressBar(r.progress, m.state)],
    ['Last seen', time(m.last_seen, ctx.now)],
    ['Power', powerCell(r)],
  ]
  const dl = facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')
  const disc = m.configured ? '' : '<div class="card"><h2>Add it to the config</h2><p>This machine netbooted but is not in the config file. Add this entry to the file (under <code>machines:</code>) and pick its profile.</p>'
    + `<pre class="yaml">${esc(yamlSnippet(m, profiles))}</pre></div>`
  const note = notice ? `<p class="notice ${notice.ok ? '' : 'bad'}">${esc(notice.text)}</p>` : ''
  return layout(ctx, title, `${note}<div class="titlebar"><h1><a href="/" class="back">←</a> ${esc(title)}${m.configured ? '' : ' <span class="state s-discovered">discovered</span>'}</h1></div>`
    + `<div class="grid"><div class="side"><div class="card"><dl>${dl}</dl>${actions(ctx, r, profiles)}</div>${disc}</div>`
    + `<div class="boots"><h2>Boots</h2>${timeline(boots)}</div></div>`, { machine: m.name ?? m.mac })
}

export function loginPage(error?: string): string {
  return '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
    + '<title>log in · bootlab</title><link rel="stylesheet" href="/status/assets/status.css"><link rel="icon" href="/status/assets/icon.svg"></head><body class="login">'
    + '<main><form method="post" action="/login" class="card loginform"><h1>bootlab</h1>'
    + '<p>Machine details are for the lab\'s owner. Log in with the API token: the file <code>api-token</code> in bootlab\'s state directory on the bootlab host (by default <code>/var/lib/bootlab/api-token</code>).</p>'
    + `${error ? `<p class="notice bad">${esc(error)}</p>` : ''}`
    + '<label>API token <input type="password" name="token" autocomplete="current-password" required autofocus></label>'
    + '<button>Log in</button></form></main></body></html>'
}
