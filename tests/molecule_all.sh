#!/usr/bin/env bash
# Runs every molecule scenario (`molecule test -s NAME`), JOBS at a time (default 2).
# Scenarios are independent: each names its own lab hosts and networks. Each one's output
# goes to .cache/molecule-logs/NAME.log; a failed scenario's log is printed whole. Prints
# each scenario's duration, and exits non-zero when any scenario failed.
#
#   tests/molecule_all.sh [-j JOBS] [--with-e2e] [SCENARIO ...]
#                               (default: every molecule/*/molecule.yml)
#
# --with-e2e adds the end-to-end tiers as jobs of the same pool, so that make test keeps two
# heavy jobs running at a time instead of running the tiers alone before molecule:
#   e2e        tests/e2e/run.py all --down: lab_multi over SSH (cut off by a SIGKILL and a
#              dockerd restart, leak scan), then the air-gapped run; hosts mlstack-lab-m1..m3
#   bad-input  tests/e2e/run.py bad-input --down: the bad-input table on the demo host
#              mlstack-lab-host1; then tests/integration/test_backup_host.py on fresh demo
#              hosts 1 and 2 (backups to a backup host), removed after
#   ee         tests/ee/build.sh: the execution environment built with ansible-builder from
#              the lab's Debian image, then ansible-doc and a syntax check of site.yml in it
# Each uses its own hosts, networks and addresses.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
JOBS=${MOLECULE_JOBS:-2}
WITH_E2E=
while [ $# -gt 0 ]; do
  case "$1" in
    -j) JOBS=$2; shift 2 ;;
    --with-e2e) WITH_E2E=1; shift ;;
    *) break ;;
  esac
done
LOGS=$ROOT/.cache/molecule-logs
mkdir -p "$LOGS"
cd "$ROOT" || exit 1

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  # Longest first (by the last recorded duration, else tests/molecule_durations.txt), so
  # that the slow ones do not end up alone at the end.
  names=()
  for f in molecule/*/molecule.yml; do names+=("$(basename "$(dirname "$f")")"); done
  [ -z "$WITH_E2E" ] || names+=(e2e bad-input ee)
  mapfile -t scenarios < <(
    for s in "${names[@]}"; do
      d=$(cat "$LOGS/$s.seconds" 2>/dev/null \
          || awk -v s="$s" '$1 == s { print $2 }' "$ROOT/tests/molecule_durations.txt" 2>/dev/null)
      [ -n "$d" ] || d=0
      echo "$d $s"
    done | sort -rn | awk '{print $2}')
fi

# What a job is called in the output: a molecule scenario, or the end-to-end tiers.
label() {
  case "$1" in e2e) echo "e2e tiers" ;; bad-input) echo "bad-input table and backup host" ;; ee) echo "execution environment" ;; *) echo "molecule $1" ;; esac
}

run_one() {
  local s=$1 start rc
  start=$(date +%s)
  case "$s" in
    e2e) "$BIN/python" tests/e2e/run.py all --down >"$LOGS/$s.log" 2>&1 ;;
    # The bad-input table, then backups to a backup host (tests/integration/test_backup_host.py):
    # both on the demo lab hosts, so one after the other in one job, on fresh hosts each.
    bad-input) { "$BIN/python" tests/e2e/run.py bad-input --down \
                 && tests/lab/lab.sh hosts-up 2 \
                 && MLSTACK_LAB_HOSTS_REQUIRED=1 PYTHONPATH="$ROOT/.ansible/collections" \
                    "$BIN/python" -m pytest -q -p no:cacheprovider tests/integration/test_backup_host.py; } >"$LOGS/$s.log" 2>&1
               rc=$?; tests/lab/lab.sh hosts-down >>"$LOGS/$s.log" 2>&1; (exit "$rc") ;;
    ee) VENV=$(dirname "$BIN") tests/ee/build.sh >"$LOGS/$s.log" 2>&1 ;;
    *) "$BIN/molecule" test -s "$s" >"$LOGS/$s.log" 2>&1 ;;
  esac
  rc=$?
  echo $(( $(date +%s) - start )) >"$LOGS/$s.seconds"
  if [ "$rc" -eq 0 ]; then
    echo "=== $(label "$s"): passed in $(cat "$LOGS/$s.seconds") s"
  else
    echo "=== $(label "$s"): FAILED (exit $rc) after $(cat "$LOGS/$s.seconds") s; its log:"
    cat "$LOGS/$s.log"
    echo "=== end of $(label "$s")"
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
  echo "=== $(label "$s"): started"
  run_one "$s" &
  pids[$!]=$s
done
while [ "${#pids[@]}" -gt 0 ]; do reap_one; done
echo "=== molecule: ${#scenarios[@]} jobs, $JOBS at a time, $(( $(date +%s) - start )) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "=== molecule: FAILED: ${failed[*]}"
  exit 1
fi
