# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Faults against lab hosts (issue 15, points 3 and 4 and the leak test).

  faults.py bad-input    a table of wrong inventories (copies of INVENTORY, each with one fault):
                         each must fail in the preflight with exactly its line(s), and leave every
                         host as it was (a snapshot of each host before and after: files under
                         /etc /opt /srv /var/lib minus volatile ones, packages, containers, units)
                         and the copy's credentials directory as it was
  faults.py interrupted  site.yml killed (SIGKILL of ansible-playbook's process group) at three
                         tasks drawn from `--list-tasks` with a printed seed, re-run each time;
                         then a run during which dockerd is restarted on a host, a run that must
                         succeed, one that must report changed=0, and verify.yml green
  faults.py leaks        every value under INVENTORY/credentials (minus SSH key material and
                         public certificates) and every secret-looking token of the files the
                         roles write on the hosts with owner-only modes, searched raw,
                         JSON-escaped, URL-quoted and base64-encoded (alone, as user:secret for
                         basic auth, and inside longer base64 at each alignment) in every *.log
                         of the log directory (the -vvv runs of `interrupted`, or its own
                         converge with -vvv when there are none); a hit names its TASK header
  faults.py all          the three in that order

Each part is a function (bad_input, interrupted, leaks) of the inventory path, the hosts'
container names and a log directory, returning a dict of figures; the CLI prints the figures
and writes them to LOGS/<part>.json. No secret value is ever printed: a hit names the file the
value came from, the form it was found in, the log, the line and the task.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
BIN = Path(sys.executable).parent
PREFLIGHT_PLAY = "Preflight (every host's inputs, before anything changes)"
STOP_TASK = "Stop the run on bad input, with every problem of every host at once"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
TASK_HEADER = re.compile(r"^TASK \[(?P<name>.*)\] \**\s*$")

# What changes on a host by itself, without any task: the engines' state (containers write
# logs, overlay layers), PostgreSQL's data directory (checkpoints, statistics), the stores'
# data, systemd's and apt's timestamps, caches and logs (/var/log is not looked at at all).
VOLATILE = (
    "/var/lib/docker", "/var/lib/containerd", "/var/lib/postgresql/*/main", "/var/lib/systemd/timers",
    "/var/lib/systemd/random-seed", "/var/lib/systemd/coredump", "/var/lib/systemd/catalog",
    "/var/lib/apt/periodic", "/var/lib/dhcp", "/var/lib/private", "/var/lib/logrotate",
    "/var/lib/sudo", "/var/cache", "/srv/*/data", "/srv/*/volumes",
)
SNAPSHOT_SCRIPT = r"""
find /etc /opt /srv /var/lib -xdev \( {prune} \) -prune -o -printf 'file\t%p\t%y %m %u:%g %s %T@\n' 2>/dev/null
dpkg-query -W -f='package\t${{Package}}:${{Architecture}}\t${{Version}} ${{db:Status-Abbrev}}\n' 2>/dev/null
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker ps -a --no-trunc --format 'container\t{{{{.Names}}}}\t{{{{.ID}}}} {{{{.Image}}}} {{{{.State}}}}'
fi
systemctl list-unit-files --no-legend --no-pager 2>/dev/null | awk '{{print "unit\t" $1 "\t" $2}}'
systemctl list-units --all --no-legend --no-pager --plain --type=service,socket,timer,mount 2>/dev/null \
  | awk '{{print "active\t" $1 "\t" $2 " " $3}}'
true
"""
SECTIONS = ("file", "package", "container", "unit", "active")
# Files under the credentials directory that hold no service secret.
NOT_SECRET = re.compile(r"(^|/)(ssh/|known_hosts$)|\.(crt|csr|pem\.pub|pub|pub\.asc)$")
# System files that are owner-only on any Debian host and not written by the roles.
SYSTEM_PRIVATE = re.compile(r"^/etc/(shadow|gshadow|shadow-|gshadow-|sudoers|ssl/private/|ssh/ssh_host_|"
                            r"security/opasswd|credstore)")
HOST_SECRET_DIRS = ("/etc", "/opt", "/srv", "/root", "/home")
TOKEN = re.compile(r"[A-Za-z0-9+/_.~\-]{16,}")
# Words, hostnames, paths: lowercase segments, each maybe ending in digits.
WORDY = re.compile(r"^(?:[a-z]*[0-9]*(?:[-_./~]|$))+$")


def log(message: str) -> None:
    print(f"[faults] {message}", flush=True)


def ansible_env() -> Dict[str, str]:
    return dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                ANSIBLE_HOME=str(ROOT / ".ansible"),
                ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible" / "collections"),
                PATH=f"{BIN}:{os.environ.get('PATH', '')}")


def playbook_command(inventory: Path, name: str, *args: str) -> List[str]:
    return [str(BIN / "ansible-playbook"), "-i", str(inventory / "hosts.yml"), str(ROOT / "playbooks" / name), *args]


def recap(output: str) -> Dict[str, Dict[str, int]]:
    return {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)),
                         "unreachable": int(m.group(4)), "failed": int(m.group(5))}
            for m in RECAP.finditer(output)}


