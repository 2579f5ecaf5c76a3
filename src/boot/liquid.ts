// One liquidjs engine for every template bootlab renders. Templates cannot run code, cannot read
// files ({% include %} only sees an empty in-memory map), and have render/memory limits.
import { Liquid } from 'liquidjs'

export function createLiquid(): Liquid {
  return new Liquid({
    templates: {},
    // date filters format in en-US whatever the host's locale; and liquidjs then does not build an
    // Intl.DateTimeFormat at start to find the default locale (that maps ~4.5 MB of ICU data:
    // idle memory, docs/decisions.md)
    locale: 'en-US',
    strictVariables: true,
    strictFilters: true,
    lenientIf: true,
    ownPropertyOnly: true,
    greedy: false,
    parseLimit: 1_000_000,
    renderLimit: 2_000,
    memoryLimit: 64 * 1024 * 1024,
  })
}
