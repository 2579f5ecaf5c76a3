// One host fetching 100 files at once (atftp, lock-step, blksize 1468), as the TFTP bench does:
// every file arrives byte-exact and no transfer is dropped as "unacknowledged" — neither a real
// one whose ACK 0 lags behind the host's other requests (the per-address cap of unacknowledged
// transfers), nor one the native thread already has ACKs for (its first-ACK notice reaches the
// event loop a turn later). On both data paths.
import t from 'tap'
import { join } from 'node:path'
import { createLab, isRoot } from '../../src/lab/netns.js'
import { jsPathForced } from '../../src/tftp/fast-path.js'
import { makeFiles, sha256File, startBootlab } from './fixtures/lab.js'

const N = 100

t.test('100 concurrent lock-step transfers from one host', { skip: !isRoot() && 'needs root (network namespaces)' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1, cli: 2 }, subnet: '10.79.0' })
  t.teardown(() => lab.cleanup())
  const files = await makeFiles({ f2m: 2 << 20 })
  t.teardown(() => files.cleanup())
  const ip = lab.hosts.srv!.ip
  // datapath.test.ts re-runs this file with the JavaScript path forced: then only that one
  for (const path of jsPathForced() ? ['js'] as const : ['native', 'js'] as const) {
    await t.test(`${path} data path`, async (t) => {
      const srv = await startBootlab(lab, 'srv', { roots: [files.dir], dataPath: path === 'js' ? 'js' : 'auto' })
      t.teardown(() => srv.stop())
      t.equal(srv.ready.dataPath, path)
      const d = join(files.out, path)
      await lab.exec('cli', ['mkdir', '-p', d])
      const script = `i=0; while [ $i -lt ${N} ]; do atftp -g -r f2m -l ${d}/$i --option 'blksize 1468' ${ip} 69 >/dev/null 2>&1 & i=$((i+1)); done; wait`
      const t0 = Date.now()
      await lab.exec('cli', ['sh', '-c', script], { timeoutMs: 120_000 })
      let ok = 0
      for (let i = 0; i < N; i++) if (await sha256File(join(d, String(i))).catch(() => '') === files.sha.get('f2m')) ok++
      const st = await srv.stats()
      t.equal(ok, N, `${ok}/${N} byte-exact in ${Date.now() - t0} ms`)
      t.equal(st.pendingEvicted, 0, 'no transfer dropped as unacknowledged')
      t.equal(st.requests, N, 'no request had to be repeated')
    })
  }
})
