// Random packet loss inside one lab namespace, with nftables (`numgen random`; this kernel has no
// netem). A table of its own per namespace, so removing it restores the path exactly.
import type { Lab } from './netns.js'

const TABLE = 'bootlab_loss'

export interface LossRule {
  /** percentage of matching packets dropped, 0-100 */
  percent: number
  /** input: packets arriving in the namespace; output: packets it sends (their sendto() fails with EPERM) */
  chains: Array<'input' | 'output'>
  /** nft match of the packets concerned (default: all UDP) */
  match?: string
  /** nft match for the output chain only, e.g. 'udp dport != 69' to spare requests */
  outputMatch?: string
}

/** the nft script of a rule (exported for tests) */
export function lossTable(r: LossRule): string {
  if (!Number.isInteger(r.percent) || r.percent < 0 || r.percent > 100) throw new Error(`bad loss percentage ${r.percent}`)
  const match = r.match ?? 'meta l4proto udp'
  const chain = (hook: 'input' | 'output'): string => {
    const m = hook === 'output' && r.outputMatch ? r.outputMatch : match
    return `chain ${hook} { type filter hook ${hook} priority 0; policy accept; ${m} numgen random mod 100 < ${r.percent} drop; }`
  }
  return `table inet ${TABLE} {\n${r.chains.map(chain).join('\n')}\n}\n`
}

export async function addLoss(lab: Lab, where: string, rule: LossRule): Promise<void> {
  const r = await lab.exec(where, ['nft', '-f', '-'], { input: lossTable(rule) })
  if (r.code !== 0) throw new Error(`nft failed in ${where}: ${r.stderr}`)
}

export async function removeLoss(lab: Lab, where: string): Promise<void> {
  await lab.exec(where, ['nft', 'delete', 'table', 'inet', TABLE])
}
