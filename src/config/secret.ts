// A secret read from a file or an environment variable. It never prints itself: logging,
// JSON serialisation, string conversion and util.inspect all show "[secret]".
import { inspect } from 'node:util'

export class Secret {
  readonly #value: string
  /** where it came from, safe to show: "file /etc/bootlab/rack.secret" or "env RACK_PW" */
  readonly source: string

  constructor(value: string, source: string) {
    this.#value = value
    this.source = source
  }

  reveal(): string {
    return this.#value
  }

  /** true when both hold the same value (for change detection without revealing it) */
  equals(other: Secret | undefined): boolean {
    return other instanceof Secret && other.#value === this.#value
  }

  toString(): string {
    return '[secret]'
  }

  toJSON(): string {
    return '[secret]'
  }

  [inspect.custom](): string {
    return '[secret]'
  }
}
