// SSH pieces shared by the Cisco driver and the graceful shutdown: host key pinning,
// the legacy algorithm set, and turning ssh2 errors into PowerErrors with clear words.
import { createHash } from 'node:crypto'
import type { ConnectConfig } from 'ssh2'
import { PowerError } from './types.js'

/** OpenSSH-style fingerprint of a raw public key blob: "SHA256:" + unpadded base64. */
export function sshFingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '')
}

function normaliseFingerprint(fp: string): string {
  const s = fp.trim()
  const body = s.toUpperCase().startsWith('SHA256:') ? s.slice(7) : s
  return body.replace(/=+$/, '')
}

export interface HostKeyCheck {
  verifier: (key: Buffer) => boolean
  /** the fingerprint presented, once the server sent one */
  seen(): string | undefined
  /** true when the last key presented did not match */
  mismatch(): boolean
}

/** A hostVerifier that accepts exactly the pinned key; unknown or changed keys are refused. */
export function pinnedHostKey(pinned: string): HostKeyCheck {
  const want = normaliseFingerprint(pinned)
  let seen: string | undefined
  let bad = false
  return {
    verifier: (key: Buffer) => {
      seen = sshFingerprint(key)
      bad = want === '' || normaliseFingerprint(seen) !== want
      return !bad
    },
    seen: () => seen,
    mismatch: () => bad,
  }
}

/**
 * Algorithm lists for ssh2. Without `legacy`, ssh2's modern defaults minus the SHA-1 host key
 * signature and MAC; with it, the set IOS 12.2 / 15.x needs is appended (opt-in per switch).
 */
export function sshAlgorithms(legacy: boolean): NonNullable<ConnectConfig['algorithms']> {
  if (!legacy) {
    return {
      serverHostKey: { append: [], prepend: [], remove: ['ssh-rsa'] },
      hmac: { append: [], prepend: [], remove: ['hmac-sha1'] },
    }
  }
  return {
    kex: { append: ['diffie-hellman-group14-sha1', 'diffie-hellman-group-exchange-sha1', 'diffie-hellman-group1-sha1'], prepend: [], remove: [] },
    cipher: { append: ['aes128-cbc', 'aes256-cbc', 'aes192-cbc', '3des-cbc'], prepend: [], remove: [] },
    hmac: { append: ['hmac-sha1', 'hmac-sha1-96'], prepend: [], remove: [] },
    serverHostKey: { append: ['ssh-rsa'], prepend: [], remove: [] },
  }
}

/** Classify an ssh2 connection error. */
export function sshError(err: unknown, host: string, hostKey: HostKeyCheck, legacyOffered: boolean): PowerError {
  const msg = err instanceof Error ? err.message : String(err)
  if (hostKey.mismatch()) {
    return new PowerError('hostkey', `host key of ${host} is ${hostKey.seen()}, which is not the pinned host_key; refusing to connect`)
  }
  if (/authentication methods failed/i.test(msg)) return new PowerError('auth', `authentication to ${host} failed (wrong username or password?)`)
  if (/no matching/i.test(msg)) {
    const hint = legacyOffered ? '' : ' (old IOS needs legacy_algorithms: true)'
    return new PowerError('connect', `SSH handshake with ${host} failed: ${msg}${hint}`, { retryable: false })
  }
  if (/timed out/i.test(msg)) return new PowerError('timeout', `SSH to ${host}: ${msg}`, { applied: false })
  return new PowerError('connect', `SSH to ${host}: ${msg}`, { applied: false })
}
