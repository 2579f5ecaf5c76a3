#!/usr/bin/env bash
# bootlab's main job on a built-in default: installs what it needs, builds, then runs `bootlab demo`:
# a virtual lab in which QEMU guests (x86 BIOS, x86-64 UEFI, arm64 UEFI through iPXE) go round the
# whole reinstall loop — powered on through the lab's PoE switch, netboot, install, deployed; power
# cycle, boot from disk; a YAML edit, one power cycle by bootlab, reinstall — and it ends with a
# table (docs/demo.md). Options go to `bootlab demo` (`--guests`, `--dhcp proxy`, `--json`, `--keep`,
# `--timeout S`; `bootlab demo --help`).
#   --serve   instead: `bootlab serve` with examples/bootlab.yaml in a lab namespace
#             (server "bootlab-demo-<id>-srv", 10.99.0.1 on lab0; client "bootlab-demo-<id>-client",
#             10.99.0.2) until Ctrl-C; BOOTLAB_DEMO_NS replaces the "bootlab-demo" prefix
#   --smoke   --serve, check /healthz from the client namespace, stop (used by the tests)
# The namespaces are made and removed by the lab (src/lab/netns.ts), Ctrl-C included. Nothing is
# bound to, or sent on, the machine's real interfaces.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces need it)" >&2; exit 1; }
# BOOTLAB_SKIP_INSTALL=1: dependencies are known to be present (the test suite sets it)
[ -n "${BOOTLAB_SKIP_INSTALL:-}" ] || bash scripts/install-deps.sh
npx tsc -p tsconfig.json
exec node bin/bootlab.js demo "$@"