# --- host snapshots ------------------------------------------------------------------------

def snapshot_script(volatile: Sequence[str] = VOLATILE) -> str:
    prune = " -o ".join("-path '%s'" % path for path in volatile)
    return SNAPSHOT_SCRIPT.format(prune=prune)


def parse_snapshot(text: str) -> Dict[str, Dict[str, str]]:
    """The snapshot script's output as {section: {key: state}}."""
    state: Dict[str, Dict[str, str]] = {section: {} for section in SECTIONS}
    for raw in text.splitlines():
        parts = raw.split("\t", 2)
        if len(parts) == 3 and parts[0] in state:
            state[parts[0]][parts[1]] = parts[2]
    return state


def snapshot(container: str) -> Dict[str, Dict[str, str]]:
    proc = subprocess.run([DOCKER, "exec", container, "sh", "-c", snapshot_script()],
                          capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"snapshot of {container} failed: {proc.stderr.strip()[-500:]}")
    return parse_snapshot(proc.stdout)


def diff_snapshots(before: Mapping[str, Mapping[str, str]],
                   after: Mapping[str, Mapping[str, str]]) -> Dict[str, Dict[str, List[str]]]:
    """What differs, by section: keys added, removed, and changed (state before -> after).
    Empty when nothing changed."""
    found: Dict[str, Dict[str, List[str]]] = {}
    for section in sorted(set(before) | set(after)):
        old, new = before.get(section) or {}, after.get(section) or {}
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        changed = sorted("%s: %s -> %s" % (k, old[k], new[k]) for k in set(old) & set(new) if old[k] != new[k])
        if added or removed or changed:
            found[section] = {"added": added, "removed": removed, "changed": changed}
    return found


def tree_digest(directory: Path) -> Dict[str, str]:
    """sha256 and mode of every file under a directory (the controller's credentials)."""
    digests: Dict[str, str] = {}
    for path in sorted(directory.rglob("*")) if directory.is_dir() else []:
        if path.is_file():
            digests[str(path.relative_to(directory))] = "%o %s" % (
                path.stat().st_mode & 0o7777, hashlib.sha256(path.read_bytes()).hexdigest())
    return digests


# --- the bad-input table -----------------------------------------------------------------

Edit = Callable[[str], str]


@dataclasses.dataclass(frozen=True)
class BadInput:
    """One wrong inventory: the edits to group_vars/all/main.yml and to hosts.yml (text in,
    text out), and the exact lines the preflight must print (without the header)."""
    name: str
    kind: str
    expected: Tuple[str, ...]
    group_vars: Optional[Edit] = None
    hosts: Optional[Edit] = None
    absent: Tuple[str, ...] = ()  # text that must appear nowhere in the output (a planted secret)


