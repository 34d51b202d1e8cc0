# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Check mode of site.yml on a whole site (issue 16, point 11; docs/operations.md, "Check mode").

  checkmode.py fresh      `site.yml --check --diff` on hosts nothing has converged yet: every play
                          of the playbook must be reached, failed=0 and unreachable=0 on every
                          host; what cannot be simulated there is said by the roles in messages
                          that start with "Check mode:", collected here
  checkmode.py converged  the same on a converged site: also changed=0 on every host, and no
                          "Check mode:" message (a converged host has nothing left to simulate)

Each is a function (fresh, converged) of the inventory directory, the hosts and a log file,
returning a dict of figures with "ok" and "problems"; the multi tier (tests/e2e/run.py) calls
them before the first converge and after the changed=0 run. The recap parser and the Ansible
environment are tests/e2e/faults.py's.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faults  # noqa: E402  (tests/e2e/faults.py, beside this file)

ROOT = faults.ROOT
PLAYBOOK = "site.yml"
PLAY_HEADER = re.compile(r"^PLAY \[(?P<name>.*)\] \**\s*$", re.M)
# A debug task's result as the default callback prints it: `ok: [host] => {`, then its msg.
RESULT_LINE = re.compile(r"^ok: \[(?P<host>[^\]]+)\] => \{$")
MSG_LINE = re.compile(r'^\s+"msg": "(?P<msg>Check mode: .*)",?$')


def plays_listed(inventory: Path, playbook: str = PLAYBOOK) -> List[str]:
    """The names of the playbook's plays, in order (`--list-hosts --list-tasks`, no host touched)."""
    command = faults.playbook_command(inventory, playbook, "--list-hosts", "--list-tasks")
    proc = subprocess.run(command, cwd=ROOT, env=faults.ansible_env(), text=True, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{playbook} --list-tasks exited {proc.returncode}: {proc.stdout[-2000:]}")
    return [play.name for play in faults.list_plays(proc.stdout)]


def plays_run(output: str) -> List[str]:
    """The names of the plays a run printed a header for, in order."""
    return [match["name"].strip() for match in PLAY_HEADER.finditer(output)]


def missing_plays(listed: Sequence[str], ran: Sequence[str]) -> List[str]:
    """Plays of the playbook the run never reached (a failure stops a host, not the header of
    a play with no hosts left, so a play is missing only when the run ended before it)."""
    remaining = list(ran)
    missing = []
    for name in listed:
        if name in remaining:
            remaining = remaining[remaining.index(name) + 1:]
        else:
            missing.append(name)
    return missing


def notes(output: str) -> Dict[str, List[str]]:
    """The "Check mode: ..." messages of the run by host: what the roles say they could not
    simulate. A message is the debug result's msg line after its `ok: [host] =>` line."""
    found: Dict[str, List[str]] = {}
    lines = output.splitlines()
    for line, following in zip(lines, lines[1:]):
        result, message = RESULT_LINE.match(line), MSG_LINE.match(following)
        if result and message:
            found.setdefault(result["host"], []).append(message["msg"].replace('\\"', '"'))
    return found


def counts_problems(counts: Mapping[str, Mapping[str, int]], hosts: Sequence[str],
                    want_unchanged: bool) -> List[str]:
    """One line per host that is missing from the recap, failed, unreachable or (when
    want_unchanged) changed."""
    problems = [f"{host}: not in the recap" for host in hosts if host not in counts]
    for host, count in sorted(counts.items()):
        bad = {key: count[key] for key in ("failed", "unreachable") if count[key]}
        if want_unchanged and count["changed"]:
            bad["changed"] = count["changed"]
        if bad:
            problems.append(f"{host}: " + ", ".join(f"{key}={value}" for key, value in bad.items()))
    return problems


def evaluate(output: str, returncode: int, listed: Sequence[str], hosts: Sequence[str],
             converged: bool) -> dict:
    """The figures and problems of a check run from its output."""
    counts = faults.recap(output)
    ran = plays_run(output)
    said = notes(output)
    problems = counts_problems(counts, hosts, want_unchanged=converged)
    missing = missing_plays(listed, ran)
    if missing:
        problems.append("plays never reached: " + "; ".join(missing))
    if returncode != 0:
        problems.append(f"ansible-playbook exited {returncode}")
    if converged and said:
        problems.append("not simulated on a converged site: "
                        + "; ".join(f"{host}: {msg}" for host, msgs in sorted(said.items()) for msg in msgs))
    return {"ok": not problems, "problems": problems, "rc": returncode,
            "plays": len(listed), "plays_reached": len(listed) - len(missing),
            "changed": sum(c["changed"] for c in counts.values()),
            "recap": counts, "not_simulated": said}


def check_run(inventory: Path, hosts: Sequence[str], log_file: Path, converged: bool,
              playbook: str = PLAYBOOK, extra: Sequence[str] = ()) -> dict:
    """`<playbook> --check --diff` on the inventory, its output in log_file; its figures."""
    listed = plays_listed(inventory, playbook)
    command = faults.playbook_command(inventory, playbook, "--check", "--diff", *extra)
    started = time.monotonic()
    with open(log_file, "w") as sink:
        proc = subprocess.run(command, cwd=ROOT, env=faults.ansible_env(), text=True, stdin=subprocess.DEVNULL,
                              stdout=sink, stderr=subprocess.STDOUT, check=False)
    seconds = round(time.monotonic() - started, 1)
    result = evaluate(log_file.read_text(), proc.returncode, listed, hosts, converged)
    result.update(seconds=seconds, log=str(log_file))
    return result


def fresh(inventory: Path, hosts: Sequence[str], log_file: Path, extra: Sequence[str] = ()) -> dict:
    """Check mode on hosts nothing has converged: every play reached, failed=0, unreachable=0."""
    return check_run(inventory, hosts, log_file, converged=False, extra=extra)


def converged(inventory: Path, hosts: Sequence[str], log_file: Path, extra: Sequence[str] = ()) -> dict:
    """Check mode on a converged site: as fresh, and changed=0 with nothing left unsimulated."""
    return check_run(inventory, hosts, log_file, converged=True, extra=extra)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("state", choices=("fresh", "converged"))
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventories" / "lab_multi",
                        help="inventory directory (its hosts.yml); default inventories/lab_multi")
    parser.add_argument("--hosts", nargs="+", default=["mlstack-lab-m1", "mlstack-lab-m2", "mlstack-lab-m3"],
                        help="hosts that must be in the recap")
    parser.add_argument("--log", type=Path, default=None, help="log file (default .cache/e2e/check-<state>.log)")
    args, extra = parser.parse_known_args(argv)
    log_file = args.log or ROOT / ".cache" / "e2e" / f"check-{args.state}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    result = (fresh if args.state == "fresh" else converged)(args.inventory, args.hosts, log_file, extra)
    print(json.dumps({key: value for key, value in result.items() if key != "recap"}, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
