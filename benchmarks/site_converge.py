# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Converge figures of playbooks/site.yml on fresh lab hosts (issue 14, docs/performance.md).

Prints, measured in one run:
- the lab site (inventories/lab: one host in every group the lab serves, from the lab's
  bundle, as `make demo`): first converge of a fresh host, the second run (changed must be
  0), their ratio (DESIGN.md: the no-op run <= 60 s and <= 0.2 of the first);
- scale: the Docker hosts play on N = 1, 4, 8 fresh hosts at once (--scale), first converge
  and no-op re-run, each with the controller's CPU seconds (user + system of the whole
  ansible-playbook process tree, from its rusage) per host-task (a host-task is one task on
  one host: ok + skipped + failed in the recap), and the bound the controller's CPU sets on
  the wall time: CPU seconds / cores. The ratio wall / bound says how much of the wall time
  is anything but the controller's CPU (DESIGN.md: <= 1.3 for the 8-host no-op run). On the
  lab the hosts' own module processes run on the same cores (they are containers of this
  machine), so the ratio here is an upper bound of what separate VMs would show.

With --e2e instead: the end-to-end tiers (tests/e2e/run.py all: lab_multi over SSH, then the
air-gapped run), side by side: bundle check, first and second converge, their ratio, the
egress counters and the size of the bundle carried (--e2e --cached prints the figures of the
last run from .cache/e2e/ without running anything).

Needs the lab (`make lab`) and the venv; run it with `make bench-site`. It starts and
removes its own lab hosts (`tests/lab/lab.sh hosts-up/hosts-down`), so do not run it
while `make demo` hosts are in use. Figures are also written to .cache/bench/site.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "tests" / "lab" / "lab.sh"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def lab(*args: str) -> None:
    subprocess.run([str(LAB), *args], check=True)


def write_inventory(directory: Path, hosts: int) -> Path:
    """The lab inventory's Docker host settings, with docker_hosts = the first `hosts` lab
    hosts. The lab site's other groups (registry, databases, S3, Label Studio) live on
    host1 only, so they are left out: this measures the play every host runs."""
    lab_vars = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all" / "main.yml").read_text())
    kept = {name: value for name, value in lab_vars.items()
            if name.startswith("docker_host_") or name in ("mlstack_offline",)}
    (directory / "group_vars" / "all").mkdir(parents=True)
    (directory / "group_vars" / "all" / "main.yml").write_text(json.dumps(kept, indent=2))
    inventory = {
        "all": {
            "children": {"docker_hosts": {"hosts": {f"mlstack-lab-host{n}": None for n in range(1, hosts + 1)}}},
            "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"},
        }
    }
    path = directory / "hosts.yml"
    path.write_text(json.dumps(inventory, indent=2))  # JSON is YAML
    return path


def converge(inventory: Path, forks: int, log: Path | None = None) -> dict:
    """Run site.yml; return its wall time, the controller's CPU seconds (the whole
    ansible-playbook process tree: RUSAGE_CHILDREN counts every descendant that was waited
    for, and ansible-playbook waits for its workers), and the recap's counts."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS=str(forks))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
               str(ROOT / "playbooks" / "site.yml")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    run = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-2000:])
        raise SystemExit(f"site.yml failed on {inventory} (exit {run.returncode})")
    recap = {
        match.group(1): {"ok": int(match.group(2)), "changed": int(match.group(3)),
                         "failed": int(match.group(5)), "skipped": int(match.group(6))}
        for match in RECAP.finditer(run.stdout)
    }
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    host_tasks = sum(h["ok"] + h["skipped"] + h["failed"] for h in recap.values())
    return {"wall_s": round(elapsed, 1), "cpu_s": round(cpu, 1), "host_tasks": host_tasks,
            "changed": sum(h["changed"] for h in recap.values()),
            "failed": sum(h["failed"] for h in recap.values()), "hosts": len(recap)}


def bound(run: dict) -> dict:
    """CPU per host-task, and the wall time the controller's CPU alone would need."""
    cores = os.cpu_count() or 1
    run["cpu_ms_per_host_task"] = round(1000 * run["cpu_s"] / max(run["host_tasks"], 1), 1)
    run["cpu_bound_s"] = round(run["cpu_s"] / cores, 1)
    run["wall_over_bound"] = round(run["wall_s"] / max(run["cpu_bound_s"], 0.1), 2)
    return run


def fresh_hosts(count: int) -> None:
    lab("hosts-down")
    lab("hosts-up", str(count))


