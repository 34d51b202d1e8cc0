# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Every `tasks_from:` of roles/ and playbooks/ names a declared entry point of that role
(a key of its meta/argument_specs.yml) or, from inside the same role, one of its own task files
(DESIGN.md: every entry point used across roles is in that role's argument specs; issue 16 point 2)."""

from __future__ import annotations

import re
from functools import lru_cache
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


@lru_cache(maxsize=None)
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
    return tuple(out)


def declared(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    return set(specs["argument_specs"])


@lru_cache(maxsize=None)
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
    return tuple(found)


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


# --- no playbook and no other role reads a role's private variables --------------------------
# A role's private variables are the `_`-prefixed names of its vars/ and defaults/ files and any
# `_<role>_...` name (set_fact, register, task vars). They are the role's own business and may
# change shape at any time (issue 16 point 3 moves their definitions into filter plugins); what
# others read is published through a declared entry point (`tasks_from: facts`, the names of
# mlstack_contracts.published) or is a documented variable of the role's argument specs.
PRIVATE = re.compile(r"(?<![\w.])_[a-z][a-z0-9_]*")
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
ROLE_PREFIX = re.compile(r"_(%s)_" % "|".join(sorted(ROLES, key=len, reverse=True)))


@lru_cache(maxsize=None)
def role_private_names():
    """{name: {roles defining it}} from the `_` keys of roles/*/vars and roles/*/defaults."""
    out = {}
    for path in sorted((ROOT / "roles").glob("*/vars/*.yml")) + sorted((ROOT / "roles").glob("*/defaults/*.yml")):
        for name in yaml.safe_load(path.read_text()) or {}:
            if str(name).startswith("_"):
                out.setdefault(str(name), set()).add(path.relative_to(ROOT).parts[1])
    return out


@lru_cache(maxsize=None)
def role_defined_names(role):
    """Every name a role defines for itself: vars/defaults keys, set_fact keys, register and
    loop_var targets, task and block vars of its task and handler files."""
    base = ROOT / "roles" / role
    names = set()
    for path in sorted(base.glob("vars/*.yml")) + sorted(base.glob("defaults/*.yml")):
        names |= {str(k) for k in (yaml.safe_load(path.read_text()) or {})}
    for path in sorted(base.glob("tasks/**/*.yml")) + sorted(base.glob("handlers/*.yml")):
        for node in walk(yaml.safe_load(path.read_text()) or []):
            for key in ("set_fact", "ansible.builtin.set_fact", "vars"):
                if isinstance(node.get(key), dict):
                    names |= {str(k) for k in node[key]}
            if isinstance(node.get("register"), str):
                names.add(node["register"])
            if isinstance(node.get("loop_control"), dict) and "loop_var" in node["loop_control"]:
                names.add(str(node["loop_control"]["loop_var"]))
    return names


def private_reads(rel, text, private, caller=None, own=frozenset()):
    """(rel:line, name, owners) for each private name of another role that a file reads. Comment
    lines are skipped (a comment may name anything); `caller` is the role the file belongs to."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for name in PRIVATE.findall(line):
            if name in own:
                continue
            owners = set(private.get(name, set()))
            prefix = ROLE_PREFIX.match(name)
            if prefix:
                owners.add(prefix.group(1))
            owners.discard(caller)
            if owners:
                found.append(("%s:%d" % (rel, number), name, ", ".join(sorted(owners))))
    return found


def playbook_files():
    """The playbooks (and their task files) and the molecule scenarios' playbooks."""
    return (sorted((ROOT / "playbooks").glob("*.yml")) + sorted((ROOT / "playbooks").glob("tasks/*.yml"))
            + sorted((ROOT / "molecule").glob("*/*.yml")))


def test_the_private_scan_sees_a_read():
    private = role_private_names()
    assert "minio" in private["_minio_bucket_names"] and "gitlab" in private["_gitlab_local_url"]
    text = ("x: \"{{ _minio_bucket_names | first }}\"\n"
            "# _gitlab_local_url, named in a comment\n"
            "y: \"{{ _gitlab_runner_register_result.changed }}\"\n"
            "z: \"{{ mlstack.platform._minio_x }} {{ _mlstack_backup_run }} {{ verify_minio_bucket_names }} {{ _services }}\"\n")
    found = list(private_reads("playbooks/x.yml", text, private))
    assert found == [("playbooks/x.yml:1", "_minio_bucket_names", "minio"),
                     ("playbooks/x.yml:3", "_gitlab_runner_register_result", "gitlab_runner")]
    # Inside the role itself, and for a name the role defines, nothing is found.
    assert private_reads("roles/minio/tasks/x.yml", text.splitlines()[0], private, caller="minio") == []
    assert private_reads("roles/gitlab/tasks/x.yml", "a: \"{{ _gitlab_runner_admin_token_script }}\"", private,
                         caller="gitlab", own=role_defined_names("gitlab")) == []


def test_no_playbook_reads_a_role_private_variable():
    private = role_private_names()
    bad = []
    for path in playbook_files():
        bad += private_reads(path.relative_to(ROOT).as_posix(), path.read_text(errors="replace"), private)
    assert not bad, "playbooks read roles' private variables (publish them from the role's facts entry point):\n" + "\n".join(
        "%s: %s (private to %s)" % item for item in bad)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reads_another_role_private_variable(role):
    private = role_private_names()
    own = role_defined_names(role)
    bad = []
    for path in sorted((ROOT / "roles" / role).rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".j2"):
            bad += private_reads(path.relative_to(ROOT).as_posix(), path.read_text(errors="replace"), private,
                                 caller=role, own=own)
    assert not bad, "roles/%s reads other roles' private variables:\n%s" % (role, "\n".join(
        "%s: %s (private to %s)" % item for item in bad))
