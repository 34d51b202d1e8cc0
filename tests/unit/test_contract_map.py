# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The cross-role contract map (mlstack_contracts in roles/common/defaults/main.yml) is the only
place credential paths are spelled: no file of roles/, playbooks/ or plugins/ computes a path
under mlstack_credentials_dir itself; and what a role publishes to others (mlstack_contracts.published)
is what its declared `facts` entry point sets and all that playbooks read of a role besides its
documented variables (issue 16 point 2)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MAP_FILE = "roles/common/defaults/main.yml"

# A path computed below mlstack_credentials_dir: `{{ mlstack_credentials_dir }}/...` or
# `mlstack_credentials_dir ~ '/...'`. Descriptions such as `<mlstack_credentials_dir>/postgres`
# are prose and do not match.
SPELLING = re.compile(r"mlstack_credentials_dir\s*(?:\}\}\s*/|~\s*['\"]/)")

# Spellings allowed outside the map, each with its reason. Each must still occur (a stale entry fails).
KNOWN_EXCEPTIONS = {
    # EXAMPLES of the module's documentation (a playbook snippet for users, not code of the collection).
    ("plugins/modules/bundle_signing_key.py", "/bundle-signing.key"),
}


def spellings():
    found = []
    for top in ("roles", "playbooks", "plugins"):
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or path.suffix not in (".yml", ".yaml", ".py", ".j2"):
                continue
            rel = path.relative_to(ROOT).as_posix()
            if rel == MAP_FILE:
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if line.lstrip().startswith("#"):
                    continue
                if SPELLING.search(line):
                    found.append((rel, number, line.strip()))
    return found


def is_known(rel, line):
    return any(rel == f and text in line for f, text in KNOWN_EXCEPTIONS)


def test_no_credential_path_outside_the_map():
    found = spellings()
    bad = ["%s:%d: %s" % item for item in found if not is_known(item[0], item[2])]
    known = ["%s:%d" % item[:2] for item in found if is_known(item[0], item[2])]
    if known:
        warnings.warn("known credential path spellings still to move onto the map: " + ", ".join(known))
    assert not bad, "credential paths spelled outside %s (use mlstack.platform.credential_path):\n%s" % (
        MAP_FILE,
        "\n".join(bad),
    )


def test_known_exceptions_are_not_stale():
    found = spellings()
    stale = [
        "%s (%s)" % (f, text)
        for f, text in sorted(KNOWN_EXCEPTIONS)
        if not any(rel == f and text in line for rel, _n, line in found)
    ]
    assert not stale, "remove these from KNOWN_EXCEPTIONS, the spelling is gone: " + ", ".join(stale)


def test_the_scan_sees_a_spelling(tmp_path):
    assert SPELLING.search("x: \"{{ mlstack_credentials_dir }}/postgres/{{ user }}\"")
    assert SPELLING.search("lookup('ansible.builtin.file', mlstack_credentials_dir ~ '/offline_registry/pull-password')")
    assert not SPELLING.search("description: in <mlstack_credentials_dir>/postgres/<user>.")
    assert not SPELLING.search("root: \"{{ mlstack_credentials_dir }}\"")


# --- what roles publish (mlstack_contracts.published) ------------------------------------------
# Each listed role publishes exactly those facts from its declared `facts` entry point, none
# of them shadows a documented input, and a playbook reads of a role only its documented
# variables (the argument specs' options) and the facts it publishes.
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())


def published():
    return yaml.safe_load((ROOT / MAP_FILE).read_text())["mlstack_contracts"]["published"]


def specs(role):
    return yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]


def documented(role):
    return {name for entry in specs(role).values() for name in (entry.get("options") or {})}


def set_facts(path):
    """The names a task file sets with set_fact."""
    names = set()
    for task in yaml.safe_load(path.read_text()) or []:
        for key in ("set_fact", "ansible.builtin.set_fact"):
            if isinstance(task.get(key), dict):
                names |= {k for k in task[key] if k != "cacheable"}
    return names


def test_published_map_is_the_roles_facts_entry_points():
    found = published()
    assert {"minio", "postgres", "gitlab", "gitlab_runner", "label_studio"} <= set(found)
    bad = []
    for role, names in sorted(found.items()):
        facts = ROOT / "roles" / role / "tasks" / "facts.yml"
        if "facts" not in specs(role) or not facts.is_file():
            bad.append("%s: no declared facts entry point (tasks/facts.yml and argument_specs facts)" % role)
            continue
        if set(names) != set_facts(facts):
            bad.append("%s: mlstack_contracts.published lists %s, tasks/facts.yml sets %s" % (role, sorted(names), sorted(set_facts(facts))))
        shadowing = sorted(set(names) & documented(role))
        if shadowing:
            bad.append("%s: published facts shadow documented inputs: %s" % (role, shadowing))
        if not all(name.startswith(role + "_") for name in names):
            bad.append("%s: published names must carry the role's prefix: %s" % (role, names))
    assert not bad, "\n".join(bad)


def exempt_names():
    """Names that carry a role's prefix but are no variable: role names, inventory groups, task files."""
    names = set(ROLES)
    for path in (ROOT / "inventories").glob("*/hosts.yml"):
        stack = [yaml.safe_load(path.read_text())]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                names |= set((node.get("children") or {}) if isinstance(node.get("children"), dict) else ())
                stack += list(node.values())
    names |= {p.stem for p in (ROOT / "roles").glob("*/tasks/*.yml")}
    return names


ROLE_NAME = re.compile(r"(?<![\w.])((?:%s)_[a-z0-9_]+)" % "|".join(sorted((r for r in ROLES if r != "common"), key=len, reverse=True)))


def foreign_reads(rel, text, exempt):
    """(rel:line, name, role) for each name of a role (its prefix) that is neither documented nor
    published by that role. Comment lines are skipped."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for name in ROLE_NAME.findall(line):
            if name in exempt:
                continue
            role = max((r for r in ROLES if name.startswith(r + "_")), key=len)
            if name not in documented(role) and name not in published().get(role, []):
                found.append(("%s:%d" % (rel, number), name, role))
    return found


def test_the_foreign_scan_sees_an_undeclared_name():
    text = ("a: \"{{ minio_endpoint_url }} {{ minio_region }} {{ verify_minio_x }}\"\n"
            "# minio_secret_thing in a comment\n"
            "b: \"{{ minio_secret_thing }} {{ mlstack.platform.minio_y }}\"\n"
            "hosts: \"{{ ['gitlab_runners'] | select('in', groups) }}\"\n")
    assert foreign_reads("playbooks/x.yml", text, exempt_names()) == [("playbooks/x.yml:3", "minio_secret_thing", "minio")]


def test_playbooks_read_only_documented_or_published_names():
    exempt = exempt_names()
    bad = []
    for path in sorted((ROOT / "playbooks").glob("*.yml")) + sorted((ROOT / "playbooks").glob("tasks/*.yml")):
        bad += foreign_reads(path.relative_to(ROOT).as_posix(), path.read_text(errors="replace"), exempt)
    assert not bad, "playbooks read role variables that are neither documented nor in mlstack_contracts.published:\n" + "\n".join(
        "%s: %s (role %s)" % item for item in bad)
