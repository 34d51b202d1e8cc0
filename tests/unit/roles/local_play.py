# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Run a role's entry point on this machine (connection local) through ansible-playbook,
for the entry points that run on the controller (the bundle's and the registry's)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from typing import Any, Dict

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def run_entry_point(tmp_path: pathlib.Path, role: str, tasks_from: str, variables: Dict[str, Any],
                    *args: str) -> subprocess.CompletedProcess:
    """One play on localhost that includes ``role`` with ``tasks_from``; ``variables`` are the
    play's vars. The result's ``recap`` attribute holds ok/changed/failed/skipped."""
    play = [{"name": f"{role} {tasks_from}", "hosts": "localhost", "gather_facts": False, "vars": variables,
             "tasks": [{"name": f"Include {role} {tasks_from}", "ansible.builtin.include_role": {
                 "name": f"mlstack.platform.{role}", "tasks_from": tasks_from}}]}]
    playbook = tmp_path / f"play-{role}-{tasks_from}.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible/collections"))
    bindir = pathlib.Path(sys.executable).parent
    result = subprocess.run([str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                             "-e", f"ansible_python_interpreter={sys.executable}", str(playbook), *args],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    found = RECAP.search(result.stdout)
    result.recap = dict(zip(("ok", "changed", "unreachable", "failed", "skipped"),
                            map(int, found.groups()))) if found else {}
    return result
