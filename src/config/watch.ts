// Hot reload: watches the config file (editors that save by writing a new file and renaming it
// included), debounces, re-validates, and either applies the new config with change events or
// keeps the last good one and reports the errors.
import { watch, type FSWatcher } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { parseConfig, readConfigText, type LoadOptions } from './load.js'
import { diffConfig, type ConfigChange } from './diff.js'
import type { Config, ConfigIssue } from './types.js'

export interface ConfigStatus {
  ok: boolean
  file: string
  /** when the running config was loaded (ISO time) */
  loaded_at: string
  /** sha256 of the text of the running config */
  version: string
  /** errors of the latest edit, when it was rejected (the previous config keeps running) */
  errors: ConfigIssue[]
  warnings: ConfigIssue[]
  rejected_at?: string
}

export interface ConfigEvents {
  /** a valid edit was applied */
  applied: [config: Config, changes: ConfigChange[]]
  /** an edit was rejected; the previous config stays in force */
  rejected: [errors: ConfigIssue[]]
}

export class ConfigSource extends EventEmitter<ConfigEvents> {
  #config: Config
  #status: ConfigStatus
  #watcher: FSWatcher | undefined
  #timer: NodeJS.Timeout | undefined
  #poll: NodeJS.Timeout | undefined
  #reloading: Promise<void> = Promise.resolve()
  /** hash of the text last looked at, valid or not */
  #seen: string
  readonly file: string

  constructor(file: string, initial: Config, text: string, private readonly opts: LoadOptions & { debounceMs?: number; pollMs?: number; displayName?: string } = {}) {
    super()
    this.file = resolve(file)
    this.#config = initial
    this.#seen = hash(text)
    this.#status = { ok: true, file: this.file, loaded_at: new Date().toISOString(), version: hash(text), errors: [], warnings: [] }
  }

  get config(): Config {
    return this.#config
  }

  get status(): ConfigStatus {
    return this.#status
  }

  /** Watches the file's folder, so a save by rename (vim, sed -i, many editors) is seen too. */
  start(): void {
    const name = basename(this.file)
    const schedule = (): void => {
      if (this.#timer) clearTimeout(this.#timer)
      this.#timer = setTimeout(() => { void this.reload() }, this.opts.debounceMs ?? 150)
    }
    this.#watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name) schedule()
    })
    this.#watcher.on('error', () => { /* the folder went away; polling below still checks */ })
    // belt and braces: network filesystems and some container mounts miss inotify events. The poll
    // stats the file and reads it only when its inode, size, mtime or ctime moved (reading it every
    // second made an idle bootlab allocate all the time: docs/decisions.md)
    let seen = ''
    this.#poll = setInterval(() => {
      void stat(this.file).then((s) => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`, () => 'missing').then((sig) => {
        if (sig === seen) return
        seen = sig
        void this.reload()
      })
    }, this.opts.pollMs ?? 1000)
    this.#poll.unref()
  }

  stop(): void {
    this.#watcher?.close()
    if (this.#timer) clearTimeout(this.#timer)
    if (this.#poll) clearInterval(this.#poll)
  }

  /** Re-reads the file; does nothing when its text is unchanged. Reloads never overlap. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(() => this.#reloadOnce()).catch(() => {})
    return this.#reloading
  }

  async #reloadOnce(): Promise<void> {
    let text: string
    try {
      text = await readConfigText(this.file)
    } catch {
      return // mid-rename or deleted: keep running, try again on the next event
    }
    const version = hash(text)
    if (version === this.#seen) return
    this.#seen = version
    let r: ReturnType<typeof parseConfig>
    try {
      r = parseConfig(text, this.opts.displayName ?? this.file, this.opts)
    } catch (err) {
      // parseConfig reports problems rather than throwing; should it throw anyway, the edit is still rejected visibly
      r = { ok: false, errors: [{ file: this.opts.displayName ?? this.file, line: 0, column: 0, path: '', message: `cannot be checked: ${(err as Error).message}` }], warnings: [] }
    }
    if (!r.ok) {
      this.#status = { ...this.#status, ok: false, errors: r.errors, warnings: r.warnings, rejected_at: new Date().toISOString() }
      this.emit('rejected', r.errors)
      return
    }
    const prev = this.#config
    this.#config = r.config
    this.#status = { ok: true, file: this.file, loaded_at: new Date().toISOString(), version, errors: [], warnings: r.warnings }
    this.emit('applied', r.config, diffConfig(prev, r.config))
  }
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}
