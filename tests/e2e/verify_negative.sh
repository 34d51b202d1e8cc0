#!/usr/bin/env bash
# verify.yml's health report catches what is wrong: on the demo host (make demo), with a
# temporary copy of inventories/lab whose copies of two password files are wrong (the
# registry's pull user and PostgreSQL's labelstudio owner), verify.yml must exit non-zero
# and its report must show exactly the checks those passwords feed as FAILED, every other
# check ok, and none of the real or wrong passwords anywhere in the report or the output.
# Nothing on the host changes; the copy (it holds the lab's secrets) is removed at the end.
#
# Runs only when the demo host is up (make demo; removed by make demo-down). Otherwise it
# says SKIPPED and exits 0, or 1 when VERIFY_NEGATIVE_REQUIRED=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
HOST=mlstack-lab-host1
DOCKER=${DOCKER:-/usr/bin/docker}
cd "$ROOT"

if [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$HOST" 2>/dev/null)" != "true" ] \
   || [ ! -d inventories/lab/credentials/postgres ]; then
  echo "verify_negative: SKIPPED: the demo host $HOST is not up (run make demo first)"
  [ "${VERIFY_NEGATIVE_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
fi

export ANSIBLE_HOME="$ROOT/.ansible" ANSIBLE_COLLECTIONS_PATH="$ROOT/.ansible/collections" \
       ANSIBLE_CONFIG="$ROOT/ansible.cfg"
work=$(mktemp -d /tmp/mlstack-verify-negative.XXXXXX)
chmod 0700 "$work"
trap 'rm -rf "$work"' EXIT
cp -a inventories/lab "$work/lab"
# Wrong copies of two secrets (random, never printed).
head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$work/lab/credentials/offline_registry/pull-password"
head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$work/lab/credentials/postgres/labelstudio"

set +e
"$VENV/bin/ansible-playbook" -i "$work/lab/hosts.yml" playbooks/verify.yml \
  -e mlstack_health_report="$work/report.json" >"$work/output.log" 2>&1
rc=$?
set -e
echo "verify_negative: verify.yml exited $rc"

"$VENV/bin/python" - "$work" "$rc" <<'PYEOF'
import json
import pathlib
import sys

work, rc = pathlib.Path(sys.argv[1]), int(sys.argv[2])
report_text = (work / "report.json").read_text()
output = (work / "output.log").read_text()
report = json.loads(report_text)
failed = sorted((c["service"], c["check"]) for c in report["checks"] if not c["ok"])
expected = sorted([
    ("postgres", "consumer labelstudio logs in to labelstudio"),
    ("registry", "pull user lists the catalog"),
    ("registry", "pull user pulls a manifest"),
])
problems = []
if rc == 0:
    problems.append("verify.yml exited 0 with wrong passwords")
if failed != expected:
    problems.append("FAILED checks %s, expected %s" % (failed, expected))
if report["summary"]["failed"] != len(expected) or report["summary"]["checks"] != len(report["checks"]):
    problems.append("summary %s does not match the records" % report["summary"])
for line in ("registry: pull user lists the catalog", "postgres: consumer labelstudio logs in to labelstudio"):
    if line not in output:
        problems.append("the run's output does not name the failed check %r" % line)
secrets = [p.read_text().strip() for p in (work / "lab/credentials").rglob("*")
           if p.is_file() and p.suffix not in (".crt", ".csr", ".asc")]
secrets += [p.read_text().strip() for p in (pathlib.Path("inventories/lab/credentials")).rglob("*")
            if p.is_file() and p.suffix not in (".crt", ".csr", ".asc")]
for secret in secrets:
    if len(secret) >= 8 and (secret in report_text or secret in output):
        problems.append("a secret appears in the report or the output")
        break
for line in problems:
    print("verify_negative: FAIL: " + line)
if problems:
    print((work / "output.log").read_text()[-4000:])
    sys.exit(1)
print("verify_negative: ok: %d checks, FAILED exactly %s; no secret in report or output"
      % (report["summary"]["checks"], ", ".join("%s/%s" % f for f in failed)))
PYEOF
