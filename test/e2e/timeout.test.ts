// The lab's failure path: a server under test that never answers. The guest must be stopped at
// the time limit, the result must say nothing arrived, and everything must be cleaned up.
import t from 'tap'
import { EventEmitter } from 'node:events'
import { execFileSync } from 'node:child_process'
import { runLabBoot, describeBoot, missingPrerequisites, type LabServer } from '../../src/lab/index.js'
import type { LabServerEvents } from '../../src/lab/server.js'

class SilentServer extends EventEmitter<LabServerEvents> implements LabServer {
  readonly name = 'silent'
  started = false
  stopped = false
  async start(): Promise<void> { this.started = true }
  async stop(): Promise<void> { this.stopped = true }
}

const missing = missingPrerequisites('bios')

t.test('a guest nobody answers is stopped at the time limit and leaves nothing behind', { skip: missing.length > 0 && `missing: ${missing.join(', ')}` }, async (t) => {
  const server = new SilentServer()
  const r = await runLabBoot({ kind: 'bios', server, timeoutMs: 15_000 })
  t.comment(describeBoot(r))
  t.ok(server.started && server.stopped, 'server started and stopped')
  t.equal(r.phoneHome, null, 'no phone-home')
  t.equal(r.exit?.timedOut, true, 'QEMU was stopped at the time limit')
  const names = r.milestones.map((m) => m.name)
  t.ok(names.includes('loader'), 'the iPXE ROM ran', { details: r.consoleTail })
  t.notOk(names.includes('firmware-dhcp'), 'but got no address')
  t.notOk(names.includes('kernel'), 'and never reached a kernel')
  t.notMatch(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), `blab-${r.labId}`, 'lab namespaces removed')
})
