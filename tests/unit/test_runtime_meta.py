# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""meta/runtime.yml: the action group holds every module, and requires_ansible is what is tested.

The ``platform`` action group lets a play or an AWX/AAP job template reach all of the
collection's modules with one ``module_defaults`` entry (issue 16), so a module added to
plugins/modules without joining the group, or an entry whose module is gone, fails here.
ansible-core itself resolves the group in a subprocess (its plugin loader is global state),
the way a play with ``module_defaults: {group/mlstack.platform.platform: ...}`` does.
``requires_ansible`` must admit the ansible-core requirements.txt pins and name its minor
release as the floor (2.19: the only one tested)."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from ansible.galaxy.dependency_resolution.versioning import meets_requirements

ROOT = pathlib.Path(__file__).resolve().parents[2]
GROUP = "platform"
COLLECTION = "mlstack.platform"

RESOLVE = r"""
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play import Play
from ansible.vars.manager import VariableManager
loader = DataLoader()
play = Play.load(
    {"hosts": "localhost", "gather_facts": False, "tasks": [],
     "module_defaults": {"group/" + sys.argv[2]: {}}},
    variable_manager=VariableManager(loader=loader), loader=loader)
print(json.dumps(play._group_actions))
"""


def runtime() -> dict:
    return yaml.safe_load((ROOT / "meta/runtime.yml").read_text(encoding="utf-8"))


def modules() -> set[str]:
    return {path.stem for path in (ROOT / "plugins/modules").glob("*.py")
            if not path.name.startswith("_")}


def group_entries() -> list[str]:
    groups = runtime().get("action_groups") or {}
    assert GROUP in groups, f"meta/runtime.yml: no action group {GROUP!r}"
    return [entry for entry in groups[GROUP] if isinstance(entry, str)]


def test_every_module_is_in_the_group() -> None:
    missing = sorted(modules() - set(group_entries()))
    assert not missing, f"meta/runtime.yml: action_groups.{GROUP} lacks {missing}"


def test_every_group_entry_is_a_module() -> None:
    stale = sorted(set(group_entries()) - modules())
    assert not stale, f"meta/runtime.yml: action_groups.{GROUP} names no module in plugins/modules: {stale}"


def test_group_entries_are_sorted_and_unique() -> None:
    entries = group_entries()
    assert entries == sorted(set(entries)), f"meta/runtime.yml: action_groups.{GROUP} not sorted or repeated"


def test_ansible_core_resolves_the_group_to_every_module() -> None:
    collections = ROOT / ".ansible/collections"
    link = collections / "ansible_collections/mlstack/platform"
    if not link.exists():
        pytest.fail(f"{link} missing: tests/unit/run.sh (or make collection-link) makes it")
    result = subprocess.run(
        [sys.executable, "-c", RESOLVE, str(collections), f"{COLLECTION}.{GROUP}"],
        check=False, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "ANSIBLE_COLLECTIONS_PATH": str(collections),
             "ANSIBLE_HOME": str(ROOT / ".ansible"), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
             "HOME": str(ROOT / ".ansible")},
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout.splitlines()[-1])
    assert sorted(resolved[f"{COLLECTION}.{GROUP}"]) == sorted(f"{COLLECTION}.{name}" for name in modules())


def test_requires_ansible_is_the_tested_core() -> None:
    requires = runtime()["requires_ansible"]
    pins = [line.split("==", 1)[1].strip()
            for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if line.startswith("ansible-core==")]
    assert len(pins) == 1, "requirements.txt: expected one ansible-core== pin"
    assert meets_requirements(pins[0], requires), f"requires_ansible {requires} refuses the pinned ansible-core {pins[0]}"
    floor = re.fullmatch(r">=(\d+)\.(\d+)\.0", requires)
    assert floor, f"meta/runtime.yml: requires_ansible {requires!r} is not a >=X.Y.0 floor"
    assert pins[0].split(".")[:2] == list(floor.groups()), (
        f"requires_ansible {requires} is not the tested minor release {pins[0]}")
