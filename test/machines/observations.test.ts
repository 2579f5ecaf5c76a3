// The observation queue: bounded (drops counted), drained after the caller returned, failures
// counted and never thrown back; the store's write health follows its transactions.
import t from 'tap'
import { ObservationQueue } from '../../src/machines/observations.js'
import { Store } from '../../src/store/store.js'
import { silentLogger } from '../../src/log.js'

const turn = (): Promise<void> => new Promise((r) => setImmediate(r))

t.test('runs after the caller returned, in order; full queue drops and counts', async (t) => {
  const q = new ObservationQueue({ log: silentLogger(), cap: 3, batch: 2 })
  const ran: number[] = []
  for (let i = 0; i < 5; i++) q.push('x', () => { ran.push(i) })
  t.same(ran, [], 'nothing ran inside push')
  t.same(q.stats(), { queued: 3, processed: 0, failed: 0, dropped: 2 })
  for (let i = 0; i < 5 && q.length > 0; i++) await turn()
  t.same(ran, [0, 1, 2])
  t.same(q.stats(), { queued: 0, processed: 3, failed: 0, dropped: 2 })
})

t.test('a throwing observation is counted, the rest still run', async (t) => {
  const q = new ObservationQueue({ log: silentLogger() })
  const ran: string[] = []
  q.push('a', () => { ran.push('a') })
  q.push('b', () => { throw new Error('SQLITE_FULL') })
  q.push('c', () => { ran.push('c') })
  await turn()
  t.same(ran, ['a', 'c'])
  t.same(q.stats(), { queued: 0, processed: 2, failed: 1, dropped: 0 })
  q.stop()
  t.notOk(q.push('d', () => undefined), 'refused after stop')
})

t.test('write health: degraded from a failed transaction until the next good one', async (t) => {
  const store = new Store({ file: ':memory:' })
  t.teardown(() => store.close())
  t.same(store.health.report(), { status: 'ok', errors: 0 })
  store.db.pragma('query_only = ON')
  t.throws(() => store.tx(() => store.addEvent({ type: 'x' })))
  t.throws(() => store.tx(() => store.addEvent({ type: 'x' })))
  t.match(store.health.report(), { status: 'degraded', errors: 2, last_error: /readonly/ })
  store.db.pragma('query_only = OFF')
  store.tx(() => store.addEvent({ type: 'x' }))
  t.match(store.health.report(), { status: 'ok', errors: 2 })
})
