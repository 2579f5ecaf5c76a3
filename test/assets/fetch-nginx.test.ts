// The downloader against a third-party HTTP server: nginx on 127.0.0.1 (started here, stopped by
// PID), with a redirect and a resumed partial download (its access log shows the Range request).
import t from 'tap'
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { bootlab, pftfZip, sha256, tmpDir } from './helpers.js'

const hasNginx = ((): boolean => { try { execFileSync('sh', ['-c', 'command -v nginx'], { stdio: 'ignore' }); return true } catch { return false } })()

const freePort = (): Promise<number> => new Promise((resolve) => {
  const s = createServer()
  s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)) })
})

t.test('nginx: redirect followed, a .part left by an earlier run resumed with Range (206)', { skip: !hasNginx && 'nginx is not installed' }, async (t) => {
  const dir = tmpDir(t, 'bootlab-nginx-')
  mkdirSync(join(dir, 'files'))
  const zip = pftfZip('nginx')
  writeFileSync(join(dir, 'files', 'RPi4_UEFI_Firmware_v1.50.zip'), zip)
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err;
events { worker_connections 16; }
http {
  log_format r '$status $request_uri range=$http_range';
  access_log ${dir}/access.log r;
  client_body_temp_path ${dir}/ncb; proxy_temp_path ${dir}/np; fastcgi_temp_path ${dir}/nf; uwsgi_temp_path ${dir}/nu; scgi_temp_path ${dir}/ns;
  server {
    listen 127.0.0.1:${port};
    root ${dir};
    location /mirror/ { rewrite ^/mirror/(.*)$ /files/$1 redirect; }
    location /files/ { }
  }
}
`)
  const nginx: ChildProcess = spawn('nginx', ['-p', dir, '-c', conf], { stdio: 'ignore' })
  t.teardown(() => { if (nginx.exitCode === null) nginx.kill('SIGTERM') })
  // ready when it accepts connections (bounded: 20 s)
  const accepts = (): Promise<boolean> => new Promise((resolve) => {
    const c = connect(port, '127.0.0.1', () => { c.destroy(); resolve(true) })
    c.on('error', () => resolve(false))
  })
  for (let i = 0; i < 200 && !(await accepts()); i++) await new Promise((r) => setTimeout(r, 100))

  const state = tmpDir(t, 'bootlab-state-')
  const half = Math.floor(zip.length / 2)
  mkdirSync(join(state, 'downloads'), { recursive: true })
  writeFileSync(join(state, 'downloads', 'RPi4_UEFI_Firmware_v1.50.zip.part'), zip.subarray(0, half))
  const r = await bootlab('fetch', 'rpi4-uefi', '--state-dir', state, '--from', `http://127.0.0.1:${port}/mirror`)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, new RegExp(sha256(zip)), 'the whole file, verified')
  t.match(r.stderr, /resuming at/)
  const log = readFileSync(join(dir, 'access.log'), 'utf8').trim().split('\n')
  t.same(log, [
    `302 /mirror/RPi4_UEFI_Firmware_v1.50.zip range=bytes=${half}-`,
    `206 /files/RPi4_UEFI_Firmware_v1.50.zip range=bytes=${half}-`,
  ])
  t.equal(readlinkSync(join(state, 'firmware', 'rpi4-uefi', 'current')), 'v1.50')

  // 404 from a real server: a clear error, exit 6
  const missing = await bootlab('fetch', 'rpi4-uefi', '--version', 'v1.44', '--state-dir', state, '--from', `http://127.0.0.1:${port}/files`)
  t.equal(missing.code, 8)
  t.match(missing.stderr, /RPi4_UEFI_Firmware_v1\.44\.zip: HTTP 404/)
})
