/* global process, console */
// `npm run build:native`: builds the native helpers with node-gyp against the headers of the Node
// that runs this script, without downloading anything. If they cannot be built (no compiler, no
// headers) it warns and exits 0: bootlab then falls back to address-bound DHCP sockets (bindsock)
// or to the JavaScript TFTP data path (tftpfast) and says so when it starts. BOOTLAB_REQUIRE_NATIVE=1 makes a failed build fail the command.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const helpers = ['bindsock', 'tftpfast']
const fallback = { bindsock: 'address-bound DHCP sockets', tftpfast: 'the JavaScript TFTP data path' }

const nodedir = [resolve(process.execPath, '../..'), '/usr', '/usr/local'].find((d) => existsSync(join(d, 'include/node/node_api.h')))
const gyp = process.env.npm_config_node_gyp
const argvFor = (dir) => {
  const args = ['rebuild', '--loglevel=warn', '--directory', dir]
  if (nodedir) args.push(`--nodedir=${nodedir}`)
  return gyp ? [process.execPath, [gyp, ...args]] : ['node-gyp', args]
}

let failed = false
if (!nodedir) console.warn('build:native: Node headers (include/node/node_api.h) not found next to this Node; node-gyp may try to download them')
for (const name of helpers) {
  const [cmd, args] = argvFor(join(here, name))
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) {
    failed = true
    console.warn(`build:native: ${name} could not be built (${r.error?.message ?? `exit ${r.status}`}); bootlab will fall back to ${fallback[name]}`)
  } else {
    console.log(`build:native: ${name} built`)
  }
}
process.exitCode = failed && process.env.BOOTLAB_REQUIRE_NATIVE === '1' ? 1 : 0
