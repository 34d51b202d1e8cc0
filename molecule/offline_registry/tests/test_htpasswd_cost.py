"""The htpasswd entries' bcrypt cost: what the registry checks on every request.

The role writes the entries at offline_registry_htpasswd_bcrypt_cost (default 5) and keeps
an entry that verifies at that cost. A site converged before, with passlib's cost-12
entries, gets them rewritten once; the run after changes nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from testinfra.host import Host

testinfra_hosts = ["ansible://offline-registry-host"]

SCENARIO_DIR = Path(__file__).resolve().parents[1]
INVENTORY_DIR = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
HTPASSWD_PULL = "/etc/mlstack/registry/htpasswd-pull"
CA = "/etc/mlstack/registry/certs/ca.crt"
# On the registry host: rewrite the pull user's entry at cost 12, as community.general.htpasswd
# (passlib) wrote it before; the password comes on stdin.
OLD_ENTRY = (
    "import bcrypt, sys; path = sys.argv[1]; password = sys.stdin.read().encode(); "
    "lines = [l for l in open(path).read().splitlines() if not l.startswith('pull:')]; "
    "lines.append('pull:' + bcrypt.hashpw(password, bcrypt.gensalt(12)).decode().replace('$2b$', '$2y$', 1)); "
    "open(path, 'w').write('\\n'.join(lines) + '\\n')"
)


def entries(host: Host, path: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in host.file(path).content_string.splitlines() if ":" in line)


def run_converge() -> subprocess.CompletedProcess[str]:
    playbook = Path(sys.executable).parent / "ansible-playbook"
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_FORCE_COLOR"}
    env["ANSIBLE_NOCOLOR"] = "1"
    return subprocess.run(
        [str(playbook), "-i", str(INVENTORY_DIR), str(SCENARIO_DIR / "converge.yml")],
        capture_output=True, text=True, env=env, check=False,
    )


def recap(output: str, name: str) -> dict[str, int]:
    match = re.search(rf"^{re.escape(name)}\s+:\s+(ok=.*)$", output, re.MULTILINE)
    assert match, output[-3000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def status_as(host: Host, user: str, password: str) -> str:
    return host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --cacert %s -u %s https://127.0.0.1:5001/v2/", CA, f"{user}:{password}"
    )


def test_entries_have_the_wanted_cost(host: Host) -> None:
    for path, users in ((HTPASSWD_PULL, ["pull", "push"]), ("/etc/mlstack/registry/htpasswd-push", ["push"])):
        found = entries(host, path)
        assert sorted(found) == users
        for user, hashed in found.items():
            assert re.fullmatch(r"\$2[aby]\$05\$[./A-Za-z0-9]{53}", hashed), (path, user)


def test_a_pull_with_the_password_is_answered(host: Host, pull_password: str) -> None:
    # The pull endpoint, on the site address, with the cost-5 entry.
    url = "https://offline-registry-host:5000/v2/mlstack-lab/offline-registry-probe/manifests/1"
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    status = host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --cacert %s -H %s -u %s %s",
        CA, f"Accept: {accept}", f"pull:{pull_password}", url,
    )
    assert status == "200"
    wrong = host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --cacert %s -u %s %s", CA, "pull:not-the-password", url
    )
    assert wrong == "401"


def test_cost_12_entries_are_rewritten_once(host: Host, pull_password: str) -> None:
    before = entries(host, HTPASSWD_PULL)
    host.run_expect([0], "printf %s %s | python3 -c %s %s", "%s", pull_password, OLD_ENTRY, HTPASSWD_PULL)
    assert entries(host, HTPASSWD_PULL)["pull"].startswith("$2y$12$")
    assert entries(host, HTPASSWD_PULL)["push"] == before["push"]

    first = run_converge()
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    assert recap(first.stdout, "offline-registry-host")["changed"] >= 1
    after = entries(host, HTPASSWD_PULL)
    assert after["pull"].startswith("$2b$05$")
    assert after["push"] == before["push"]  # verified at cost 5: kept as it was
    assert host.file(HTPASSWD_PULL).mode == 0o600 and host.file(HTPASSWD_PULL).user == "root"
    assert not host.run("ls -a /etc/mlstack/registry | grep -q mlstack-tmp").rc == 0

    second = run_converge()
    assert second.returncode == 0, second.stdout[-5000:]
    for run in (first, second):
        assert pull_password not in run.stdout + run.stderr
    assert recap(second.stdout, "offline-registry-host")["changed"] == 0, second.stdout[-5000:]
    assert entries(host, HTPASSWD_PULL) == after
