// Token buckets shared by the DHCP guard and the cloud-init mint limit.
import t from 'tap'
import { KeyedBuckets, TokenBucket } from '../../src/net/rate-limit.js'

t.test('a bucket gives its burst, then one token per interval', async (t) => {
  const b = new TokenBucket(3, 1000, 0)
  t.same([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false])
  t.notOk(b.take(999), 'not refilled yet')
  t.ok(b.take(1000), 'one token after the interval (the time before a refused take counts)')
  t.notOk(b.take(1000))
  t.ok(b.full(10_000), 'full again after burst × interval')
  t.same([b.take(10_000), b.take(10_000), b.take(10_000)], [true, true, true])
  t.notOk(b.take(5_000), 'a clock going back gives nothing')
})

t.test('keyed: separate buckets; has() takes nothing; the table stays under its cap', async (t) => {
  const k = new KeyedBuckets(2, 1000, 3)
  t.ok(k.has('a', 0))
  t.ok(k.take('a', 0))
  t.ok(k.take('a', 0))
  t.notOk(k.has('a', 0), 'a is empty')
  t.notOk(k.take('a', 0))
  t.ok(k.take('b', 0), 'b has its own bucket')
  for (let i = 0; i < 100; i++) k.take(`x${i}`, 0)
  t.ok(k.size <= 3, `at most 3 keys kept (${k.size})`)
})

t.test('keyed: full buckets are forgotten before a busy one', async (t) => {
  const k = new KeyedBuckets(2, 60_000, 2)
  k.take('busy', 0); k.take('busy', 0)  // empty
  k.take('idle', 0)
  // 2 minutes later "idle" is full again, "busy" too: both forgettable; now drain busy again
  k.take('busy', 120_000); k.take('busy', 120_000)
  k.take('new', 120_000)                 // over the cap: the full "idle" goes, not the empty "busy"
  t.notOk(k.has('busy', 120_000), 'the empty bucket is still remembered')
})
