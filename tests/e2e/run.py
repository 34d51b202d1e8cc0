# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""End to end, as users run it (issue 12; docs/testing.md, tier 5).

  run.py multi    site.yml over SSH on the three hosts of inventories/lab_multi from this
                  machine (the connected controller), then verify.yml, then site.yml again
                  (changed=0 on every host)                                 make demo-multi
  run.py airgap   the same site on an --internal docker network (nothing gets out), driven from an
                  offline controller container that starts as a plain Debian with nothing
                  but the bundle and the public key copied in; only the documented offline
                  steps run there (docs/airgap.md); the lab's egress sink counts every packet
                  and DNS query that tries to leave: the run fails unless both are 0
                                                                          make demo-airgap
  run.py all      both, one after the other                               make e2e
  run.py bad-input  the bad-input table (tests/e2e/faults.py) on a fresh one-host demo lab
                  (inventories/lab, mlstack-lab-host1): every wrong inventory stops in the
                  preflight with its line(s) and leaves the host as it was

In the multi tier the first converge is cut off: SIGKILL of ansible-playbook at three tasks drawn
with a printed seed (MLSTACK_FAULTS_SEED to repeat them), each in its own run, then a run during which dockerd is
restarted on m1; the run after must report changed=0 and verify.yml must be green; then every
log of those -vvv runs is searched for every secret of the credentials directory and of the
hosts' owner-only files (faults.leaks). --no-faults converges without the faults.

Backup and restore (issue 15, tests/e2e/backup.py) ride on the two converges: at the end of the
multi tier the probe data is written and playbooks/backup.yml backs the site up into
STATE/backup-multi on this machine (a copy with one byte changed is refused, naming the file);
in the airgap tier, after the offline converge and its changed=0 run, the backup run is copied to
the offline controller, mlstack.platform.restore runs there onto the new hosts, everything is
read back through the engine and compared with what was written, and verify.yml runs again;
the egress counters cover the restore. `run.py airgap` alone restores the backup of an earlier
multi tier when its state.json is there, and says so when it is not.

Credentials: the offline controller receives the connected site's credentials directory, all
but bundle/ (the bundle's signing key stays on the connected side; the public key is carried
apart). A site rebuilt on new hosts from its backup keeps its controller's credentials, as an
operator keeps them (vault or configuration repository): the backup holds Label Studio's
database with its administrator's password hash and PostgreSQL's roles without passwords, so a
controller with other credentials could not log in to the restored Label Studio. Giving the
offline controller the same credentials is what makes the restore the one users do.

Figures (times, ratios, egress counters, bundle size) are printed and written as JSON to
.cache/e2e/<tier>.json; benchmarks/site_converge.py --e2e prints them side by side.
Hosts are left running for a look (`tests/lab/lab.sh multi-down` removes them) unless
--down is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import faults  # noqa: E402  (tests/e2e/faults.py, beside this file)
LAB = ROOT / "tests" / "lab" / "lab.sh"
EGRESS = ROOT / "tests" / "lab" / "egress" / "egress.sh"
INVENTORY = ROOT / "inventories" / "lab_multi"
STATE = Path(os.environ.get("MLSTACK_LAB_STATE", "/var/tmp/mlstack-lab"))
BUNDLE = STATE / "bundle-multi"
BACKUP_ROOT = STATE / "backup-multi"
CONTROLLER_BACKUPS = "/srv/backups/lab_multi"
CACHE = ROOT / ".cache" / "e2e"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
BIN = Path(sys.executable).parent
HOSTS = ("mlstack-lab-m1", "mlstack-lab-m2", "mlstack-lab-m3")
CONTROLLER = "mlstack-lab-controller"
CONTROLLER_ADDRESS = "10.213.1.10"
AIRGAP_NETWORK = "mlstack-lab-airgap"
AIRGAP_SINK = "10.213.1.254"


def log(message: str) -> None:
    print(f"[e2e] {message}", flush=True)