def replace(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        if old not in text:
            raise ValueError("the inventory has no %r to replace" % old)
        return text.replace(old, new, 1)
    return edit


def append(extra: str) -> Edit:
    return lambda text: text.rstrip("\n") + "\n" + extra


# A host that exists in the inventory only (never reached: the preflight runs on the
# controller): an address outside the lab network, in group labeling.
OUTSIDE_HOST = ("    labeling:\n      hosts:\n        mlstack-lab-host1:\n"
                "        mlstack-lab-labeler:\n          ansible_host: 192.0.2.20\n")

H = "mlstack-lab-host1"
LAB_CASES: Tuple[BadInput, ...] = (
    BadInput("int given a word", "wrong type",
             (f"{H}: postgres_memory_mb: must be of type int, got str ('lots' cannot be converted to an int)",),
             group_vars=replace("postgres_memory_mb: 2048", "postgres_memory_mb: lots")),
    BadInput("bool given a word", "wrong type",
             (f"{H}: offline_registry_import_bundle: must be of type bool, got str "
              "('sometimes' is not a boolean; use one of yes/no, true/false, on/off, y/n, t/f, 1/0)",),
             group_vars=replace("offline_registry_import_bundle: true", "offline_registry_import_bundle: sometimes")),
    BadInput("list of dicts given a string", "wrong type",
             (f"{H}: docker_host_default_address_pools: items must be of type dict, got str "
              "(dictionary requested, could not parse JSON or key=value)",),
             group_vars=replace("docker_host_default_address_pools:\n  - base: 172.80.0.0/16\n    size: 24",
                                "docker_host_default_address_pools: 172.80.0.0/16")),
    BadInput("unknown S3 engine", "unknown choice",
             (f"{H}: minio_engine: must be one of minio, seaweedfs, got ceph",),
             group_vars=replace("minio_engine: seaweedfs", "minio_engine: ceph")),
    BadInput("unknown GPU mode", "unknown choice",
             (f"{H}: docker_host_gpu: must be one of auto, always, never, got sometimes",),
             group_vars=replace("docker_host_gpu: never", "docker_host_gpu: sometimes")),
    BadInput("a bucket without a name", "missing required value",
             # and, the list having lost Label Studio's bucket, that too (every problem at once)
             (f"{H}: minio_buckets: lists no bucket label-studio, which role label_studio on {H} uses "
              "(label_studio_s3_bucket)",
              f"{H}: minio_buckets: name: is required but not set"),
             group_vars=append("minio_buckets:\n  - read_write: [label_studio]\n")),
    BadInput("a database without a name", "missing required value",
             (f"{H}: postgres_databases: name: is required but not set",),
             group_vars=replace("  - name: pachyderm\n", "  - owner: pachyderm\n")),
    BadInput("postgres_databases misspelt (issue 15's incident)", "misspelt name",
             (f"{H}: postgres_databases: lists no database labelstudio (owner labelstudio), "
              f"which role label_studio on {H} uses (label_studio_db_name)",
              f"{H}: postgress_databases: not declared by any role; did you mean postgres_databases?"),
             group_vars=replace("\npostgres_databases:", "\npostgress_databases:")),
    BadInput("mlstack_offline misspelt", "misspelt name",
             (f"{H}: mlstack_ofline: not declared by any role; did you mean mlstack_offline?",),
             group_vars=replace("mlstack_offline: false", "mlstack_ofline: false")),
    BadInput("a key inside a database misspelt", "misspelt name",
             (f"{H}: postgres_databases: extensoins: not a known key (did you mean extensions? "
              "known: allowed_cidrs, encoding, extensions, name, owner, password)",),
             group_vars=replace("    extensions: [pg_trgm", "    extensoins: [pg_trgm")),
    BadInput("registry name that is no registry host", "contradictory across hosts",
             (f"{H}: mlstack_registry: names mlstack-lab-host2, which is not a host of group registry "
              f"({H}) nor the address of one",),
             group_vars=replace("mlstack_registry: mlstack-lab-host1:5000", "mlstack_registry: mlstack-lab-host2:5000")),
    BadInput("postgres client outside the allowlist", "contradictory across hosts",
             (f"{H}: postgres_hba_allowed_cidrs: does not cover mlstack-lab-labeler (192.0.2.20), "
              "from which role label_studio reaches database labelstudio",),
             hosts=replace("    labeling:\n      hosts:\n        mlstack-lab-host1:\n", OUTSIDE_HOST)),
    # The cases below passed the preflight before issue 15's point 4: the run stopped only in the
    # play of the role that asserts them (Label Studio's and PostgreSQL's after Docker, the
    # registry and the earlier services were set up on the host).
    BadInput("Label Studio's bucket is no bucket of the store", "contradictory across roles",
             (f"{H}: minio_buckets: lists no bucket annotations, which role label_studio on {H} uses "
              "(label_studio_s3_bucket)",),
             group_vars=append("label_studio_s3_bucket: annotations\n")),
    BadInput("Label Studio's S3 consumer has no access to its bucket", "contradictory across roles",
             (f"{H}: minio_buckets: bucket label-studio does not give labelstudio read_write, which role "
              f"label_studio on {H} needs (label_studio_s3_consumer)",),
             group_vars=append("label_studio_s3_consumer: labelstudio\n")),
    BadInput("a proxy without a scheme", "wrong value",
             (f"{H}: mlstack_proxy: http: must be empty or start with http:// or https://, got proxy.lab:3128",),
             group_vars=append("mlstack_proxy:\n  http: proxy.lab:3128\n")),
    BadInput("an allowlist entry that is no network", "wrong value",
             (f"{H}: postgres_hba_allowed_cidrs: 10.213.0.0/33 is not an address or network (e.g. 10.0.0.0/24)",),
             group_vars=replace("  - 10.213.0.0/24   # the lab network", "  - 10.213.0.0/33   # the lab network")),
    BadInput("a target the manifest does not know", "unknown choice",
             (f"{H}: mlstack_target: must be one of debian-bookworm, ubuntu-jammy, ubuntu-noble "
              "(mlstack_artifacts.targets), got debian-trixie",),
             group_vars=replace("mlstack_target: debian-bookworm", "mlstack_target: debian-trixie")),
    BadInput("a wheelhouse that is not on the controller", "missing required value",
             (f"{H}: label_studio_wheelhouse_dir: /nonexistent/wheels is not a directory on the controller "
              "(Label Studio is installed from it)",),
             group_vars=replace('label_studio_wheelhouse_dir: "{{ mlstack_bundle_dir }}/python/debian-bookworm/label_studio"',
                                "label_studio_wheelhouse_dir: /nonexistent/wheels")),
    BadInput("the registry's host is no docker host", "contradictory across hosts",
             (f"{H}: docker_hosts: does not list this host, which is in group object_store: role minio runs its "
              "service in a container of the host's Docker Engine",
              f"{H}: docker_hosts: does not list this host, which is in group registry: role offline_registry runs "
              "its service in a container of the host's Docker Engine"),
             hosts=replace("    docker_hosts:\n      hosts:\n        mlstack-lab-host1:\n", "")),
    BadInput("a secret pasted into another option is not shown", "wrong type",
             (f"{H}: label_studio_port: must be of type int, got str ('********' cannot be converted to an int)",),
             group_vars=append("label_studio_admin_password: Hunter2-planted-7f3a\nlabel_studio_port: Hunter2-planted-7f3a\n"),
             absent=("Hunter2-planted-7f3a",)),
)


def broken_inventory(source: Path, case: BadInput, work: Path) -> Path:
    """A copy of the inventory with the case's edits: hosts.yml, group_vars, host_vars and
    the credentials (so that a case the preflight misses changes the copy, not the lab's)."""
    copy = work / "inventory"
    shutil.copytree(source, copy, symlinks=True)
    if case.group_vars:
        main = copy / "group_vars" / "all" / "main.yml"
        main.write_text(case.group_vars(main.read_text()))
    if case.hosts:
        hosts = copy / "hosts.yml"
        hosts.write_text(case.hosts(hosts.read_text()))
    return copy


def json_report(stdout: str) -> dict:
    """The json callback's report, after whatever other callbacks printed."""
    start = re.search(r"^\{$", stdout, re.M)
    if not start:
        return {}
    try:
        report, dummy = json.JSONDecoder().raw_decode(stdout[start.start():])
    except ValueError:
        return {}
    return report


def preflight_lines(report: Mapping) -> Optional[List[str]]:
    """The lines of the preflight's failure (None when the preflight did not fail)."""
    for play in report.get("plays") or []:
        for task in play.get("tasks") or []:
            if not task["task"]["name"].endswith(STOP_TASK):
                continue
            for result in task["hosts"].values():
                if result.get("failed"):
                    return result["msg"].split("\n")[1:]
    return None


def plays_that_ran(report: Mapping) -> List[str]:
    return [play["play"]["name"] for play in report.get("plays") or [] if any(t["hosts"] for t in play["tasks"])]


def run_case(inventory: Path, containers: Sequence[str], case: BadInput, log_dir: Path,
             before: Mapping[str, Mapping[str, Mapping[str, str]]], timeout: int = 600) -> Tuple[dict, dict]:
    """Run site.yml (not in check mode) on a broken copy; the figures of the case with its
    problems (empty when it passed), and the hosts' snapshots after it (``before`` is theirs
    before it: one snapshot per host and case)."""
    problems: List[str] = []
    with tempfile.TemporaryDirectory(prefix="mlstack-faults.") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o700)  # the copy holds the lab's credentials
        copy = broken_inventory(inventory, case, work)
        credentials_before = tree_digest(copy / "credentials")
        env = dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
        started = time.monotonic()
        proc = subprocess.run(playbook_command(copy, "site.yml"), cwd=ROOT, env=env, capture_output=True,
                              text=True, check=False, timeout=timeout, stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        slug = re.sub(r"[^a-z0-9]+", "-", case.name.lower()).strip("-")
        (log_dir / f"bad-input-{slug}.json").write_text(proc.stdout + proc.stderr)
        after = {c: snapshot(c) for c in containers}
        credentials_after = tree_digest(copy / "credentials")
    report = json_report(proc.stdout)
    lines = preflight_lines(report)
    if proc.returncode == 0:
        problems.append("site.yml succeeded")
    problems.extend("the output shows a planted secret (%d characters)" % len(text)
                    for text in case.absent if text in proc.stdout + proc.stderr)
    if lines is None:
        problems.append("the preflight did not fail (plays that ran: %s)" % ", ".join(plays_that_ran(report)))
    elif lines != list(case.expected):
        problems.append("lines differ: got %s" % json.dumps(lines))
    ran = plays_that_ran(report)
    if ran and ran != [PREFLIGHT_PLAY]:
        problems.append("plays after the preflight reached a host: %s" % ", ".join(ran[1:]))
    for container in containers:
        changes = diff_snapshots(before[container], after[container])
        if changes:
            problems.append("%s changed: %s" % (container, json.dumps(changes)[:2000]))
    if credentials_before != credentials_after:
        problems.append("the credentials directory changed: %s" % ", ".join(
            sorted(k for k in set(credentials_before) | set(credentials_after)
                   if credentials_before.get(k) != credentials_after.get(k))))
    return {"case": case.name, "kind": case.kind, "seconds": round(seconds, 1), "rc": proc.returncode,
            "lines": lines, "ok": not problems, "problems": problems}, after


def bad_input(inventory: Path, containers: Sequence[str], log_dir: Path,
              cases: Sequence[BadInput] = LAB_CASES) -> dict:
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # The snapshot's own noise: two snapshots with nothing run in between must be equal.
    state = {}
    for container in containers:
        state[container] = snapshot(container)
        noise = diff_snapshots(state[container], snapshot(container))
        if noise:
            raise SystemExit(f"[faults] FAILED: {container}'s snapshot changes by itself: {json.dumps(noise)[:2000]}")
    results = []
    for case in cases:
        result, state = run_case(inventory, containers, case, log_dir, state)
        log("bad input %-50s %s in %.1f s%s" % (case.name, "ok" if result["ok"] else "FAILED", result["seconds"],
                                                "" if result["ok"] else ": " + "; ".join(result["problems"])))
        results.append(result)
    failed = [r["case"] for r in results if not r["ok"]]
    return {"part": "bad_input", "cases": len(results), "passed": len(results) - len(failed), "failed": failed,
            "seconds": round(time.monotonic() - started, 1),
            "seconds_per_case": round(sum(r["seconds"] for r in results) / max(len(results), 1), 1),
            "results": results}


# --- interrupted runs --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Play:
    name: str
    hosts: Tuple[str, ...]
    tasks: Tuple[str, ...]


def list_plays(output: str) -> List[Play]:
    """The plays of `ansible-playbook --list-hosts --list-tasks` output, each with its hosts
    and its task names (as their TASK [...] headers print them), in order."""
    plays: List[Play] = []
    name, hosts, tasks, section = None, [], [], None

    def close() -> None:
        if name is not None:
            plays.append(Play(name, tuple(hosts), tuple(tasks)))

    for raw in output.splitlines():
        stripped = raw.strip()
        match = re.match(r"^play #\d+ \([^)]*\): (?P<name>.*?)(?:\tTAGS: \[.*\])?$", stripped)
        if match:
            close()
            name, hosts, tasks, section = match["name"].strip(), [], [], None
        elif re.match(r"^hosts \(\d+\):$", stripped):
            section = "hosts"
        elif stripped == "tasks:":
            section = "tasks"
        elif not stripped or stripped.startswith("pattern:"):
            continue
        elif section == "hosts":
            hosts.append(stripped)
        elif section == "tasks":
            tasks.append(re.sub(r"\tTAGS: \[.*\]$", "", raw).strip())
    close()
    return plays


@dataclasses.dataclass(frozen=True)
class KillPoint:
    """Act when the ``occurrence``-th TASK header named ``task`` appears (counting from 1),
    ``delay`` seconds later; ``index`` is its place in the run's task list."""
    index: int
    task: str
    occurrence: int
    delay: float

    def describe(self) -> str:
        return "#%d [%s] (occurrence %d) + %.1f s" % (self.index, self.task, self.occurrence, self.delay)


def run_order(plays: Sequence[Play]) -> List[Tuple[int, str]]:
    """(play number, task) of every task a run prints a header for: the plays with hosts."""
    return [(number, task) for number, play in enumerate(plays) if play.hosts for task in play.tasks]


def short(task: str) -> str:
    """A task's own name (a header names an included role's task without its role)."""
    return task.rsplit(" : ", 1)[-1]


def point(order: Sequence[Tuple[int, str]], index: int, delay: float) -> KillPoint:
    task = order[index][1]
    return KillPoint(index, task, [short(t) for dummy, t in order[:index + 1]].count(short(task)), delay)


def choose_faults(plays: Sequence[Play], seed: int, kills: int = 3,
                  max_delay: float = 3.0) -> Tuple[List[KillPoint], KillPoint]:
    """``kills`` distinct tasks (in run order: each run gets further than the one before)
    among the tasks that reach hosts (after the controller-only preflight and bundle check),
    and one task for the dockerd restart among those after the Docker hosts' play (the
    engine must be there), each with a delay, all drawn with ``seed``."""
    order = run_order(plays)
    controller_only = {n for n, play in enumerate(plays)
                       if play.name.startswith(("Preflight", "Verify the bundle"))}
    candidates = [i for i, (n, dummy) in enumerate(order) if n not in controller_only]
    docker_plays = [n for n, play in enumerate(plays) if play.hosts and any("docker_host :" in t for t in play.tasks)]
    after_docker = [i for i in candidates if docker_plays and order[i][0] > docker_plays[0]]
    if len(candidates) < kills or not after_docker:
        raise ValueError("only %d tasks reach hosts (%d after Docker's play) to choose %d kill points from"
                         % (len(candidates), len(after_docker), kills))
    rng = random.Random(seed)
    kill_points = [point(order, i, round(rng.uniform(0, max_delay), 1)) for i in sorted(rng.sample(candidates, kills))]
    restart = point(order, rng.choice(after_docker), round(rng.uniform(0, max_delay), 1))
    return kill_points, restart


@dataclasses.dataclass
class Run:
    label: str
    rc: Optional[int]
    seconds: float
    killed_at: Optional[str]
    log: str
    counts: Dict[str, Dict[str, int]]


def stream_run(command: List[str], log_file: Path, trigger: Optional[KillPoint] = None,
               action: Optional[Callable[[], None]] = None, label: str = "") -> Run:
    """Run a playbook in its own process group, its output to log_file; when ``trigger``'s
    header appears, ``delay`` later, run ``action`` (default: SIGKILL the whole group)."""
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, env=ansible_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: Dict[str, int] = {}
    fired: List[str] = []

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    with open(log_file, "w") as sink:
        assert proc.stdout is not None
        for raw in proc.stdout:
            sink.write(raw)
            match = TASK_HEADER.match(raw.rstrip("\n"))
            if not match or trigger is None or fired:
                continue
            name = short(match["name"])
            seen[name] = seen.get(name, 0) + 1
            if name == short(trigger.task) and seen[name] == trigger.occurrence:
                fired.append(name)
                sink.write(f"[faults] {'SIGKILL of the process group' if action is None else 'fault'} "
                           f"in {trigger.delay} s at {trigger.describe()}\n")
                sink.flush()
                threading.Timer(trigger.delay, action or kill).start()
        proc.wait()
    output = log_file.read_text()
    return Run(label, proc.returncode, round(time.monotonic() - started, 1),
               trigger.describe() if fired and trigger else None, str(log_file), recap(output))


def restart_dockerd(container: str) -> Callable[[], None]:
    def action() -> None:
        subprocess.run([DOCKER, "exec", container, "systemctl", "restart", "docker"],
                       capture_output=True, check=False, timeout=300)
    return action


def leftovers(container: str) -> List[str]:
    """Temporary files of interrupted writes left on a host: Ansible's atomic_move (.ansible_tmp*),
    its remote temporary directories, and *.tmp / *.new files under the config directories."""
    script = ("find /etc /opt /srv /root /var/lib -xdev \\( -path /var/lib/docker -o -path /var/lib/containerd \\) "
              "-prune -o \\( -name '.ansible_tmp*' -o -name 'ansible-tmp-*' -o -name '*.mlstack-tmp*' \\) -print "
              "2>/dev/null; true")
    proc = subprocess.run([DOCKER, "exec", container, "sh", "-c", script], capture_output=True, text=True,
                          check=False, timeout=120)
    return sorted(p for p in proc.stdout.splitlines() if p)


def health(report: Path) -> dict:
    data = json.loads(report.read_text())
    checks = data["checks"] if isinstance(data, dict) else data
    failed = [c.get("name") or c.get("check") for c in checks if not c.get("ok")]
    return {"checks": len(checks), "failed": failed}


def interrupted(inventory: Path, containers: Sequence[str], log_dir: Path, seed: Optional[int] = None,
                kills: int = 3, verbosity: str = "-vvv") -> dict:
    """SIGKILL at ``kills`` seeded task points, a dockerd restart in a further run, then a
    run that must succeed, one that must report changed=0, and verify.yml green."""
    log_dir.mkdir(parents=True, exist_ok=True)
    seed = int(time.time()) % 100000 if seed is None else seed
    listing = subprocess.run(playbook_command(inventory, "site.yml", "--list-hosts", "--list-tasks"), cwd=ROOT,
                             env=ansible_env(), capture_output=True, text=True, check=True).stdout
    plays = list_plays(listing)
    tasks = run_order(plays)
    kill_points, restart_point = choose_faults(plays, seed, kills)
    log(f"seed {seed}: {len(tasks)} tasks listed; SIGKILL at " + "; ".join(p.describe() for p in kill_points))
    log(f"dockerd restarted on {containers[0]} at {restart_point.describe()}")
    command = playbook_command(inventory, "site.yml", *([verbosity] if verbosity else []))
    runs: List[Run] = []
    problems: List[str] = []
    for number, point in enumerate(kill_points, 1):
        run = stream_run(command, log_dir / f"site-kill-{number}.log", point, label=f"kill {number}")
        runs.append(run)
        log(f"run {number}: {'killed at ' + run.killed_at if run.killed_at else 'NOT killed (point not reached)'}"
            f", rc {run.rc}, {run.seconds} s")
        if not run.killed_at:
            problems.append(f"kill point {point.describe()} was not reached")
    run = stream_run(command, log_dir / "site-dockerd-restart.log", restart_point, restart_dockerd(containers[0]),
                     label="dockerd restart")
    runs.append(run)
    log(f"run {len(runs)}: dockerd restarted at {run.killed_at}, rc {run.rc}, {run.seconds} s")
    if run.rc != 0:
        run = stream_run(command, log_dir / "site-after-restart.log", label="after restart")
        runs.append(run)
        log(f"run {len(runs)} (after the failed run): rc {run.rc}, {run.seconds} s")
    if run.rc != 0:
        problems.append(f"site.yml failed after the faults (log {run.log})")
    final = stream_run(command, log_dir / "site-idempotent.log", label="idempotent")
    runs.append(final)
    changed = {h: c["changed"] for h, c in final.counts.items() if c["changed"] or c["failed"] or c["unreachable"]}
    log(f"run {len(runs)} (must be changed=0): rc {final.rc}, {final.seconds} s, changed/failed {changed or 0}")
    if final.rc != 0 or changed or not final.counts:
        problems.append(f"the run after is not changed=0: rc {final.rc}, {changed} (log {final.log})")
        problems.extend(changed_tasks(Path(final.log)))
    report = log_dir / "health-report.json"
    verify = stream_run(playbook_command(inventory, "verify.yml", "-e", f"mlstack_health_report={report}"),
                        log_dir / "verify.log", label="verify")
    figures_health = health(report) if report.exists() else {"checks": 0, "failed": ["no report"]}
    if verify.rc != 0 or figures_health["failed"] or not figures_health["checks"]:
        problems.append(f"verify.yml: rc {verify.rc}, failed checks {figures_health['failed']}")
    left = {c: leftovers(c) for c in containers}
    if any(left.values()):
        problems.append(f"temporary files left on the hosts: {left}")
    return {"part": "interrupted", "seed": seed, "tasks_listed": len(tasks),
            "kill_points": [p.describe() for p in kill_points], "dockerd_restart_at": restart_point.describe(),
            "runs": [{"label": r.label, "rc": r.rc, "seconds": r.seconds, "fault_at": r.killed_at,
                      "changed": sum(c["changed"] for c in r.counts.values()), "log": r.log} for r in runs],
            "verify": figures_health, "leftovers": left, "ok": not problems, "problems": problems,
            "seconds": round(sum(r.seconds for r in runs) + verify.seconds, 1)}


def changed_tasks(log_file: Path) -> List[str]:
    """The tasks that reported changed in a log (the header above each `changed:` line)."""
    found: List[str] = []
    task = "?"
    for raw in log_file.read_text(errors="replace").splitlines():
        match = TASK_HEADER.match(raw)
        if match:
            task = match["name"]
        elif raw.startswith("changed:") and task not in found:
            found.append(task)
    return ["changed: %s" % t for t in found]


# --- leaks --------------------------------------------------------------------------------

def credential_secrets(directory: Path) -> Dict[str, str]:
    """{label: value} for every file under the credentials directory that holds a service
    secret: its whole (stripped) text, or for PEM/PGP private keys the first body lines
    (:func:`private_key_lines`)."""
    found: Dict[str, str] = {}
    for path in sorted(directory.rglob("*")) if directory.is_dir() else []:
        rel = str(path.relative_to(directory))
        if not path.is_file() or NOT_SECRET.search(rel):
            continue
        text = path.read_text(errors="replace").strip()
        if "-----BEGIN" in text:
            for number, line in enumerate(private_key_lines(text)):
                found[f"{rel} (body line {number})"] = line
        elif text:
            found[rel] = text
    return found


def private_key_lines(text: str) -> List[str]:
    """The lines of a PEM or PGP private key to search for: its first two full body lines
    (the private part). Not the last ones: an EC key's DER ends with its public key, which
    the roles print (community.crypto's results) and is no secret."""
    body = [line for line in text.splitlines() if len(line) >= 40 and "-----" not in line and ":" not in line]
    return body[:2]


def entropy(value: str) -> float:
    counts = {c: value.count(c) for c in set(value)}
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def secret_tokens(text: str, min_length: int = 16, min_entropy: float = 3.5) -> List[str]:
    """Tokens of a secret file that look random: 16+ characters of the base64/URL alphabet
    with both letters and digits and high entropy (hostnames, paths and words do not)."""
    tokens: List[str] = []
    if "-----BEGIN" in text:
        text = "\n".join(private_key_lines(text))
    for token in TOKEN.findall(text):
        token = token.strip(".")
        if (len(token) >= min_length and re.search(r"[A-Za-z]", token) and re.search(r"\d", token)
                and not WORDY.match(token) and entropy(token) >= min_entropy and token not in tokens):
            tokens.append(token)
    return tokens


def host_secret_files(container: str) -> Dict[str, str]:
    """{path: text} of the owner-only (not world-readable) small regular files under the
    configuration directories of a host, minus Debian's own."""
    script = ("find %s -xdev -type f ! -perm -o=r -size -64k -print 2>/dev/null; true" % " ".join(HOST_SECRET_DIRS))
    proc = subprocess.run([DOCKER, "exec", container, "sh", "-c", script], capture_output=True, text=True,
                          check=False, timeout=120)
    files: Dict[str, str] = {}
    for path in sorted(p for p in proc.stdout.splitlines() if p and not SYSTEM_PRIVATE.search(p)):
        content = subprocess.run([DOCKER, "exec", container, "cat", path], capture_output=True, check=False)
        if content.returncode == 0 and b"\0" not in content.stdout:
            files[path] = content.stdout.decode(errors="replace")
    return files


def base64_forms(value: bytes) -> List[str]:
    """How ``value`` shows inside base64 text: encoded alone (padding dropped), and the
    characters that depend on it alone when it sits at offset 1 or 2 of a longer encoded
    string (a slurped file, a basic-auth header): only its stable core."""
    forms = [base64.b64encode(value).decode().rstrip("=")]
    for offset in (1, 2):
        encoded = base64.b64encode(b"\0" * offset + value).decode().rstrip("=")
        skip = math.ceil(offset * 8 / 6)
        tail = ((offset + len(value)) * 8) % 6
        core = encoded[skip:len(encoded) - (1 if tail else 0)]
        if len(core) >= 12:
            forms.append(core)
    core0 = forms[0][:len(value) * 8 // 6]
    if len(core0) >= 12 and core0 not in forms:
        forms.append(core0)
    return forms


def forms(value: str, users: Iterable[str] = ()) -> Dict[str, str]:
    """{form name: text} of the ways a secret may be printed."""
    out = {"raw": value}
    escaped = json.dumps(value)[1:-1]
    if escaped != value:
        out["json-escaped"] = escaped
    quoted = urllib.parse.quote(value, safe="")
    if quoted != value:
        out["url-quoted"] = quoted
    for number, form in enumerate(base64_forms(value.encode())):
        out["base64/%d" % number] = form
    for user in sorted(set(users)):
        if user:
            out["base64 of %s:secret" % user] = base64.b64encode(("%s:%s" % (user, value)).encode()).decode()
    return out


@dataclasses.dataclass(frozen=True)
class Hit:
    secret: str
    form: str
    log: str
    line: int
    task: str


def scan(logs: Iterable[Path], secrets: Mapping[str, str], users: Iterable[str] = (),
         min_length: int = 8) -> Tuple[List[Hit], int, int]:
    """Every occurrence of every form of every secret in the logs, with the TASK header
    above it; also the number of patterns searched and bytes read. Values shorter than
    ``min_length`` are not searched (they would match by chance)."""
    patterns: List[Tuple[str, str, str]] = []
    users = list(users)
    for label, value in secrets.items():
        if len(value) < min_length:
            continue
        for form, text in forms(value, users).items():
            patterns.append((label, form, text))
    hits: List[Hit] = []
    scanned = 0
    for log_file in logs:
        task = "(before the first task)"
        with open(log_file, errors="replace") as handle:
            for number, raw in enumerate(handle, 1):
                scanned += len(raw)
                match = TASK_HEADER.match(raw.rstrip("\n"))
                if match:
                    task = match["name"]
                    continue
                for label, form, text in patterns:
                    if text in raw:
                        hits.append(Hit(label, form, str(log_file), number, task))
    return hits, len(patterns), scanned


def known_users(inventory: Path) -> List[str]:
    """User names a basic-auth header may pair with a secret: the credential files' names,
    the registry's users and the database owners (as the lab's inventory and roles name them)."""
    names = {p.name.split(".")[0].replace("-password", "") for p in (inventory / "credentials").rglob("*") if p.is_file()}
    names.update(("pull", "push", "admin", "root", "labelstudio", "gitlab", "determined", "pachyderm"))
    return sorted(n for n in names if n)


def leaks(inventory: Path, containers: Sequence[str], log_dir: Path, converge: Optional[bool] = None) -> dict:
    """Search every *.log of log_dir for the inventory's and the hosts' secrets; when there
    is no log (or ``converge``), converge with -vvv first."""
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    logs = sorted(log_dir.glob("*.log"))
    if converge or (converge is None and not logs):
        run = stream_run(playbook_command(inventory, "site.yml", "-vvv"), log_dir / "site-vvv.log", label="-vvv")
        log(f"converge with -vvv: rc {run.rc}, {run.seconds} s")
        logs = sorted(log_dir.glob("*.log"))
    secrets = credential_secrets(inventory / "credentials")
    host_tokens: Dict[str, str] = {}
    read: List[str] = []
    for container in containers:
        for path, text in host_secret_files(container).items():
            read.append(f"{container}:{path}")
            for number, token in enumerate(secret_tokens(text)):
                if token not in secrets.values() and token not in host_tokens.values():
                    host_tokens[f"{container}:{path} (token {number})"] = token
    everything = dict(secrets, **host_tokens)
    hits, patterns, scanned = scan(logs, everything, known_users(inventory))
    for hit in hits[:50]:
        log(f"LEAK: {hit.secret} ({hit.form}) in {hit.log}:{hit.line}, task [{hit.task}]")
    tasks = sorted({h.task for h in hits})
    return {"part": "leaks", "logs": len(logs), "bytes_scanned": scanned, "credential_values": len(secrets),
            # Files read on the hosts; the tokens are those that are not a credential value already.
            "host_secret_files": read, "host_secret_tokens": len(host_tokens),
            "patterns": patterns, "hits": len(hits), "tasks_with_hits": tasks, "ok": not hits,
            "seconds": round(time.monotonic() - started, 1)}


# --- command line --------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("part", choices=("bad-input", "interrupted", "leaks", "all"))
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventories" / "lab")
    parser.add_argument("--hosts", nargs="+", default=["mlstack-lab-host1"], help="the hosts' container names")
    parser.add_argument("--logs", type=Path, default=ROOT / ".cache" / "e2e" / "faults")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill points (default: from the clock)")
    args = parser.parse_args(argv)
    parts = ["bad-input", "interrupted", "leaks"] if args.part == "all" else [args.part]
    ok = True
    for part in parts:
        if part == "bad-input":
            figures = bad_input(args.inventory.resolve(), args.hosts, args.logs / "bad-input")
            ok &= not figures["failed"]
        elif part == "interrupted":
            figures = interrupted(args.inventory.resolve(), args.hosts, args.logs / "runs", args.seed)
            ok &= figures["ok"]
        else:
            figures = leaks(args.inventory.resolve(), args.hosts, args.logs / "runs")
            ok &= figures["ok"]
        args.logs.mkdir(parents=True, exist_ok=True)
        (args.logs / f"{part}.json").write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps({k: v for k, v in figures.items() if k != "results"}, indent=2))
        if figures.get("problems"):
            for problem in figures["problems"]:
                log(f"FAILED: {problem}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
