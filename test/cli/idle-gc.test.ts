// startIdleGc collects garbage at once (without --expose-gc on the command line), and leaves gc()
// unexposed to code that runs afterwards.
import t from 'tap'
import { runInNewContext } from 'node:vm'
import { startIdleGc } from '../../src/cli/idle-gc.js'

t.test('startIdleGc runs a full GC at start', async (t) => {
  let obj: { data: number[] } | undefined = { data: new Array(10_000).fill(1) }
  const ref = new WeakRef(obj)
  obj = undefined
  // a WeakRef target stays alive until the current job ends
  await new Promise((r) => setImmediate(r))
  const stop = startIdleGc({ everyMs: 3_600_000 })
  stop()
  t.equal(ref.deref(), undefined, 'the unreachable object was collected')
  t.equal(runInNewContext('typeof gc'), 'undefined', 'gc is not exposed to new contexts afterwards')
  t.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'nor to the main context')
})
