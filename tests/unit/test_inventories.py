# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The example inventories only set variables the roles declare.

Role argument specs reject wrong types and values at run time, but a misspelt variable
name (``seldon_exposur: istio``) is silently ignored by Ansible. Every variable the
example inventories set with a role's prefix must be an option of that role's argument
specs (any entry point), so that users copying them start from names that work."""

from __future__ import annotations

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta/argument_specs.yml").is_file())
# Variables Ansible itself, connection plugins or the lab's own playbooks read; lab_* are
# the lab inventories' own (lab_network_prefix in inventories/lab_multi: the lab network
# lab.sh made), read by the inventory's templates only.
NOT_ROLE_VARS = ("ansible_", "lab_")


def declared_options(role: str) -> set[str]:
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    names: set[str] = set()
    for entry in (specs.get("argument_specs") or {}).values():
        names.update((entry or {}).get("options") or {})
    return names


def owner_of(name: str) -> str | None:
    """The role whose prefix the variable carries (the longest match: gitlab_runner_ before
    gitlab_); mlstack_* belongs to common."""
    if name.startswith("mlstack_"):
        return "common"
    matches = [role for role in ROLES if name.startswith(role + "_")]
    return max(matches, key=len) if matches else None


def inventory_vars() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "inventories").glob("*/group_vars/**/*.yml")) + \
            sorted((ROOT / "inventories").glob("*/host_vars/**/*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        for name in data:
            found.append((str(path.relative_to(ROOT)), name))
    for path in sorted((ROOT / "inventories").glob("*/hosts.yml")):
        def walk(group: dict) -> None:
            for name in (group.get("vars") or {}):
                found.append((str(path.relative_to(ROOT)), name))
            for host in (group.get("hosts") or {}).values():
                for name in (host or {}):
                    found.append((str(path.relative_to(ROOT)), name))
            for child in (group.get("children") or {}).values():
                walk(child or {})
        walk((yaml.safe_load(path.read_text()) or {}).get("all") or {})
    return found


VARS = inventory_vars()


def test_the_inventories_set_variables():
    assert len(VARS) > 40
    assert {"lab", "single_node", "multi_node", "airgap"} <= {path.split("/")[1] for path, dummy in VARS}


@pytest.mark.parametrize("path,name", VARS, ids=[f"{p}:{n}" for p, n in VARS])
def test_every_variable_is_declared_by_its_role(path, name):
    if name.startswith(NOT_ROLE_VARS):
        return
    role = owner_of(name)
    assert role is not None, f"{path}: {name} carries no role's prefix ({', '.join(ROLES)})"
    assert name in declared_options(role), (
        f"{path}: {name} is not an option of role {role} (roles/{role}/meta/argument_specs.yml)")


def test_a_misspelt_variable_is_caught():
    assert "seldon_exposur" not in declared_options("seldon")
    assert owner_of("seldon_exposur") == "seldon"
    assert owner_of("gitlab_runner_runners") == "gitlab_runner"
