// Name-indexed maps (profiles, machines, switches) without the Object prototype: a profile named
// "toString" that is not defined is unknown, and "__proto__" can never replace a map's prototype.

/** Names refused for profiles, machines and switches. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** The entry called `name`, only when the map itself has it (never an inherited property). */
export function own<T>(map: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(map, name) ? map[name] : undefined
}

/** An empty map with no prototype, for names that come from the config or the network. */
export function nameMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}
