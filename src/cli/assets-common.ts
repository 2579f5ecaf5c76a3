// Options and folder resolution shared by `bootlab fetch` and `bootlab images`.
import { Command } from 'commander'
import { resolve, join } from 'node:path'
import { existsSync } from 'node:fs'
import { loadConfig } from '../config/load.js'
import { formatIssue, type Config } from '../config/types.js'
import type { AssetRoots } from '../assets/layout.js'
import { DEFAULT_CONFIG } from './options.js'

export interface RootFlags {
  config: string
  stateDir?: string
  firmwareDir?: string
  imagesDir?: string
}

export function rootOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (its state_dir and paths say where files go)', process.env.BOOTLAB_CONFIG ?? DEFAULT_CONFIG)
    .option('--state-dir <dir>', 'use this state folder instead of the config file\'s (firmware/ and images/ inside it)')
    .option('--firmware-dir <dir>', 'firmware folder (default: the config\'s server.paths.firmware)')
    .option('--images-dir <dir>', 'images folder (default: the config\'s server.paths.images)')
}

export class RootsError extends Error {}

/** Folders from the flags, else from the config file. The config is returned when it was read. */
export async function resolveRoots(o: RootFlags): Promise<{ roots: AssetRoots; config: Config | null }> {
  let config: Config | null = null
  if (!o.stateDir || existsSync(o.config)) {
    const r = await loadConfig(o.config, { readSecrets: false })
    if (!r.ok) {
      if (!o.stateDir) throw new RootsError(`${r.errors.map(formatIssue).join('\n')}\n(fix the config, or give --state-dir)`)
    } else {
      config = r.config
    }
  }
  const stateDir = o.stateDir ? resolve(o.stateDir) : config!.server.state_dir
  const roots: AssetRoots = {
    stateDir,
    firmware: o.firmwareDir ? resolve(o.firmwareDir) : o.stateDir || !config ? join(stateDir, 'firmware') : config.server.paths.firmware,
    images: o.imagesDir ? resolve(o.imagesDir) : o.stateDir || !config ? join(stateDir, 'images') : config.server.paths.images,
  }
  return { roots, config }
}
