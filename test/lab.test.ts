import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { readFileSync } from 'node:fs'
import { createLab, isRoot } from '../src/lab/netns.js'
import { lossTable } from '../src/lab/loss.js'

const netnsList = (): string => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout

t.test('network namespace lab: two hosts on one bridge reach each other', { skip: !isRoot() && 'needs root' }, async (t) => {
  const lab = await createLab({ hosts: { srv: 1, cli: 2 } })
  t.teardown(() => lab.cleanup())
  const r = await lab.exec('cli', ['busybox', 'ping', '-c', '1', '-W', '2', lab.hosts.srv!.ip])
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(lab.hosts.cli!.mac, /^[0-9a-f:]{17}$/)
})

t.test('a server namespace and N client namespaces on one bridge; cleanup removes them all', { skip: !isRoot() && 'needs root' }, async (t) => {
  const lab = await createLab({ subnet: '10.76.0' })
  t.teardown(() => lab.cleanup())
  const srv = await lab.addHost('srv', { octet: 1, ifname: 'lab0' })
  const clients = await lab.addHosts('pi', 3, { firstOctet: 10 })
  t.same(clients.map((c) => c.ip), ['10.76.0.10', '10.76.0.11', '10.76.0.12'])
  t.equal(new Set(clients.map((c) => c.mac)).size, 3, 'every client has its own MAC')
  for (const c of clients) {
    const r = await lab.exec(c.name, ['busybox', 'ping', '-c', '1', '-W', '2', srv.ip])
    t.equal(r.code, 0, `${c.name} reaches the server: ${r.stderr}`)
  }
  const tap = await lab.addTap()
  const link = await lab.exec(lab.bridgeNs, ['ip', '-o', 'link', 'show', 'dev', tap])
  t.match(link.stdout, /master br0/, 'the tap is on the bridge')
  // a process started by PID in a namespace is gone after cleanup, as are the namespaces
  const sleeper = lab.spawn('pi0', ['sleep', '600'])
  await lab.cleanup()
  t.ok(sleeper.exitCode !== null || sleeper.signalCode !== null, 'process killed')
  for (const ns of [lab.bridgeNs, srv.ns, ...clients.map((c) => c.ns)]) t.notMatch(netnsList(), new RegExp(`^${ns}( |$)`, 'm'), `${ns} removed`)
})

t.test('SIGTERM to a program using the lab removes its namespaces and kills its processes', { skip: !isRoot() && 'needs root' }, async (t) => {
  const code = `import { createLab } from './src/lab/netns.ts'
const lab = await createLab({ hosts: { a: 1 } })
const c = lab.spawn('a', ['sleep', '600'])
console.log(JSON.stringify({ ready: true, namespaces: lab.namespaces, pid: c.pid }))
setInterval(() => {}, 1000)`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve))
  const ready = JSON.parse(line) as { namespaces: string[]; pid: number }
  t.equal(ready.namespaces.length, 2)
  for (const ns of ready.namespaces) t.match(netnsList(), new RegExp(`^${ns}( |$)`, 'm'), `${ns} exists`)
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  child.kill('SIGTERM')
  t.equal(await exited, 143, 'exit status 128 + SIGTERM')
  for (const ns of ready.namespaces) t.notMatch(netnsList(), new RegExp(`^${ns}( |$)`, 'm'), `${ns} removed`)
  // SIGKILLed at exit; reaped by init soon after (a zombie still answers kill 0)
  const gone = (): boolean => { try { process.kill(ready.pid, 0); return /^State:\s+Z/m.test(readFileSync(`/proc/${ready.pid}/status`, 'utf8')) } catch { return true } }
  for (let i = 0; i < 50 && !gone(); i++) await new Promise((r) => setTimeout(r, 100))
  t.ok(gone(), 'the process started in the namespace is gone')
})

t.test('loss rules: nftables numgen per chain, requests spared on output when asked', async (t) => {
  t.equal(lossTable({ percent: 20, chains: ['input'] }),
    'table inet bootlab_loss {\nchain input { type filter hook input priority 0; policy accept; meta l4proto udp numgen random mod 100 < 20 drop; }\n}\n')
  t.match(lossTable({ percent: 5, chains: ['input', 'output'], outputMatch: 'udp dport != 69' }), /chain output \{[^}]*udp dport != 69 numgen random mod 100 < 5 drop; \}/)
  t.throws(() => lossTable({ percent: 101, chains: ['input'] }), /bad loss percentage/)
  t.throws(() => lossTable({ percent: 1.5, chains: ['input'] }), /bad loss percentage/)
})