def run(command: list[str], *, log_file: Path | None = None, check: bool = True,
        env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a command with its output going to log_file as it comes (so a long step can be
    followed with tail -f), and its tail to stderr on failure; return (seconds, output)."""
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as spool:
        sink = open(log_file, "w") if log_file is not None else spool
        try:
            proc = subprocess.run(command, cwd=ROOT, env=env, text=True, stdin=subprocess.DEVNULL,
                                  stdout=sink, stderr=subprocess.STDOUT, check=False)
        finally:
            if log_file is not None:
                sink.close()
        if log_file is not None:
            output = log_file.read_text()
        else:
            spool.seek(0)
            output = spool.read()
    elapsed = time.monotonic() - started
    if check and proc.returncode != 0:
        sys.stderr.write(output[-6000:])
        where = f" (log {log_file})" if log_file else ""
        raise SystemExit(f"[e2e] FAILED: {shlex.join(command)[:300]} exited {proc.returncode}{where}")
    return elapsed, output


# The same recap parser and Ansible environment as the faults it runs (one definition).
recap = faults.recap
ansible_env = faults.ansible_env


def require_idempotent(name: str, counts: dict[str, dict[str, int]]) -> None:
    missing = [host for host in HOSTS if host not in counts]
    changed = {host: c["changed"] for host, c in counts.items() if c["changed"] or c["failed"] or c["unreachable"]}
    if missing or changed:
        raise SystemExit(f"[e2e] FAILED: {name}: second run not idempotent: changed/failed {changed}, missing {missing}")


def health(report: Path) -> dict:
    data = json.loads(report.read_text())
    checks = data["checks"] if isinstance(data, dict) else data
    failed = [c for c in checks if not c.get("ok")]
    if failed or not checks:
        raise SystemExit(f"[e2e] FAILED: health report {report}: {len(failed)} of {len(checks)} checks failed")
    return {"checks": len(checks), "failed": 0,
            "hosts": sorted({c["host"] for c in checks}),
            "services": sorted({c["service"] for c in checks})}


def bundle_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and not p.is_symlink())


def make_bundle(extra: list[str], log_file: Path) -> float:
    env = dict(ansible_env(), ANSIBLE_PLAYBOOK=str(BIN / "ansible-playbook"))
    seconds, dummy = run([str(LAB), "bundle", str(BUNDLE), str(INVENTORY / "hosts.yml"), *extra],
                         log_file=log_file, env=env)
    return seconds


def check_host_key_pinning(env: dict[str, str], work: Path) -> None:
    """A host key that is not the one pinned must stop Ansible: known_hosts with m2's keys
    written under m1's name."""
    pinned = (INVENTORY / "credentials" / "ssh" / "known_hosts").read_text().splitlines()
    m1 = [line for line in pinned if line.startswith(HOSTS[0] + ",")]
    m2 = [line.split(" ", 1)[1] for line in pinned if line.startswith(HOSTS[1] + ",")]
    wrong = work / "known_hosts.wrong"
    wrong.write_text("".join(f"{m1[0].split(' ', 1)[0]} {key}\n" for key in m2))
    args = (f"-o UserKnownHostsFile={wrong} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes")
    dummy, out = run([str(BIN / "ansible"), HOSTS[0], "-i", str(INVENTORY / "hosts.yml"), "-m", "ansible.builtin.ping",
                      "-e", f"ansible_ssh_common_args='{args}'"], env=env, check=False)
    refused = "Host key verification failed" in out or "REMOTE HOST IDENTIFICATION HAS CHANGED" in out
    if "UNREACHABLE" not in out or not refused:
        raise SystemExit(f"[e2e] FAILED: {HOSTS[0]} was reached with a host key that is not pinned:\n{out[-2000:]}")
    log(f"host key pinning: {HOSTS[0]} with another host's key is refused (Host key verification failed)")


def tier_multi(args: argparse.Namespace) -> dict:
    env = ansible_env()
    logs = CACHE / "multi"
    logs.mkdir(parents=True, exist_ok=True)
    figures: dict = {"tier": "multi", "date": time.strftime("%Y-%m-%d"), "hosts": list(HOSTS)}
    log("fresh lab_multi hosts on the lab network (SSH)")
    run([str(LAB), "multi-down"])
    run([str(LAB), "multi-up", "online"], log_file=logs / "multi-up.log")
    with tempfile.TemporaryDirectory(prefix="mlstack-e2e.") as work:
        check_host_key_pinning(env, Path(work))
    log(f"bundle for inventories/lab_multi in {BUNDLE} (playbooks/bundle.yml)")
    figures["bundle_s"] = make_bundle([], logs / "bundle.log")
    playbook = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY / "hosts.yml")]
    import checkmode  # noqa: E402  (tests/e2e/checkmode.py, beside this file)

    def check_mode(state: str) -> dict:
        log(f"site.yml --check --diff on the {state} hosts (tests/e2e/checkmode.py, log {logs}/check-{state}.log)")
        result = getattr(checkmode, state)(INVENTORY, HOSTS, logs / f"check-{state}.log")
        if not result["ok"]:
            raise SystemExit(f"[e2e] FAILED: check mode on the {state} site: " + "; ".join(result["problems"]))
        log(f"check mode ({state}): {result['plays_reached']} of {result['plays']} plays, failed=0, "
            f"changed={result['changed']}, {result['seconds']} s")
        return {key: result[key] for key in ("seconds", "plays", "plays_reached", "changed")} | {
            "not_simulated": {host: len(notes) for host, notes in result["not_simulated"].items()}}

    figures["check_fresh"] = check_mode("fresh")
    if args.faults:
        converge_with_faults(figures, logs / "faults")
    else:
        log("site.yml over SSH, first converge")
        figures["first_s"], out = run([*playbook, "playbooks/site.yml"], log_file=logs / "site-1.log", env=env)
        figures["first_changed"] = sum(c["changed"] for c in recap(out).values())
        report = logs / "health-report.json"
        log(f"verify.yml, health report {report}")
        run([*playbook, "playbooks/verify.yml", "-e", f"mlstack_health_report={report}"],
            log_file=logs / "verify.log", env=env)
        figures["health"] = health(report)
        log("site.yml over SSH, second run")
        figures["second_s"], out = run([*playbook, "playbooks/site.yml"], log_file=logs / "site-2.log", env=env)
        require_idempotent("multi", recap(out))
        figures["second_changed"] = 0
    figures["ratio"] = round(figures["second_s"] / figures["first_s"], 3)
    figures["check_converged"] = check_mode("converged")
    figures["check_converged_ratio"] = round(figures["check_converged"]["seconds"] / figures["second_s"], 3)
    import backup  # noqa: E402  (tests/e2e/backup.py, beside this file)
    log(f"backup: the probe data, backup.yml into {BACKUP_ROOT}, a tampered copy refused (logs {logs}/backup)")
    started = time.monotonic()
    figures["backup"] = backup.backup_and_refuse(logs / "backup", BACKUP_ROOT)
    figures["backup"]["total_s"] = round(time.monotonic() - started, 1)
    log(f"backup: {figures['backup']['backup_s']} s, {figures['backup']['backup_bytes']} bytes, "
        f"written {json.dumps(figures['backup']['written'])}; {figures['backup']['tampered_refused']}")
    if args.down:
        run([str(LAB), "multi-down"])
    return figures


