// `npm run bench [-- area …]`: runs bench/<area>.ts for each named area (all when none is named).
// Each area module exports `run(args): Promise<string>` returning a Markdown section, which is written
// into bench/RESULTS.md between <!-- area:begin --> and <!-- area:end --> markers. Words after an
// area's name that name no area are its arguments (`npm run bench -- storm 200`).
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
const resultsFile = join(here, 'RESULTS.md')

async function areas(): Promise<string[]> {
  const files = await readdir(here)
  return files.filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_')).map((f) => f.slice(0, -3)).sort()
}

async function main(): Promise<void> {
  const all = await areas()
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
  const argsOf = new Map<string, string[]>()
  let current: string | undefined
  for (const w of wanted) {
    if (all.includes(w)) { current = w; argsOf.set(w, []); continue }
    if (current === undefined) {
      console.error(`no benchmark named "${w}" (have: ${all.join(', ') || 'none'})`)
      process.exitCode = 2
      return
    }
    argsOf.get(current)!.push(w)
  }
  const chosen = argsOf.size > 0 ? [...argsOf.keys()] : all
  for (const area of chosen) {
    console.log(`== bench ${area}`)
    const mod = (await import(pathToFileURL(join(here, `${area}.ts`)).href)) as { run: (args: string[]) => Promise<string> }
    const section = (await mod.run(argsOf.get(area) ?? [])).trim()
    console.log(section)
    if (section === '') continue // a partial run (e.g. one storm scenario): printed, not recorded
    const begin = `<!-- ${area}:begin -->`
    const end = `<!-- ${area}:end -->`
    const block = `${begin}\n${section}\n${end}`
    // read just before writing: a long run must not undo what changed in the file meanwhile
    let results = ''
    try { results = await readFile(resultsFile, 'utf8') } catch { results = '# Benchmark results\n\nWritten by `npm run bench`; every table compares bootlab with the reference server measured in the same run on the same machine.\n' }
    const re = new RegExp(`${begin}[\\s\\S]*?${end}`)
    results = re.test(results) ? results.replace(re, block) : `${results.trimEnd()}\n\n${block}\n`
    await writeFile(resultsFile, results)
  }
}

await main()
