// The power part of the HTTP API, framework-free so the HTTP module wires it in a few lines:
//   GET  /api/machines/:name/power                 → 200 PortReport
//   POST /api/machines/:name/power {"action": …}   → 200 PowerOutcome (ok) | 502 PowerOutcome (failed)
// Errors: 404 unknown machine, 400 bad action / no power: section, 403 protected port,
// 502 the switch could not be read. Bodies never contain secrets.
import type { PowerService } from './service.js'
import { PowerError, errorMessage } from './types.js'

export interface ApiAnswer {
  status: number
  body: unknown
}

const ACTIONS = ['cycle', 'on', 'off'] as const

function errorAnswer(err: unknown): ApiAnswer {
  if (err instanceof PowerError) {
    if (err.kind === 'refused') return { status: 403, body: { error: err.message } }
    if (err.kind === 'config') return { status: /^no machine/.test(err.message) ? 404 : 400, body: { error: err.message } }
    return { status: 502, body: { error: err.message } }
  }
  return { status: 500, body: { error: errorMessage(err) } }
}

export async function powerApi(service: PowerService, method: string, machine: string, body?: unknown): Promise<ApiAnswer> {
  try {
    if (method === 'GET') return { status: 200, body: await service.status(machine) }
    if (method !== 'POST') return { status: 405, body: { error: 'use GET or POST' } }
    const action = (body as { action?: unknown } | undefined)?.action
    if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
      return { status: 400, body: { error: 'body must be {"action": "cycle" | "on" | "off"}' } }
    }
    const a = action as (typeof ACTIONS)[number]
    const out = a === 'cycle' ? await service.cycle(machine, 'API request')
      : a === 'on' ? await service.on(machine, 'API request') : await service.off(machine, 'API request')
    return { status: out.ok ? 200 : 502, body: out }
  } catch (err) {
    return errorAnswer(err)
  }
}