def converge_with_faults(figures: dict, logs: Path) -> None:
    """The multi tier's converge, cut off (tests/e2e/faults.py interrupted: three SIGKILLs, a
    dockerd restart on m1, then changed=0 and verify.yml green), and the leak scan of its
    -vvv logs. first_s is then the time of the runs that converged the site (the killed ones
    and the one that finished it), second_s that of the changed=0 run."""
    seed = int(os.environ["MLSTACK_FAULTS_SEED"]) if os.environ.get("MLSTACK_FAULTS_SEED") else None
    log("site.yml over SSH, cut off: SIGKILL at three seeded tasks, then a run with a dockerd restart on "
        f"{HOSTS[0]}, then changed=0 and verify.yml (logs {logs})")
    result = faults.interrupted(INVENTORY, HOSTS, logs, seed=seed, kills=3, verbosity="-vvv")
    kept = ("seed", "kill_points", "dockerd_restart_at", "runs", "leftovers", "problems")
    figures["faults"] = {key: result[key] for key in kept}
    if not result["ok"]:
        raise SystemExit("[e2e] FAILED: the cut-off converge: " + "; ".join(result["problems"]))
    runs = {r["label"]: r for r in result["runs"]}
    final = runs["idempotent"]
    require_idempotent("multi (after the faults)", recap(Path(final["log"]).read_text()))
    figures["first_s"] = round(sum(r["seconds"] for r in result["runs"] if r["label"] != "idempotent"), 1)
    figures["second_s"] = final["seconds"]
    figures["second_changed"] = 0
    figures["health"] = health(logs / "health-report.json")
    log("leak scan of the -vvv logs (credentials and the hosts' owner-only files)")
    found = faults.leaks(INVENTORY, HOSTS, logs, converge=False)
    kept = ("logs", "bytes_scanned", "credential_values", "host_secret_tokens", "patterns", "hits", "tasks_with_hits")
    figures["leaks"] = {key: found[key] for key in kept}
    if not found["ok"]:
        raise SystemExit(f"[e2e] FAILED: {found['hits']} secret(s) in the logs, tasks: {found['tasks_with_hits']}")
    log(f"leaks: 0 hits for {found['patterns']} patterns in {found['logs']} logs ({found['bytes_scanned']} bytes)")


