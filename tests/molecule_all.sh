#!/usr/bin/env bash
# Runs every molecule scenario (`molecule test -s NAME`), JOBS at a time (default 2).
# Scenarios are independent: each names its own lab hosts and networks. Each one's output
# goes to .cache/molecule-logs/NAME.log; a failed scenario's log is printed whole. Prints
# each scenario's duration, and exits non-zero when any scenario failed.
#
#   tests/molecule_all.sh [-j JOBS] [SCENARIO ...]    (default: every molecule/*/molecule.yml)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
JOBS=${MOLECULE_JOBS:-2}
if [ "${1:-}" = -j ]; then JOBS=$2; shift 2; fi
LOGS=$ROOT/.cache/molecule-logs
mkdir -p "$LOGS"
cd "$ROOT" || exit 1

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  # Longest first (by the last recorded duration, else tests/molecule_durations.txt), so
  # that the slow ones do not end up alone at the end.
  mapfile -t scenarios < <(
    for f in molecule/*/molecule.yml; do
      s=$(basename "$(dirname "$f")")
      d=$(cat "$LOGS/$s.seconds" 2>/dev/null \
          || awk -v s="$s" '$1 == s { print $2 }' "$ROOT/tests/molecule_durations.txt" 2>/dev/null)
      [ -n "$d" ] || d=0
      echo "$d $s"
    done | sort -rn | awk '{print $2}')
fi

run_one() {
  local s=$1 start rc
  start=$(date +%s)
  "$BIN/molecule" test -s "$s" >"$LOGS/$s.log" 2>&1
  rc=$?
  echo $(( $(date +%s) - start )) >"$LOGS/$s.seconds"
  if [ "$rc" -eq 0 ]; then
    echo "=== molecule $s: passed in $(cat "$LOGS/$s.seconds") s"
  else
    echo "=== molecule $s: FAILED (exit $rc) after $(cat "$LOGS/$s.seconds") s; its log:"
    cat "$LOGS/$s.log"
    echo "=== end of molecule $s"
  fi
  return "$rc"
}

start=$(date +%s)
declare -A pids=()
failed=()
# Waits for one running scenario to end and records whether it failed.
reap_one() {
  local done_pid rc
  wait -n -p done_pid
  rc=$?
  [ "$rc" -eq 0 ] || failed+=("${pids[$done_pid]}")
  unset "pids[$done_pid]"
}
for s in "${scenarios[@]}"; do
  while [ "${#pids[@]}" -ge "$JOBS" ]; do reap_one; done
  echo "=== molecule $s: started"
  run_one "$s" &
  pids[$!]=$s
done
while [ "${#pids[@]}" -gt 0 ]; do reap_one; done
echo "=== molecule: ${#scenarios[@]} scenarios, $JOBS at a time, $(( $(date +%s) - start )) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "=== molecule: FAILED: ${failed[*]}"
  exit 1
fi
