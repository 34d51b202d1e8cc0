# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Debian versions and package relations, as dpkg and apt read them.

``compare_versions`` follows dpkg's ``verrevcmp`` (lib/dpkg/version.c): epoch, then
upstream version and revision compared part by part, where ``~`` sorts before
everything (even the end of the string), letters before other characters, and digit
runs compare as numbers. Relations follow deb-control(5): ``a (>= 1) | b:any, c``.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

OPERATORS = ("<<", "<=", "=", ">=", ">>")
_RELATION = re.compile(
    r"^\s*(?P<name>[a-z0-9][a-z0-9+.\-]*)(?::(?P<arch>[a-z0-9\-]+))?\s*"
    r"(?:\(\s*(?P<op><<|<=|=|>=|>>|<|>)\s*(?P<version>[0-9A-Za-z][^)\s]*)\s*\))?\s*"
    r"(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$"
)


class RelationError(Exception):
    """A relation field that is not in deb-control(5) syntax."""


def _order(char: str) -> int:
    if char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _compare_part(left: str, right: str) -> int:
    i = j = 0
    while i < len(left) or j < len(right):
        first_diff = 0
        while (i < len(left) and not left[i].isdigit()) or (j < len(right) and not right[j].isdigit()):
            lc = _order(left[i]) if i < len(left) else 0
            rc = _order(right[j]) if j < len(right) else 0
            if lc != rc:
                return lc - rc
            i += 1
            j += 1
        while i < len(left) and left[i] == "0":
            i += 1
        while j < len(right) and right[j] == "0":
            j += 1
        while i < len(left) and left[i].isdigit() and j < len(right) and right[j].isdigit():
            if not first_diff:
                first_diff = ord(left[i]) - ord(right[j])
            i += 1
            j += 1
        if i < len(left) and left[i].isdigit():
            return 1
        if j < len(right) and right[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def split_version(version: str) -> t.Tuple[int, str, str]:
    """(epoch, upstream, revision) of a Debian version string."""
    epoch, colon, rest = version.partition(":")
    if not colon:
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return int(epoch or 0), upstream, revision


def compare_versions(left: str, right: str) -> int:
    """<0, 0 or >0 as dpkg --compare-versions orders ``left`` and ``right``."""
    le, lu, lr = split_version(left)
    re_, ru, rr = split_version(right)
    if le != re_:
        return le - re_
    return _compare_part(lu, ru) or _compare_part(lr, rr)


def version_satisfies(version: str, op: t.Optional[str], wanted: t.Optional[str]) -> bool:
    """Whether ``version`` meets the constraint ``op wanted`` (no constraint: always)."""
    if not op or wanted is None:
        return True
    cmp = compare_versions(version, wanted)
    return {"<<": cmp < 0, "<=": cmp <= 0, "=": cmp == 0, ">=": cmp >= 0, ">>": cmp > 0}[op]


@dataclass(frozen=True)
class Relation:
    """One alternative of a relation: ``name[:arch] [(op version)]``."""

    name: str
    op: t.Optional[str] = None
    version: t.Optional[str] = None
    arch: t.Optional[str] = None

    def __str__(self) -> str:
        text = self.name + (":" + self.arch if self.arch else "")
        return text + (" (%s %s)" % (self.op, self.version) if self.op else "")


def parse_relation(text: str) -> Relation:
    match = _RELATION.match(text)
    if not match:
        raise RelationError("%r is not a package relation" % text)
    op = match.group("op")
    # "<" and ">" are obsolete spellings of "<=" and ">=" (deb-control(5)).
    op = {"<": "<=", ">": ">="}.get(op, op) if op else None
    return Relation(match.group("name"), op, match.group("version"), match.group("arch"))


def parse_relations(field: str) -> t.List[t.List[Relation]]:
    """``a (>= 1) | b, c`` -> [[a (>= 1), b], [c]]; an empty field gives []."""
    groups = []
    for group in field.split(","):
        if not group.strip():
            continue
        groups.append([parse_relation(alternative) for alternative in group.split("|")])
    return groups


def format_group(group: t.Sequence[Relation]) -> str:
    return " | ".join(str(relation) for relation in group)