def tier_bad_input(args: argparse.Namespace) -> dict:
    """The bad-input table on a fresh demo host (inventories/lab): nothing converges there,
    every case must stop in the preflight and leave the host as it was."""
    logs = CACHE / "bad-input"
    logs.mkdir(parents=True, exist_ok=True)
    inventory = ROOT / "inventories" / "lab"
    env = dict(ansible_env(), ANSIBLE_PLAYBOOK=str(BIN / "ansible-playbook"))
    figures: dict = {"tier": "bad-input", "date": time.strftime("%Y-%m-%d"), "hosts": ["mlstack-lab-host1"]}
    log("the lab's bundle (the inventory's controller paths must exist) and a fresh demo host")
    run([str(LAB), "bundle"], log_file=logs / "bundle.log", env=env)
    run([str(LAB), "hosts-down"])
    run([str(LAB), "hosts-up", "1"], log_file=logs / "hosts-up.log")
    result = faults.bad_input(inventory, ["mlstack-lab-host1"], logs)
    figures.update({key: result[key] for key in ("cases", "passed", "failed", "seconds", "seconds_per_case")})
    if result["failed"]:
        raise SystemExit(f"[e2e] FAILED: bad input not stopped cleanly: {result['failed']} (logs {logs})")
    if args.down:
        run([str(LAB), "hosts-down"])
    return figures


CONTROLLER_STEPS = r"""
set -eu
# docs/airgap.md, "2. On the offline controller", step by step.
B=/media/bundle
install -d /etc/apt/keyrings
install -m 0644 /etc/mlstack/bundle-signing.pub.asc /etc/apt/keyrings/mlstack-bundle.asc
printf '%s\n' 'Types: deb' "URIs: file:$B/apt/debian-bookworm" 'Suites: ./' \
  'Signed-By: /etc/apt/keyrings/mlstack-bundle.asc' > /etc/apt/sources.list.d/mlstack-bundle.sources
only_bundle="-o Dir::Etc::SourceList=/etc/apt/sources.list.d/mlstack-bundle.sources -o Dir::Etc::SourceParts=/dev/null"
apt-get $only_bundle update
DEBIAN_FRONTEND=noninteractive apt-get $only_bundle install -y python3-venv openssh-client
python3 -m venv /opt/ansible
/opt/ansible/bin/pip install --no-index --find-links $B/controller/wheels -r $B/controller/wheels/requirements.txt
/opt/ansible/bin/ansible-galaxy collection install --offline $B/controller/mlstack-platform-*.tar.gz
"""


def controller(command: str, log_file: Path, check: bool = True) -> tuple[float, str]:
    return run([DOCKER, "exec", "-w", "/site", CONTROLLER, "sh", "-c", command], log_file=log_file, check=check)


def egress_report(log_file: Path) -> dict:
    state_file = STATE / "egress" / "state.json"
    time.sleep(2)  # the sink writes its state every second
    dummy, out = run([str(EGRESS), "report", str(STATE / "egress")], log_file=log_file, check=False)
    state = json.loads(state_file.read_text())
    return {"packets": state["packets"], "dns_queries": state["dns_queries"], "report": out.strip()[-2000:]}


