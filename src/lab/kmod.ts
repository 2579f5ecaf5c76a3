// Kernel module dependency resolution for an unpacked Debian linux-image package.
// The package ships no modules.dep (depmod runs at install time), so dependencies are read from
// each module's own `.modinfo` ELF section ("depends=a,b"), and built-in modules from
// modules.builtin.
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'

/** Module name as the kernel sees it: file name without .ko, dashes as underscores. */
export function moduleName(file: string): string {
  return file.replace(/^.*\//, '').replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_')
}

/** The key=value strings of a kernel module's .modinfo section (ELF64 little-endian only). */
export function readModinfo(ko: Buffer): Map<string, string[]> {
  if (ko.length < 64 || ko.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file')
  if (ko[4] !== 2 || ko[5] !== 1) throw new Error('only ELF64 little-endian modules are supported')
  const shoff = Number(ko.readBigUInt64LE(0x28))
  const shentsize = ko.readUInt16LE(0x3a)
  const shnum = ko.readUInt16LE(0x3c)
  const shstrndx = ko.readUInt16LE(0x3e)
  const section = (i: number): { name: number; offset: number; size: number } => {
    const base = shoff + i * shentsize
    return { name: ko.readUInt32LE(base), offset: Number(ko.readBigUInt64LE(base + 0x18)), size: Number(ko.readBigUInt64LE(base + 0x20)) }
  }
  const strtab = section(shstrndx)
  const out = new Map<string, string[]>()
  for (let i = 0; i < shnum; i++) {
    const s = section(i)
    const nameEnd = ko.indexOf(0, strtab.offset + s.name)
    if (ko.toString('latin1', strtab.offset + s.name, nameEnd) !== '.modinfo') continue
    for (const entry of ko.subarray(s.offset, s.offset + s.size).toString('latin1').split('\0')) {
      const eq = entry.indexOf('=')
      if (eq <= 0) continue
      const key = entry.slice(0, eq)
      out.set(key, [...(out.get(key) ?? []), entry.slice(eq + 1)])
    }
    return out
  }
  throw new Error('no .modinfo section')
}

function walk(dir: string, found: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p, found)
    else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) found.push(p)
  }
  return found
}

/**
 * Files (relative to modulesDir, e.g. "kernel/drivers/net/virtio_net.ko") to load, in load order,
 * for the wanted modules and everything they depend on. Modules built into the kernel are skipped.
 */
export function resolveModules(modulesDir: string, wanted: string[]): string[] {
  const byName = new Map<string, string>()
  for (const f of walk(join(modulesDir, 'kernel'))) byName.set(moduleName(f), f)
  const builtinFile = join(modulesDir, 'modules.builtin')
  const builtin = new Set(existsSync(builtinFile) ? readFileSync(builtinFile, 'utf8').split('\n').filter(Boolean).map(moduleName) : [])
  const order: string[] = []
  const visiting = new Set<string>()
  const done = new Set<string>()
  const visit = (name: string): void => {
    const n = name.replace(/-/g, '_')
    if (done.has(n)) return
    const file = byName.get(n)
    if (!file) {
      if (builtin.has(n)) { done.add(n); return }
      throw new Error(`kernel module ${n} is neither a module nor built in (${modulesDir})`)
    }
    if (/\.ko\.(xz|zst|gz)$/.test(file)) throw new Error(`compressed kernel modules are not supported: ${file}`)
    if (visiting.has(n)) throw new Error(`kernel module dependency cycle at ${n}`)
    visiting.add(n)
    const deps = (readModinfo(readFileSync(file)).get('depends') ?? []).flatMap((d) => d.split(',')).filter(Boolean)
    for (const d of deps) visit(d)
    visiting.delete(n)
    done.add(n)
    order.push(relative(modulesDir, file))
  }
  for (const w of wanted) visit(w)
  return order
}
