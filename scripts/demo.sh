#!/usr/bin/env bash
# bootlab's main job on a built-in default: installs what it needs, builds, then runs `bootlab demo`,
# a virtual lab in which QEMU guests (x86 BIOS, x86-64 UEFI, arm64 UEFI) netboot from one bootlab
# at the same time, inside network namespaces it creates, and reach `deployed` (docs/demo.md).
# Options are passed to `bootlab demo` (--guests bios,uefi-x64,uefi-arm64, --keep, --timeout S).
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
