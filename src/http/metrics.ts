// GET /metrics: Prometheus text format. Each source is a function returning a stats object; its
// numeric fields become bootlab_<source>_<field>, and maps of numbers (e.g. drops by reason)
// become one metric with a `key` label. Process metrics come from prom-client, loaded at the first
// scrape (not at start: idle memory, docs/decisions.md); its GC and event-loop metrics count from then.
import { Router } from 'express'
import type { Registry } from 'prom-client'

export type StatsSource = () => object

const metricName = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^a-zA-Z0-9_]/g, '_').toLowerCase()
const labelValue = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

/** Flattens one stats object into exposition lines. */
export function exposition(prefix: string, stats: object): string[] {
  const out: string[] = []
  const walk = (name: string, v: unknown): void => {
    if (typeof v === 'number' && Number.isFinite(v)) {
      out.push(`# TYPE ${name} gauge`, `${name} ${v}`)
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>)
      if (entries.length > 0 && entries.every(([, x]) => typeof x === 'number')) {
        // a map of numbers keyed by data (reasons, states): one metric with a label
        out.push(`# TYPE ${name} gauge`)
        for (const [k, x] of entries) out.push(`${name}{key="${labelValue(k)}"} ${x as number}`)
        return
      }
      for (const [k, x] of entries) walk(`${name}_${metricName(k)}`, x)
    }
  }
  for (const [k, v] of Object.entries(stats)) walk(`bootlab_${metricName(prefix)}_${metricName(k)}`, v)
  return out
}

export function createMetricsRouter(sources: Record<string, StatsSource>): Router {
  let registry: Promise<Registry> | undefined
  const processMetrics = (): Promise<Registry> => registry ??= import('prom-client').then(({ Registry, collectDefaultMetrics }) => {
    const r = new Registry()
    collectDefaultMetrics({ register: r, prefix: 'bootlab_' })
    return r
  })
  const router = Router()
  router.get('/metrics', async (_req, res, next) => {
    try {
      const lines: string[] = []
      for (const [name, f] of Object.entries(sources)) lines.push(...exposition(name, f()))
      res.type('text/plain; version=0.0.4').send(`${lines.join('\n')}\n${await (await processMetrics()).metrics()}`)
    } catch (err) {
      next(err)
    }
  })
  return router
}
