# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Every relative link in the shipped documentation names a file the collection ships.

The collection tarball is what Galaxy shows and what users install: a link from README.md
or docs/ to a file galaxy.yml's ``build_ignore`` keeps out (tests/lab/README.md, molecule/,
the Makefile) is dead there (issue 16). This builds the tarball with
``ansible-galaxy collection build`` into a temporary directory and checks each relative
link of README.md and docs/**/*.md against its members, and each ``#anchor`` into a
Markdown file against that file's headings (GitHub's slugs). Absolute URLs are not
followed (no network here)."""

from __future__ import annotations

import dataclasses
import pathlib
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
# Dead links in pages another change owns, each until that page is fixed;
# test_known_dead_links_are_still_dead makes an entry go once its link is fixed.
KNOWN_DEAD: set = set()


@dataclasses.dataclass(frozen=True)
class Link:
    source: str
    line: int
    target: str


def shipped_docs() -> list[pathlib.Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _blank(match: re.Match[str]) -> str:
    """Blank code out but keep its line breaks, so line numbers stay right."""
    return re.sub(r"[^\n]", " ", match.group(0))


def links_of(path: pathlib.Path) -> list[Link]:
    text = INLINE_CODE.sub(_blank, FENCE.sub(_blank, path.read_text(encoding="utf-8")))
    source = path.relative_to(ROOT).as_posix()
    found = []
    for pattern in (INLINE_LINK, REFERENCE_LINK):
        for match in pattern.finditer(text):
            found.append(Link(source, text.count("\n", 0, match.start()) + 1, match.group(1)))
    return sorted(found, key=lambda link: link.line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors_of(text: str) -> set[str]:
    text = FENCE.sub(_blank, text)
    seen: dict[str, int] = {}
    anchors = set(HTML_ANCHOR.findall(text))
    for heading in HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def resolve(link: Link) -> tuple[str, str] | None:
    """(member path, anchor) of a relative link, or None for a URL or a bare anchor."""
    if SCHEME.match(link.target) or link.target.startswith("//"):
        return None
    path, dummy, anchor = link.target.partition("#")
    if not path:
        return (link.source, anchor) if anchor else None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link.source), path))
    return joined, anchor


def _ansible_galaxy() -> str:
    beside = pathlib.Path(sys.executable).parent / "ansible-galaxy"
    found = str(beside) if beside.exists() else shutil.which("ansible-galaxy")
    if not found:
        pytest.fail("ansible-galaxy not found beside the interpreter or on PATH")
    return found


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> tarfile.TarFile:
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        [_ansible_galaxy(), "collection", "build", "--output-path", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (built,) = out.glob("*.tar.gz")
    with tarfile.open(built) as archive:
        yield archive


@pytest.fixture(scope="module")
def members(tarball: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    return {posixpath.normpath(member.name): member for member in tarball.getmembers()}


def test_the_docs_ship(members: dict[str, tarfile.TarInfo]) -> None:
    missing = [p.relative_to(ROOT).as_posix() for p in shipped_docs()
               if p.relative_to(ROOT).as_posix() not in members]
    assert not missing, f"documentation build_ignore keeps out of the tarball: {missing}"


def test_relative_links_name_shipped_files(tarball: tarfile.TarFile,
                                           members: dict[str, tarfile.TarInfo]) -> None:
    dead = []
    checked = 0
    for doc in shipped_docs():
        for link in links_of(doc):
            resolved = resolve(link)
            if resolved is None:
                continue
            checked += 1
            path, anchor = resolved
            member = members.get(path)
            where = f"{link.source}:{link.line}: {link.target}"
            if member is None:
                if (link.source, link.target) in KNOWN_DEAD:
                    continue
                dead.append(f"{where}: {path} is not in the collection tarball")
                continue
            if anchor and member.isfile() and path.endswith(".md"):
                handle = tarball.extractfile(member)
                assert handle is not None
                if anchor not in anchors_of(handle.read().decode("utf-8")):
                    dead.append(f"{where}: {path} has no heading for #{anchor}")
    assert checked > 20, f"only {checked} relative links found: is the link pattern still right?"
    assert not dead, "dead links in the shipped documentation:\n" + "\n".join(dead)


def test_known_dead_links_are_still_dead(members: dict[str, tarfile.TarInfo]) -> None:
    fixed = []
    for source, target in sorted(KNOWN_DEAD):
        links = [link for link in links_of(ROOT / source) if link.target == target]
        resolved = resolve(links[0]) if links else None
        if resolved is None or resolved[0] in members:
            fixed.append(f"{source}: {target}")
    assert not fixed, f"no longer dead, remove from KNOWN_DEAD: {fixed}"


@pytest.mark.parametrize(("text", "targets"), [
    ("see [a](docs/a.md) and ![img](x.png \"t\")", ["docs/a.md", "x.png"]),
    ("`[not](a link)` and\n```\n[nor](this)\n```\n[yes](b.md#c)", ["b.md#c"]),
    ("[ref]: ../c.md\n[[nested] text](d.md)", ["../c.md", "d.md"]),
])
def test_links_of_finds_links_outside_code(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                                           text: str, targets: list[str]) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    doc = tmp_path / "README.md"
    doc.write_text(text, encoding="utf-8")
    assert sorted(link.target for link in links_of(doc)) == sorted(targets)


def test_resolve_is_relative_to_the_linking_file() -> None:
    assert resolve(Link("docs/modules/x.md", 1, "../bundle-format.md#parts")) == ("docs/bundle-format.md", "parts")
    assert resolve(Link("README.md", 1, "#layout")) == ("README.md", "layout")
    assert resolve(Link("README.md", 1, "https://example.org/x.md")) is None
    assert resolve(Link("docs/a.md", 1, "mailto:x@example.org")) is None


def test_anchors_follow_github_slugs() -> None:
    text = "# Why not `docker load` / `x`\n## Health report\n## Health report\n```\n# not a heading\n```\n<a id=\"v0-1-0\"></a>"
    assert anchors_of(text) == {"why-not-docker-load--x", "health-report", "health-report-1", "v0-1-0"}
