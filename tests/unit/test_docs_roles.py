# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""docs/roles/: every role has a page whose variable reference is its argument specs, up to date.

tests/docs_roles.py writes each role's entry points and variables (from ``ansible-doc --json
-t role``) between two markers of docs/roles/<role>.md, keeping the hand-written part; this
fails when a role's meta/argument_specs.yml changed and its page was not regenerated, when a
role has no page, or when ansible-doc cannot read a role's specs (what a user of
``ansible-doc -t role mlstack.platform.<role>`` would hit)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load_script():
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location("docs_roles", ROOT / "tests" / "docs_roles.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


docs_roles = _load_script()


@pytest.fixture(scope="module")
def documentation() -> tuple[dict, dict]:
    return docs_roles.ansible_doc(docs_roles.role_names())


def test_ansible_doc_reads_every_role(documentation: tuple[dict, dict]) -> None:
    errors = documentation[1]
    assert not errors, "\n".join(f"roles/{name}: {error}" for name, error in sorted(errors.items()))
    assert set(documentation[0]) == set(docs_roles.role_names())


def test_every_role_page_is_up_to_date(documentation: tuple[dict, dict]) -> None:
    stale = docs_roles.fmt.stale_pages(docs_roles.wanted_pages(documentation[0]))
    assert not stale, f"out of date (run tests/docs_roles.py): {stale}"


def test_every_variable_of_every_entry_point_is_on_its_page(documentation: tuple[dict, dict]) -> None:
    missing = []
    for role, data in documentation[0].items():
        text = (ROOT / "docs" / "roles" / f"{role}.md").read_text(encoding="utf-8")
        assert docs_roles.BEGIN in text and docs_roles.END in text, f"docs/roles/{role}.md: no generated reference"
        for point, spec in (data.get("entry_points") or {}).items():
            if f"### Entry point `{point}`" not in text:
                missing.append(f"{role}: entry point {point}")
            missing += [f"{role}: {point}: {name}" for name in (spec.get("options") or {})
                        if f"- **`{name}`** (" not in text]
    assert not missing, missing


DATA = {"entry_points": {
    "main": {"short_description": "Does a thing.", "description": ["Long C(text)."],
             "options": {"thing_port": {"type": "int", "default": 80, "description": "Port."},
                         "thing_password": {"type": "str", "no_log": True, "required": True,
                                            "description": "Secret."}}},
    "facts": {"short_description": "Publishes the facts", "options": {}}}}


def test_reference_lists_entry_points_and_variables() -> None:
    text = docs_roles.reference("thing", DATA)
    assert text.startswith(docs_roles.BEGIN) and text.rstrip().endswith(docs_roles.END)
    assert text.index("### Entry point `main`") < text.index("### Entry point `facts`")
    for expected in ("- **`thing_port`** (int; default `80`)",
                     "- **`thing_password`** (str; required; secret (no_log))",
                     "2 variables; required: `thing_password`; secret (never printed): `thing_password`.",
                     "Long `text`.", "with `tasks_from: facts`", "This entry point takes no variables.",
                     "[`facts`](#entry-point-facts)"):
        assert expected in text, expected


def test_page_keeps_the_hand_written_part() -> None:
    new = docs_roles.page("thing", DATA, None)
    assert new.startswith("# thing\n\nDoes a thing.\n\n")
    hand = "# thing\n\nWhy it exists.\n"
    appended = docs_roles.page("thing", DATA, hand)
    assert appended.startswith(hand.rstrip("\n") + "\n\n" + docs_roles.BEGIN)
    edited = appended.replace("Port.", "A port elsewhere.") + "\nA footer.\n"
    regenerated = docs_roles.page("thing", DATA, edited)
    assert "A port elsewhere." not in regenerated and "Port." in regenerated
    assert regenerated.endswith("\nA footer.\n")
    assert docs_roles.page("thing", DATA, regenerated) == regenerated


def test_page_refuses_a_begin_marker_without_end() -> None:
    with pytest.raises(ValueError, match="without"):
        docs_roles.page("thing", DATA, "x\n" + docs_roles.BEGIN + "\n")
