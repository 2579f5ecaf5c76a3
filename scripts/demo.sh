#!/usr/bin/env bash
# bootlab's main job on a built-in default: installs what it needs, builds, then runs `bootlab demo`,
# a virtual lab in which QEMU guests (x86 BIOS, x86-64 UEFI, arm64 UEFI) netboot from one bootlab
# at the same time, inside network namespaces it creates, and reach `deployed` (docs/demo.md).
# Options are passed to `bootlab demo` (--guests bios,uefi-x64,uefi-arm64, --keep, --timeout S).
#   --serve   instead: `bootlab serve` with examples/bootlab.yaml in a namespace this script creates
#             (server "bootlab-demo", 10.99.0.1 on lab0; client "bootlab-demo-client", 10.99.0.2)
#             until Ctrl-C
#   --smoke   --serve, check /healthz from the client namespace, stop (used by the tests)
# Nothing is bound to, or sent on, the machine's real interfaces; Ctrl-C removes the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces need it)" >&2; exit 1; }
# BOOTLAB_SKIP_INSTALL=1: dependencies are known to be present (the test suite sets it)
[ -n "${BOOTLAB_SKIP_INSTALL:-}" ] || bash scripts/install-deps.sh
npx tsc -p tsconfig.json

MODE=demo
case "${1:-}" in
  --serve) MODE=serve; shift ;;
  --smoke) MODE=smoke; shift ;;
esac
if [ "$MODE" = demo ]; then
  exec node bin/bootlab.js demo "$@"
fi

NS=${BOOTLAB_DEMO_NS:-bootlab-demo}
CLI_NS="$NS-client"
STATE=$(mktemp -d /tmp/bootlab-demo.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$CLI_NS" 2>/dev/null || true
  rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "$NS" "$CLI_NS"; do
  if ip netns list | grep -qw "$ns"; then echo "namespace $ns exists already (another demo running?)" >&2; exit 1; fi
done
ip netns add "$NS"
ip netns add "$CLI_NS"
ip -n "$NS" link add lab0 type veth peer name lab0c netns "$CLI_NS"
ip -n "$NS" addr add 10.99.0.1/24 dev lab0
ip -n "$CLI_NS" addr add 10.99.0.2/24 dev lab0c
for ns in "$NS" "$CLI_NS"; do ip -n "$ns" link set lo up; done
ip -n "$NS" link set lab0 up
ip -n "$CLI_NS" link set lab0c up

# Boot files Debian ships, so the demo has real iPXE binaries to hand out
mkdir -p "$STATE/firmware/ipxe" "$STATE/images" "$STATE/tftproot"
for f in undionly.kpxe ipxe.efi snponly.efi; do
  [ -f "/usr/lib/ipxe/$f" ] && cp "/usr/lib/ipxe/$f" "$STATE/firmware/ipxe/"
done

echo "bootlab demo: server namespace $NS (10.99.0.1, lab0), client namespace $CLI_NS (10.99.0.2)"
echo "  try: ip netns exec $CLI_NS curl -s http://10.99.0.1:8080/healthz"
ip netns exec "$NS" node bin/bootlab.js serve --config examples/bootlab.yaml \
  --interface lab0 --advertise 10.99.0.1 --state-dir "$STATE" &
PID=$!

if [ "$MODE" = smoke ]; then
  for _ in $(seq 1 100); do
    if out=$(ip netns exec "$CLI_NS" curl -fsS --max-time 2 http://10.99.0.1:8080/healthz 2>/dev/null); then
      echo "$out"
      exit 0
    fi
    kill -0 "$PID" 2>/dev/null || { echo "bootlab exited" >&2; exit 1; }
    sleep 0.2
  done
  echo "bootlab did not answer on 10.99.0.1:8080" >&2
  exit 1
fi
wait "$PID"
