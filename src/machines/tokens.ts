// Per-boot cloud-init tokens: minted when a boot script is served (the token goes into that
// machine's command line), looked up by the NoCloud routes. Only the SHA-256 is stored; a token is
// valid while its deployment is the machine's current one (the store keeps BOOT_TOKENS_KEPT).
import { createHash, randomBytes } from 'node:crypto'
import type { DeploymentRow, Store } from '../store/store.js'

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** cloud-init's instance-id of a deployment: a new deployment is a new instance. */
export function instanceId(d: Pick<DeploymentRow, 'machine' | 'id'>): string {
  return `${d.machine}-${d.id}`
}

/** A fresh per-boot token for the machine's current deployment (undefined without one). */
export function issueToken(store: Store, mac: string): { token: string; instanceId: string } | undefined {
  return store.tx(() => {
    const dep = store.currentDeployment(mac)
    if (!dep) return undefined
    const token = randomBytes(16).toString('hex')
    store.addBootToken(hashToken(token), dep.id, mac)
    return { token, instanceId: instanceId(dep) }
  })
}

/** The deployment a cloud-init token belongs to, if it is still the machine's current one. */
export function tokenDeployment(store: Store, token: string): DeploymentRow | undefined {
  if (!/^[0-9a-f]{32}$/.test(token)) return undefined
  return store.tokenDeployment(hashToken(token))
}
