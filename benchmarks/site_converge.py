# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Converge figures of playbooks/site.yml on fresh lab hosts.

Prints, measured in one run:
- the first converge of one fresh lab host, and its second run (changed must be 0):
  the ratio second / first (DESIGN.md: at most a third);
- the first converge of N fresh lab hosts at once against that of one host
  (DESIGN.md: eight hosts in at most 1.5x the time of one).

With --e2e instead: the end-to-end tiers (tests/e2e/run.py all: lab_multi over SSH, then the
air-gapped run), side by side: bundle check, first and second converge, their ratio, the
egress counters and the size of the bundle carried (--e2e --cached prints the figures of the
last run from .cache/e2e/ without running anything).

Needs the lab (`make lab`) and the venv; run it with `make bench-site`. It starts and
removes its own lab hosts (`tests/lab/lab.sh hosts-up/hosts-down`), so do not run it
while `make demo` hosts are in use.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "tests" / "lab" / "lab.sh"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


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


def converge(inventory: Path, forks: int) -> tuple[float, dict[str, dict[str, int]]]:
    """Run site.yml; return the wall time and each host's recap counts."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS=str(forks))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
               str(ROOT / "playbooks" / "site.yml")]
    started = time.monotonic()
    run = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-2000:])
        raise SystemExit(f"site.yml failed on {inventory} (exit {run.returncode})")
    recap = {
        match.group(1): {"ok": int(match.group(2)), "changed": int(match.group(3)), "failed": int(match.group(5))}
        for match in RECAP.finditer(run.stdout)
    }
    return elapsed, recap


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=8, help="hosts for the scaling figure (default 8)")
    parser.add_argument("--e2e", action="store_true", help="the end-to-end tiers' figures instead")
    parser.add_argument("--cached", action="store_true", help="with --e2e: print the last run's figures")
    args = parser.parse_args()
    if args.e2e:
        return e2e_figures(args.cached)

    with tempfile.TemporaryDirectory(prefix="mlstack-bench-site.") as work:
        one = write_inventory(Path(work) / "one", 1)
        many = write_inventory(Path(work) / "many", args.hosts)

        fresh_hosts(1)
        first, first_recap = converge(one, forks=1)
        second, second_recap = converge(one, forks=1)
        fresh_hosts(args.hosts)
        scaled, scaled_recap = converge(many, forks=args.hosts)
        lab("hosts-down")

    changed_again = sum(host["changed"] for host in second_recap.values())
    print("site.yml on fresh lab hosts (systemd containers; the plays that exist so far)")
    print(f"  first converge, 1 fresh host : {first:7.1f} s  changed={sum(h['changed'] for h in first_recap.values())}")
    print(f"  second run, same host        : {second:7.1f} s  changed={changed_again}")
    print(f"  second / first               : {second / first:7.2f}   (goal <= 0.33, changed=0)")
    print(f"  first converge, {args.hosts} fresh hosts: {scaled:7.1f} s  "
          f"failed={sum(h['failed'] for h in scaled_recap.values())} hosts={len(scaled_recap)}")
    print(f"  {args.hosts} hosts / 1 host            : {scaled / first:7.2f}   (goal <= 1.5)")
    return 0 if changed_again == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
