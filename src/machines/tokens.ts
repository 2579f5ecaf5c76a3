// Per-boot cloud-init tokens: minted when a boot script is served (the token goes into that
// machine's command line), looked up by the NoCloud routes. Only the SHA-256 is stored; a token is
// valid while its deployment is the machine's current one (the store keeps BOOT_TOKENS_KEPT).
//
// A token is bound to the address bootlab saw the machine use (DHCP, TFTP: the machine row's ip),
// or, when it saw none yet, to the address the script was asked from; a script asked for a MAC from
// another address than the one seen gets no token. A token used for a cloud-init fetch is never
// evicted by newer ones (docs/security.md).
import { createHash, randomBytes } from 'node:crypto'
import type { DeploymentRow, Store } from '../store/store.js'

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** cloud-init's instance-id of a deployment: a new deployment is a new instance. */
export function instanceId(d: Pick<DeploymentRow, 'machine' | 'id'>): string {
  return `${d.machine}-${d.id}`
}

export type IssueResult =
  | { ok: true; token: string; instanceId: string }
  /** no-deployment: nothing to deploy; address: asked from another address than the machine's; in-use: every kept token is in use */
  | { ok: false; reason: 'no-deployment' | 'address' | 'in-use' | 'rate' }

/**
 * A fresh per-boot token for the machine's current deployment, asked for from `ip`; `allow` (the
 * mint rate limit) is asked only when a token would be minted; `configuredIp`: the machine's `ip:`.
 */
export function issueToken(store: Store, mac: string, ip?: string, allow: () => boolean = () => true, configuredIp?: string): IssueResult {
  return store.tx((): IssueResult => {
    const dep = store.currentDeployment(mac)
    if (!dep) return { ok: false, reason: 'no-deployment' }
    // a configured `ip:` is a fact; else what DHCP/TFTP showed
    const seen = configuredIp ?? store.machine(mac)?.ip ?? null
    if (seen !== null && ip !== undefined && ip !== seen) return { ok: false, reason: 'address' }
    if (!allow()) return { ok: false, reason: 'rate' }
    const token = randomBytes(16).toString('hex')
    if (!store.addBootToken(hashToken(token), dep.id, mac, seen ?? ip ?? null)) return { ok: false, reason: 'in-use' }
    return { ok: true, token, instanceId: instanceId(dep) }
  })
}

function wellFormed(token: string): boolean {
  return /^[0-9a-f]{32}$/.test(token)
}

/** The deployment a cloud-init token belongs to, if it is still the machine's current one. */
export function tokenDeployment(store: Store, token: string): DeploymentRow | undefined {
  return wellFormed(token) ? store.tokenDeployment(hashToken(token)) : undefined
}

export type TokenUse =
  | { ok: true; deployment: DeploymentRow }
  | { ok: false; reason: 'unknown' | 'address'; deployment?: DeploymentRow; bound?: string }

/**
 * A cloud-init request with `token` from `ip`: refused when the token is unknown or no longer
 * current, or bound to another address than the one it was issued for and the machine's current one
 * (DHCP moves it when the installer leases anew). `markUsed`: a document fetch (the token is then never evicted).
 */
export function useToken(store: Store, token: string, ip: string | undefined, markUsed: boolean): TokenUse {
  if (!wellFormed(token)) return { ok: false, reason: 'unknown' }
  const h = hashToken(token)
  const t = store.bootToken(h)
  if (!t) return { ok: false, reason: 'unknown' }
  // the bound address, or the machine's address now: an installer often leases another address than
  // its firmware did (another DHCP client id), and bootlab sees that lease (DHCP observations)
  if (t.ip !== null && t.ip !== ip && (ip === undefined || store.machine(t.deployment.mac)?.ip !== ip)) {
    return { ok: false, reason: 'address', deployment: t.deployment, bound: t.ip }
  }
  if (markUsed && t.used_at === null) store.markBootTokenUsed(h)
  return { ok: true, deployment: t.deployment }
}
