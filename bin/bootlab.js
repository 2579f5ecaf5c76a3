#!/usr/bin/env node
// Runs the compiled CLI (dist/, made by `npm run build`); in a source checkout without a build,
// runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs'

const dist = new URL('../dist/cli/main.js', import.meta.url)
if (existsSync(dist) && !process.env.BOOTLAB_FROM_SOURCE) {
  await import(dist.href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import(new URL('../src/cli/main.ts', import.meta.url).href)
}