def tier_airgap(args: argparse.Namespace) -> dict:
    logs = CACHE / "airgap"
    logs.mkdir(parents=True, exist_ok=True)
    figures: dict = {"tier": "airgap", "date": time.strftime("%Y-%m-%d"), "hosts": list(HOSTS)}
    log("the egress sink's self-test: it must see a lookup and a packet that try to leave")
    figures["egress_selftest_s"], dummy = run([str(EGRESS), "selftest"], log_file=logs / "egress-selftest.log")
    log("bundle for inventories/lab_multi + airgap.yml (on this machine: the connected side)")
    figures["bundle_s"] = make_bundle(["-e", f"@{INVENTORY / 'airgap.yml'}", "-e", f"mlstack_bundle_dir={BUNDLE}"],
                                      logs / "bundle.log")
    figures["bundle_bytes"] = bundle_size(BUNDLE)
    log("fresh lab_multi hosts on an --internal network, routes and DNS to the egress sink")
    run([str(LAB), "multi-down"])
    run([DOCKER, "rm", "-f", CONTROLLER], check=False)
    run([str(LAB), "multi-up", "airgap"], log_file=logs / "multi-up.log")

    log("the offline controller: plain Debian, then the bundle and the public key copied in")
    run([DOCKER, "run", "-d", "--name", CONTROLLER, "--hostname", CONTROLLER, "--network", AIRGAP_NETWORK,
         "--ip", CONTROLLER_ADDRESS, "--dns", AIRGAP_SINK, "--label", "mlstack-lab.site=multi-airgap",
         "mlstack-lab/debian:bookworm", "sleep", "infinity"])
    run([str(EGRESS), "attach", CONTROLLER, AIRGAP_SINK])
    started = time.monotonic()
    run([DOCKER, "exec", CONTROLLER, "mkdir", "-p", "/media", "/etc/mlstack", "/site/credentials"])
    run([DOCKER, "cp", str(BUNDLE), f"{CONTROLLER}:/media/bundle"])
    figures["copy_bundle_s"] = round(time.monotonic() - started, 1)
    run([DOCKER, "cp", str(INVENTORY / "credentials" / "bundle" / "signing-key.pub.asc"),
         f"{CONTROLLER}:/etc/mlstack/bundle-signing.pub.asc"])
    # The site's inventory and its credentials directory as the site keeps them (its
    # configuration repository, a vault); never the bundle's secret signing key, which stays
    # on the connected side (the module docstring says why the credentials are carried).
    for item in ("hosts.yml", "group_vars", "airgap.yml"):
        run([DOCKER, "cp", str(INVENTORY / item), f"{CONTROLLER}:/site/{item}"])
    carry_credentials()
    run([DOCKER, "cp", str(ROOT / "tests" / "e2e" / "controller.cfg"), f"{CONTROLLER}:/site/ansible.cfg"])

    log("on the controller: Ansible and the collection from the bundle alone")
    figures["controller_install_s"], dummy = controller(CONTROLLER_STEPS, logs / "controller-install.log")
    playbook = "ANSIBLE_CONFIG=/site/ansible.cfg /opt/ansible/bin/ansible-playbook -i /site/hosts.yml -e @/site/airgap.yml"
    log("bundle_verify on the controller")
    figures["bundle_verify_s"], dummy = controller(f"{playbook} mlstack.platform.bundle_verify", logs / "bundle-verify.log")
    log("site.yml offline over SSH, first converge")
    figures["first_s"], out = controller(f"{playbook} mlstack.platform.site", logs / "site-1.log")
    figures["first_changed"] = sum(c["changed"] for c in recap(out).values())
    log("verify.yml offline")
    controller(f"{playbook} mlstack.platform.verify -e mlstack_health_report=/site/health-report.json",
               logs / "verify.log")
    run([DOCKER, "cp", f"{CONTROLLER}:/site/health-report.json", str(logs / "health-report.json")])
    figures["health"] = health(logs / "health-report.json")
    log("site.yml offline, second run")
    figures["second_s"], out = controller(f"{playbook} mlstack.platform.site", logs / "site-2.log")
    require_idempotent("airgap", recap(out))
    figures["second_changed"] = 0
    figures["ratio"] = round(figures["second_s"] / figures["first_s"], 3)
    figures["restore"] = restore_offline(playbook, logs)
    figures["egress"] = egress_report(logs / "egress-report.log")
    if figures["egress"]["packets"] or figures["egress"]["dns_queries"]:
        raise SystemExit(f"[e2e] FAILED: something tried to leave the air-gapped lab:\n{figures['egress']['report']}")
    log("egress: 0 packets and 0 DNS queries left the lab during the whole run")
    if args.down:
        run([DOCKER, "rm", "-f", CONTROLLER], check=False)
        run([str(LAB), "multi-down"])
        run([str(EGRESS), "down"], check=False)
    return figures


def credentials_to_carry(root: Path) -> list[str]:
    """The credentials directory's entries the offline controller receives: all but bundle/
    (the bundle's secret signing key never leaves the connected side)."""
    return sorted(p.name for p in root.iterdir() if p.name != "bundle")


