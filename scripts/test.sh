#!/usr/bin/env bash
# The whole test suite: installs what it needs, typechecks, lints, runs every tap test.
# Last line: "tests: N passed, N failed[, N skipped]". Exit status non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }

extra_pass=0
extra_fail=0
step() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then extra_pass=$((extra_pass + 1)); else echo "!! $name failed"; extra_fail=$((extra_fail + 1)); fi
}
step typecheck npx tsc -p tsconfig.check.json
step lint npx eslint src test bench
step build npx tsc -p tsconfig.json

log=$(mktemp)
npx tap "$@" 2>&1 | tee "$log"
tap_rc=${PIPESTATUS[0]}
summary=$(grep -E '^# \{ total:' "$log" | tail -1)
rm -f "$log"
num() { echo "$summary" | grep -oE "$1: [0-9]+" | grep -oE '[0-9]+' || echo 0; }
pass=$(( $(num pass) + extra_pass ))
fail=$(( $(num fail) + extra_fail ))
skip=$(num skip)
if [ -z "$summary" ] || { [ "$tap_rc" -ne 0 ] && [ "$(num fail)" -eq 0 ]; }; then
  fail=$((fail + 1)) # the runner itself failed (crash, timeout, no tests)
fi
line="tests: $pass passed, $fail failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
[ "$fail" -eq 0 ]
