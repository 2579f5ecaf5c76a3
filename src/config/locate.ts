// Maps a settings path (["machines", "pi-03", "power", "switch"]) to a line and column in the
// YAML source, so every error can point at the text the user has to change.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml'

export type PathSeg = string | number

export interface Position { line: number; column: number }

export class Locator {
  constructor(private readonly doc: Document, private readonly lines: LineCounter) {}

  private pos(offset: number | undefined): Position {
    if (offset === undefined) return { line: 1, column: 1 }
    const p = this.lines.linePos(offset)
    return { line: p.line, column: p.col }
  }

  /**
   * Position of the value at `path`, or of its key when `key` is set. When the path does not
   * exist (a missing required setting), the position of the deepest part that does exist.
   */
  at(path: readonly PathSeg[], opts: { key?: boolean } = {}): Position {
    let node: unknown = this.doc.contents
    let last: Position = this.pos((this.doc.contents as Node | null)?.range?.[0])
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!
      const isLast = i === path.length - 1
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg))
        if (!pair) return last
        const keyPos = this.pos((pair.key as Node | null)?.range?.[0])
        if (isLast && opts.key) return keyPos
        const value = pair.value as Node | null
        if (!value || !value.range) return keyPos
        last = isLast ? this.pos(value.range[0]) : keyPos
        node = value
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)] as Node | undefined
        if (!item?.range) return last
        last = this.pos(item.range[0])
        node = item
      } else {
        return last
      }
    }
    return last
  }
}

export function pathString(path: readonly PathSeg[]): string {
  return path.map((s) => (typeof s === 'number' ? `[${s}]` : s)).join('.').replace(/\.\[/g, '[')
}