def carry_credentials() -> None:
    """The connected site's credentials (the module docstring says why), as one tar stream
    into /site/credentials, modes kept; never the bundle's signing key."""
    root = INVENTORY / "credentials"
    names = credentials_to_carry(root)
    pack = subprocess.Popen(["tar", "-C", str(root), "-c", "--", *names], stdout=subprocess.PIPE)
    unpack = subprocess.run([DOCKER, "exec", "-i", CONTROLLER, "tar", "-C", "/site/credentials", "-x", "--no-same-owner"],
                            stdin=pack.stdout, check=False)
    pack.stdout.close()
    if pack.wait() != 0 or unpack.returncode != 0:
        raise SystemExit("[e2e] FAILED: copying the credentials directory to the offline controller")
    found = run([DOCKER, "exec", CONTROLLER, "sh", "-c", "ls -A /site/credentials; find /site/credentials -name 'signing-key*'"])[1].split()
    if "bundle" in found or any("signing-key" in name for name in found):
        raise SystemExit(f"[e2e] FAILED: the bundle's signing key reached the offline controller: {found}")
    log(f"credentials carried to the offline controller: {', '.join(names)} (not bundle/)")


def restore_offline(playbook: str, logs: Path) -> dict:
    """The multi tier's backup restored by the offline controller onto the new air-gapped
    hosts, read back and compared, then verify.yml again (tests/e2e/backup.py)."""
    import backup  # noqa: E402  (tests/e2e/backup.py, beside this file)
    state_file = BACKUP_ROOT / "state.json"
    if not state_file.is_file():
        log(f"restore: no backup of a multi tier in {BACKUP_ROOT} (run.py all makes one): not run")
        return {"run": False}
    state = json.loads(state_file.read_text())
    run_name = Path(state["run_dir"]).name
    log(f"restore: backup run {run_name} copied to the offline controller ({CONTROLLER_BACKUPS}), mlstack.platform.restore")
    started = time.monotonic()
    run([DOCKER, "exec", CONTROLLER, "install", "-d", "-m", "0700", CONTROLLER_BACKUPS])
    run([DOCKER, "cp", state["run_dir"], f"{CONTROLLER}:{CONTROLLER_BACKUPS}/{run_name}"])
    figures: dict = {"run": run_name, "copy_s": round(time.monotonic() - started, 1)}
    extra = shlex.quote(json.dumps({"mlstack_backup_dir": CONTROLLER_BACKUPS, "mlstack_restore_run": run_name,
                                    "mlstack_backup_services": backup.SERVICES}))
    seconds, out = controller(f"{playbook} mlstack.platform.restore -e {extra}", logs / "restore.log")
    figures["restore_s"] = round(seconds, 1)
    figures["restore_changed"] = {host: c["changed"] for host, c in recap(out).items()}
    log("restore: read back through the engine and compare with what was written in the multi tier")
    figures.update(backup.readback(state))
    log("verify.yml offline, after the restore")
    seconds, dummy = controller(
        f"{playbook} mlstack.platform.verify -e mlstack_health_report=/site/health-report-restored.json", logs / "verify-restored.log")
    figures["verify_s"] = round(seconds, 1)
    run([DOCKER, "cp", f"{CONTROLLER}:/site/health-report-restored.json", str(logs / "health-report-restored.json")])
    figures["health"] = health(logs / "health-report-restored.json")
    figures["backup_s"] = state["figures"]["backup_s"]
    log(f"restore: {figures['restore_s']:.1f} s, identical {json.dumps(figures['identical'])}, "
        f"verify after it: {figures['health']['checks']} checks green")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tier", choices=("multi", "airgap", "all", "bad-input"))
    parser.add_argument("--down", action="store_true", help="remove the hosts when done")
    parser.add_argument("--no-faults", dest="faults", action="store_false",
                        help="multi: converge without the SIGKILL, the dockerd restart and the leak scan")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    tiers = ("multi", "airgap") if args.tier == "all" else (args.tier,)
    for tier in tiers:
        started = time.monotonic()
        figures = {"multi": tier_multi, "airgap": tier_airgap, "bad-input": tier_bad_input}[tier](args)
        figures["total_s"] = round(time.monotonic() - started, 1)
        for key, value in list(figures.items()):
            if isinstance(value, float) and key != "ratio":
                figures[key] = round(value, 1)
        (CACHE / f"{tier}.json").write_text(json.dumps(figures, indent=2) + "\n")
        log(f"{tier}: PASS " + json.dumps({k: v for k, v in figures.items() if k not in ("hosts",)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
