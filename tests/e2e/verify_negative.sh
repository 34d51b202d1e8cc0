#!/usr/bin/env bash
# verify.yml's health report catches what is wrong, in two parts:
#
# 1. GitLab and runner checks (always; no lab host needed): gitlab-standin
#    (tests/lab/standins/, a stand-in for GitLab's runner API and probes, NOT GitLab) on
#    127.0.0.1 of this machine, a runner created on it and written to a config.toml, and an
#    inventory of two local-connection hosts in the groups gitlab and gitlab_runners. Every
#    check passes; with another token in config.toml, "GitLab verifies the token" FAILS and
#    verify.yml exits non-zero; no token appears in the report or the output.
# 2. The demo host (make demo), with a temporary copy of inventories/lab whose copies of two
#    password files are wrong (the registry's pull user and PostgreSQL's labelstudio owner):
#    verify.yml must exit non-zero and its report must show exactly the checks those
#    passwords feed as FAILED, every other check ok, and none of the real or wrong
#    passwords anywhere in the report or the output. Nothing on the host changes; the copy
#    (it holds the lab's secrets) is removed at the end. Runs only when the demo host is up
#    (make demo; removed by make demo-down); otherwise it says SKIPPED, and exits 1 when
#    VERIFY_NEGATIVE_REQUIRED=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
HOST=mlstack-lab-host1
DOCKER=${DOCKER:-/usr/bin/docker}
cd "$ROOT"

export ANSIBLE_HOME="$ROOT/.ansible" ANSIBLE_COLLECTIONS_PATH="$ROOT/.ansible/collections" \
       ANSIBLE_CONFIG="$ROOT/ansible.cfg"
work=$(mktemp -d /tmp/mlstack-verify-negative.XXXXXX)
chmod 0700 "$work"
standin_pid=
cleanup() {
  if [ -n "$standin_pid" ]; then kill "$standin_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. GitLab and runner checks against gitlab-standin --------------------------------
port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/gl/state" "$work/gl/etc" "$work/gl/inv"
"$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(20))' >"$work/gl/admin-token"
python3 tests/lab/standins/gitlab-standin --listen 127.0.0.1 --port "$port" --state-dir "$work/gl/state" \
  --admin-token-file "$work/gl/admin-token" --monitoring-whitelist 127.0.0.0/8 --no-registration-token \
  >"$work/gl/standin.log" 2>&1 &
standin_pid=$!
"$VENV/bin/python" - "$work/gl" "$port" <<'PYEOF'
import json, pathlib, sys, time, urllib.request
gl, port = pathlib.Path(sys.argv[1]), sys.argv[2]
url = "http://127.0.0.1:%s" % port
for _ in range(50):
    try:
        urllib.request.urlopen(url + "/-/readiness", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
request = urllib.request.Request(
    url + "/api/v4/user/runners", method="POST",
    data=json.dumps({"runner_type": "instance_type", "description": "verify-runner"}).encode(),
    headers={"PRIVATE-TOKEN": (gl / "admin-token").read_text().strip(), "Content-Type": "application/json"})
runner = json.load(urllib.request.urlopen(request, timeout=5))
config = ('concurrent = 1\n\n[[runners]]\n  name = "verify-runner"\n  url = "%s"\n  id = %d\n'
          '  token = "%s"\n  executor = "docker"\n  [runners.docker]\n    image = "debian"\n'
          % (url, runner["id"], runner["token"]))
(gl / "etc/config.toml").write_text(config)
(gl / "token").write_text(runner["token"])
(gl / "inv/hosts.yml").write_text(json.dumps({"all": {
    "children": {"gitlab": {"hosts": {"ctl-gitlab": None}}, "gitlab_runners": {"hosts": {"ctl-runner": None}}},
    "vars": {"ansible_connection": "local", "ansible_become": False,
             "ansible_python_interpreter": sys.executable, "mlstack_credentials_dir": str(gl / "credentials"),
             "gitlab_bind_address": "127.0.0.1", "gitlab_http_port": int(port), "gitlab_external_url": url,
             "gitlab_runner_url": url, "gitlab_runner_config_dir": str(gl / "etc"),
             "gitlab_runner_runners": [{"name": "verify-runner", "docker_image": "debian"}]}}}))
PYEOF

gitlab_run() {  # $1: report name; prints the exit code
  set +e
  "$VENV/bin/ansible-playbook" -i "$work/gl/inv/hosts.yml" playbooks/verify.yml \
    -e mlstack_health_report="$work/gl/$1.json" >"$work/gl/$1.log" 2>&1
  echo $?
  set -e
}
rc_good=$(gitlab_run good)
cp "$work/gl/etc/config.toml" "$work/gl/config.good"
sed -i "s/$(cat "$work/gl/token")/glrt-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')/" "$work/gl/etc/config.toml"
rc_bad=$(gitlab_run bad)
"$VENV/bin/python" - "$work/gl" "$rc_good" "$rc_bad" <<'PYEOF'
import json, pathlib, sys
gl, rc_good, rc_bad = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
problems = []
good, bad = json.loads((gl / "good.json").read_text()), json.loads((gl / "bad.json").read_text())
if rc_good != 0 or good["summary"]["failed"] != 0 or good["summary"]["checks"] != 4:
    problems.append("with the runner's real token: exit %d, summary %s" % (rc_good, good["summary"]))
failed = [(c["service"], c["check"]) for c in bad["checks"] if not c["ok"]]
if rc_bad == 0 or failed != [("gitlab_runner", "GitLab verifies the token of runner verify-runner")]:
    problems.append("with another token: exit %d, FAILED %s" % (rc_bad, failed))
tokens = [(gl / "token").read_text().strip(), (gl / "admin-token").read_text().strip()]
for name in ("good.json", "good.log", "bad.json", "bad.log"):
    if any(token in (gl / name).read_text() for token in tokens):
        problems.append("a token appears in " + name)
for line in problems:
    print("verify_negative: FAIL (gitlab): " + line)
if problems:
    print((gl / "bad.log").read_text()[-3000:])
    sys.exit(1)
print("verify_negative: ok (gitlab): 4 checks pass with the runner's token; another token FAILS"
      " 'GitLab verifies the token of runner verify-runner' (exit %d); no token in report or output" % rc_bad)
PYEOF
kill "$standin_pid" 2>/dev/null || true
standin_pid=

# --- 2. The demo host with wrong password copies --------------------------------------
if [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$HOST" 2>/dev/null)" != "true" ] \
   || [ ! -d inventories/lab/credentials/postgres ]; then
  echo "verify_negative: SKIPPED (demo host): $HOST is not up (run make demo first)"
  [ "${VERIFY_NEGATIVE_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
fi
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