def e2e_figures(cached: bool) -> int:
    """Run (or read) the end-to-end tiers and print their figures side by side."""
    cache = ROOT / ".cache" / "e2e"
    if not cached:
        subprocess.run([sys.executable, str(ROOT / "tests" / "e2e" / "run.py"), "all", "--down"], check=True)
    tiers = {name: json.loads((cache / f"{name}.json").read_text()) for name in ("multi", "airgap")
             if (cache / f"{name}.json").exists()}
    if not tiers:
        raise SystemExit("no figures in .cache/e2e/: run without --cached first")

    def cell(tier: str, key: str, unit: str = " s") -> str:
        value = tiers.get(tier, {}).get(key)
        return "-" if value is None else f"{value}{unit}"

    rows = [("date", "date", ""), ("bundle.yml (connected side)", "bundle_s", " s"),
            ("controller install from the bundle", "controller_install_s", " s"),
            ("bundle_verify", "bundle_verify_s", " s"), ("first converge", "first_s", " s"),
            ("second converge (changed=0)", "second_s", " s"), ("second / first", "ratio", ""),
            ("health checks passed", "checks", ""), ("whole tier", "total_s", " s")]
    print(f"{'end to end (3 hosts over SSH)':40} {'lab_multi':>14} {'air-gapped':>14}")
    for label, key, unit in rows:
        if key == "checks":
            values = [str(tiers[t]["health"]["checks"]) if t in tiers else "-" for t in ("multi", "airgap")]
        else:
            values = [cell(t, key, unit) for t in ("multi", "airgap")]
        print(f"  {label:38} {values[0]:>14} {values[1]:>14}")
    airgap = tiers.get("airgap")
    if airgap:
        egress = airgap["egress"]
        print(f"  {'bundle carried':38} {'':>14} {airgap['bundle_bytes'] / 2**20:>12.1f} MiB")
        print(f"  {'egress: packets / DNS queries (goal 0)':38} {'':>14} "
              f"{egress['packets']:>6} / {egress['dns_queries']:<5}")
    return 0


def lab_site(work: Path) -> dict:
    """The lab site of `make demo` on one fresh host: first converge, then the no-op run."""
    lab("bundle")
    fresh_hosts(1)
    inventory = ROOT / "inventories" / "lab" / "hosts.yml"
    first = bound(converge(inventory, forks=5, log=work / "lab-first.log"))
    second = bound(converge(inventory, forks=5, log=work / "lab-second.log"))
    return {"first": first, "second": second, "ratio": round(second["wall_s"] / first["wall_s"], 2)}


def scale(work: Path, counts: list[int]) -> dict:
    """The Docker hosts play on N fresh hosts at once, first converge and no-op re-run."""
    figures = {}
    for count in counts:
        inventory = write_inventory(work / f"scale-{count}", count)
        fresh_hosts(count)
        first = bound(converge(inventory, forks=max(count, 5), log=work / f"scale-{count}-first.log"))
        second = bound(converge(inventory, forks=max(count, 5), log=work / f"scale-{count}-second.log"))
        figures[str(count)] = {"first": first, "second": second}
    lab("hosts-down")
    return figures


def row(label: str, run: dict) -> str:
    return (f"  {label:30} {run['wall_s']:8.1f} s  changed={run['changed']:<4} host-tasks={run['host_tasks']:<5}"
            f" cpu={run['cpu_s']:6.1f} s  {run['cpu_ms_per_host_task']:6.1f} ms/host-task"
            f"  wall/bound={run['wall_over_bound']:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="1,4,8", help="host counts for the scaling figures (default 1,4,8; '' skips)")
    parser.add_argument("--no-site", action="store_true", help="skip the lab site's figures")
    parser.add_argument("--e2e", action="store_true", help="the end-to-end tiers' figures instead")
    parser.add_argument("--cached", action="store_true", help="with --e2e: print the last run's figures")
    args = parser.parse_args()
    if args.e2e:
        return e2e_figures(args.cached)
    counts = [int(n) for n in args.scale.split(",") if n.strip()]

    out = ROOT / ".cache" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    figures: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count(),
                     "load_before": os.getloadavg()[0]}
    if not args.no_site:
        figures["site"] = lab_site(out)
    if counts:
        figures["scale"] = scale(out, counts)
    (out / "site.json").write_text(json.dumps(figures, indent=2))

    print(f"site.yml on fresh lab hosts ({figures['cores']} cores; load average before: {figures['load_before']:.1f})")
    failed = False
    if "site" in figures:
        site = figures["site"]
        print("lab site (inventories/lab, one host in every group, as make demo):")
        print(row("first converge", site["first"]))
        print(row("second run (no-op)", site["second"]))
        print(f"  second / first                 {site['ratio']:8.2f}    (goal <= 0.2 and <= 60 s, changed=0)")
        failed |= site["second"]["changed"] != 0
    for count, runs in figures.get("scale", {}).items():
        print(f"Docker hosts play, {count} fresh host(s) at once:")
        print(row("first converge", runs["first"]))
        print(row("no-op re-run", runs["second"]))
        failed |= runs["second"]["changed"] != 0
    scaled = figures.get("scale", {})
    if "1" in scaled and str(max(counts)) in scaled and max(counts) > 1:
        top = scaled[str(max(counts))]["second"]
        print(f"  {max(counts)}-host no-op wall / CPU bound: {top['wall_over_bound']:.2f} (goal <= 1.3); "
              f"CPU per host-task {top['cpu_ms_per_host_task']} ms (1 host: "
              f"{scaled['1']['second']['cpu_ms_per_host_task']} ms)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
