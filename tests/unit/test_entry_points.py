# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Every `tasks_from:` of roles/ and playbooks/ names a declared entry point of that role
(a key of its meta/argument_specs.yml) or, from inside the same role, one of its own task files
(DESIGN.md: every entry point used across roles is in that role's argument specs; issue 16 point 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE_KEYS = {
    "import_role", "include_role", "ansible.builtin.import_role", "ansible.builtin.include_role",
}

# Entry points called without a declaration, each with its reason (none today). Each must still be
# called undeclared (a stale entry fails).
KNOWN_UNDECLARED: set = set()


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def calls():
    files = sorted((ROOT / "roles").glob("*/tasks/**/*.yml")) + sorted((ROOT / "roles").glob("*/handlers/*.yml"))
    files += sorted((ROOT / "playbooks").glob("*.yml")) + sorted((ROOT / "playbooks").glob("tasks/*.yml"))
    out = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        caller = rel.split("/")[1] if rel.startswith("roles/") else None
        for node in walk(yaml.safe_load(path.read_text()) or []):
            for key in ROLE_KEYS & set(node):
                spec = node[key]
                if isinstance(spec, dict) and "tasks_from" in spec:
                    out.append((rel, caller, str(spec.get("name", "")), str(spec["tasks_from"])))
    return out


def declared(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    return set(specs["argument_specs"])


def problems():
    found = []
    for rel, caller, name, entry in calls():
        if "{{" in name or "{{" in entry:
            continue  # computed (playbooks/tasks/backup_service.yml): checked by the backup tests' role list
        role = name.split(".")[-1]
        entry = entry[: -len(".yml")] if entry.endswith(".yml") else entry
        if not (ROOT / "roles" / role).is_dir():
            found.append((rel, role, entry, "no role %s" % role))
        elif not (ROOT / "roles" / role / "tasks" / (entry + ".yml")).is_file():
            found.append((rel, role, entry, "roles/%s/tasks/%s.yml does not exist" % (role, entry)))
        elif role != caller and entry not in declared(role):
            found.append((rel, role, entry, "not declared in roles/%s/meta/argument_specs.yml" % role))
    return found


def test_the_scan_finds_the_calls():
    # The collection's shared entry points are called from many files; an empty scan proves nothing.
    found = {(name.split(".")[-1], entry) for _rel, _caller, name, entry in calls()}
    assert ("common", "image") in found and ("minio", "facts") in found


def test_every_tasks_from_is_a_declared_entry_point():
    bad = ["%s: %s tasks_from %s: %s" % item for item in problems() if item[:3] not in KNOWN_UNDECLARED]
    assert not bad, "\n".join(bad)


def test_known_undeclared_are_not_stale():
    now = {item[:3] for item in problems()}
    stale = sorted(KNOWN_UNDECLARED - now)
    assert not stale, "declared now, remove from KNOWN_UNDECLARED: %s" % stale


@pytest.mark.parametrize("role", sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir()))
def test_declared_entry_points_exist(role):
    missing = [e for e in declared(role) if not (ROOT / "roles" / role / "tasks" / (e + ".yml")).is_file()]
    assert not missing, "roles/%s/meta/argument_specs.yml declares entry points with no task file: %s" % (role, missing)
