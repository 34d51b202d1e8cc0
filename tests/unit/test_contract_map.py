# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The cross-role contract map (mlstack_contracts in roles/common/defaults/main.yml) is the only
place credential paths are spelled: no file of roles/, playbooks/ or plugins/ computes a path
under mlstack_credentials_dir itself (issue 16 point 2)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

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
