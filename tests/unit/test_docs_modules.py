# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""docs/modules/: every module has a page, generated from its documentation and up to date.

tests/docs_modules.py writes each module's reference (from ``ansible-doc --json``) between
two markers of docs/modules/<module>.md, keeping the hand-written part; this fails when a
module's DOCUMENTATION, EXAMPLES or RETURN changed and its page was not regenerated, when a
module has no page, or when ansible-doc cannot read a module's documentation (what a user
of ``ansible-doc mlstack.platform.<module>`` would hit)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location("docs_modules", ROOT / "tests" / "docs_modules.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


docs_modules = _load_script()


@pytest.fixture(scope="module")
def documentation() -> tuple[dict, dict]:
    return docs_modules.ansible_doc(docs_modules.module_names())


def test_ansible_doc_reads_every_module(documentation: tuple[dict, dict]) -> None:
    errors = documentation[1]
    assert not errors, "\n".join(f"plugins/modules/{name}.py: {error}" for name, error in sorted(errors.items()))


def test_every_module_page_is_up_to_date(documentation: tuple[dict, dict]) -> None:
    docs = documentation[0]
    stale = docs_modules.stale_pages(docs_modules.wanted_pages(docs))
    assert not stale, f"out of date (run tests/docs_modules.py): {stale}"


def test_every_module_has_a_page_with_its_reference() -> None:
    for name in docs_modules.module_names():
        path = ROOT / "docs" / "modules" / f"{name}.md"
        assert path.exists(), f"{path.relative_to(ROOT)} missing (run tests/docs_modules.py)"
        text = path.read_text(encoding="utf-8")
        assert docs_modules.BEGIN in text and docs_modules.END in text, f"{path.relative_to(ROOT)}: no generated reference"


@pytest.mark.parametrize(("text", "expected"), [
    ("Set O(engine=docker) or C(ctr); see M(mlstack.platform.bundle_seal).",
     "Set `engine=docker` or `ctr`; see [`mlstack.platform.bundle_seal`](bundle_seal.md)."),
    ("M(community.docker.docker_image_load) and I(only) B(once)",
     "`community.docker.docker_image_load` and *only* **once**"),
    ("L(the format,../bundle-format.md) at U(https://example.org/x)",
     "[the format](../bundle-format.md) at <https://example.org/x>"),
    ("a *literal* [x] <y> and mlstack_offline, _private_", r"a \*literal\* \[x\] \<y\> and mlstack_offline, \_private\_"),
    ("C(a`b)", "`` a`b ``"),
])
def test_markup_becomes_plain_markdown(text: str, expected: str) -> None:
    assert docs_modules.markup(text, "image_import") == expected


def test_markup_keeps_paragraphs_and_indents() -> None:
    assert docs_modules.markup(["One.", "Two C(x)."], "image_import", "  ") == "  One.\n\n  Two `x`."


def test_bad_markup_is_an_error() -> None:
    with pytest.raises(Exception):
        docs_modules.markup("O(unclosed", "image_import")


DATA = {
    "doc": {"short_description": "Do a thing", "version_added": "0.1.0", "description": ["Does it."],
            "options": {"path": {"type": "path", "required": True, "description": "Where."},
                        "mode": {"type": "str", "default": "a", "choices": ["a", "b"], "description": "How.",
                                 "suboptions": None},
                        "token": {"type": "str", "no_log": True, "description": "Secret."}},
            "attributes": {"check_mode": {"support": "full", "description": "Predicts."}}},
    "examples": "- name: Do it\n  mlstack.platform.thing:\n    path: /x\n",
    "return": {"done": {"type": "list", "elements": "str", "returned": "always", "description": "What.", "sample": ["a"]}},
}


def test_reference_renders_every_part() -> None:
    text = docs_modules.reference("thing", DATA)
    for expected in ("Do a thing. Added in version 0.1.0",
                     "- **`path`** (path; required)", "- **`mode`** (str; default `a`; choices `a`, `b`)",
                     "- **`token`** (str; secret (no_log))", "- **check_mode**: full. Predicts.",
                     "```yaml\n- name: Do it", "- **`done`** (list of str; returned always)", 'Sample: `["a"]`'):
        assert expected in text, expected
    assert text.startswith(docs_modules.BEGIN) and text.rstrip().endswith(docs_modules.END)


def test_page_keeps_the_hand_written_part() -> None:
    new = docs_modules.page("thing", DATA, None)
    assert new.startswith("# mlstack.platform.thing\n\nDoes it.\n\n" + docs_modules.BEGIN)
    hand = "# thing\n\nWhy it exists.\n"
    appended = docs_modules.page("thing", DATA, hand)
    assert appended.startswith(hand.rstrip("\n") + "\n\n" + docs_modules.BEGIN)
    edited = appended.replace("Where.", "Somewhere else.") + "\nA footer.\n"
    regenerated = docs_modules.page("thing", DATA, edited)
    assert "Somewhere else." not in regenerated and "Where." in regenerated
    assert regenerated.startswith(hand.rstrip("\n")) and regenerated.endswith("\nA footer.\n")
    assert docs_modules.page("thing", DATA, regenerated) == regenerated


def test_page_refuses_a_begin_marker_without_end() -> None:
    with pytest.raises(ValueError, match="without"):
        docs_modules.page("thing", DATA, "x\n" + docs_modules.BEGIN + "\n")
