// The path jail shared by TFTP and HTTP file serving. A requested name is checked segment by
// segment (no "..", NUL, backslash, control characters), and its real path — after symlinks — must
// stay inside the real path of its root. Absolute names are the callers' business: both treat a
// leading "/" as the root itself.
import { realpath } from 'node:fs/promises'
import { join, sep } from 'node:path'

export class JailError extends Error {
  override name = 'JailError'
}

/**
 * Why one path segment may not be used under a root, or null when it is fine. Empty and "."
 * segments are left to the caller (TFTP skips them, HTTP refuses them).
 */
export function segmentProblem(segment: string): string | null {
  if (segment.includes('\0')) return 'NUL in file name'
  if (segment.includes('\\')) return 'backslash in file name'
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(segment)) return 'control character in file name'
  if (segment.includes('/')) return 'slash inside a path segment'
  if (segment === '..') return '".." in file name'
  return null
}

/** Throws JailError when a segment may not be used (see segmentProblem). */
export function checkSegment(segment: string): void {
  const why = segmentProblem(segment)
  if (why !== null) throw new JailError(why)
}

/** Whether `path` is `root` or below it (both already real, absolute paths). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep)
}

/**
 * The real path of `segments` under `root`, following symlinks only while they stay inside the
 * root. Throws JailError for a refused segment or when the result leaves the root; file system
 * errors (ENOENT, ENOTDIR, ELOOP, …) pass through for the caller to map.
 */
export async function resolveInRoot(root: string, segments: readonly string[]): Promise<string> {
  return resolveInRealRoot(await realpath(root), segments)
}

/** resolveInRoot for a root whose real path the caller already has. */
export async function resolveInRealRoot(realRoot: string, segments: readonly string[]): Promise<string> {
  for (const s of segments) checkSegment(s)
  const real = await realpath(join(realRoot, ...segments))
  if (!isInside(realRoot, real)) throw new JailError('path leaves the root')
  return real
}
