// HTTP file serving: bootlab's /files router vs nginx (sendfile) and busybox httpd, same 1 GiB file,
// same machine, curl as the client, everything on 127.0.0.1. Bounded: 3 single runs + 1 parallel run each.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import express from 'express'
import type { Server } from 'node:http'
import { createFilesRouter } from '../src/http/files.js'
import { silentLogger } from '../src/log.js'

const exec = promisify(execFile)
const SIZE = 1024 * 1024 * 1024
const PARALLEL = 4

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port
      s.close(() => resolve(p))
    })
  })
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await exec('curl', ['-sf', '-o', '/dev/null', '-r', '0-0', url], { timeout: 2000 })
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`${url} did not come up`)
}

/** MB/s of one full download. */
async function one(url: string): Promise<number> {
  const { stdout } = await exec('curl', ['-sS', '--max-time', '120', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url])
  const [bytes, secs] = stdout.trim().split(' ').map(Number)
  if (bytes !== SIZE) throw new Error(`short download from ${url}: ${bytes}`)
  return bytes! / secs! / 1e6
}

/** aggregate MB/s of PARALLEL simultaneous full downloads */
async function parallel(url: string): Promise<number> {
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: PARALLEL }, () => one(url)))
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  return (PARALLEL * SIZE) / secs / 1e6
}

async function measure(url: string): Promise<{ single: number; parallel: number }> {
  await one(url) // warm the page cache and the server
  const runs = [await one(url), await one(url), await one(url)].sort((a, b) => a - b)
  return { single: runs[1]!, parallel: await parallel(url) }
}

export async function run(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-bench-http-'))
  const images = join(dir, 'images')
  mkdirSync(images)
  const file = join(images, 'big.iso')
  const fd = openSync(file, 'w')
  const chunk = randomBytes(16 << 20)
  for (let i = 0; i < SIZE / chunk.length; i++) writeSync(fd, chunk)
  closeSync(fd)
  const procs: ChildProcess[] = []
  let server: Server | undefined
  try {
    // bootlab
    const app = express()
    app.use('/files', createFilesRouter({ roots: { images }, log: silentLogger() }))
    server = await new Promise<Server>((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)) })
    const bootlabUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/images/big.iso`

    // nginx, foreground, its own prefix
    const nginxPort = await freePort()
    const conf = join(dir, 'nginx.conf')
    writeFileSync(conf, `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on; client_body_temp_path ${dir}/ncb; proxy_temp_path ${dir}/np; fastcgi_temp_path ${dir}/nf; uwsgi_temp_path ${dir}/nu; scgi_temp_path ${dir}/ns;
  server { listen 127.0.0.1:${nginxPort}; root ${dir}; location / { } } }
`)
    procs.push(spawn('nginx', ['-p', dir, '-c', conf], { stdio: 'ignore' }))
    const nginxUrl = `http://127.0.0.1:${nginxPort}/images/big.iso`

    // busybox httpd, foreground
    const bbPort = await freePort()
    procs.push(spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${bbPort}`, '-h', dir], { stdio: 'ignore' }))
    const bbUrl = `http://127.0.0.1:${bbPort}/images/big.iso`

    await Promise.all([waitFor(bootlabUrl), waitFor(nginxUrl), waitFor(bbUrl)])
    // the in-process bootlab server and curl share the test process's CPU budget like in production
    const b = await measure(bootlabUrl)
    const n = await measure(nginxUrl)
    const y = await measure(bbUrl)
    const f = (x: number): string => x.toFixed(0)
    const r = (a: number, c: number): string => (a / c).toFixed(2)
    return [
      '## HTTP: 1 GiB file over loopback (curl client)',
      '',
      `Median of 3 single downloads after a warm-up, and ${PARALLEL} simultaneous downloads (aggregate). ${new Date().toISOString().slice(0, 10)}, ${(await exec('nproc')).stdout.trim()} cores.`,
      '',
      '| server | single MB/s | ' + PARALLEL + ' parallel MB/s | bootlab ÷ it (single) | bootlab ÷ it (parallel) |',
      '| --- | --- | --- | --- | --- |',
      `| bootlab /files (Node ${process.versions.node}, read stream) | ${f(b.single)} | ${f(b.parallel)} | 1.00 | 1.00 |`,
      `| nginx ${(await exec('nginx', ['-v'])).stderr.trim().split('/')[1] ?? ''} (sendfile) | ${f(n.single)} | ${f(n.parallel)} | ${r(b.single, n.single)} | ${r(b.parallel, n.parallel)} |`,
      `| busybox httpd | ${f(y.single)} | ${f(y.parallel)} | ${r(b.single, y.single)} | ${r(b.parallel, y.parallel)} |`,
    ].join('\n')
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM')
    if (server) {
      server.closeAllConnections()
      await new Promise((resolve) => server!.close(resolve))
    }
    rmSync(dir, { recursive: true, force: true })
  }
}
