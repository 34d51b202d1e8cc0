# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Which .debs a package set needs on a minimal host of a given release.

The host is what ``debootstrap --variant=minbase`` installs, computed from the release
suite's own index the way debootstrap 1.0.128 does it (Debian 12's package):
* ``work_out_debs`` (scripts/debian-common, scripts/gutsy for Ubuntu): ``required`` is
  every package with ``Priority: required``; minbase adds ``base="apt"``; bookworm adds
  ``usr-is-merged`` to required and every Debian release from bookworm on sets
  ``EXCLUDE_DEPENDENCY=usrmerge``.
* ``resolve_deps`` (functions) closes each list over Depends and Pre-Depends with
  ``pkgdetails GETDEPS``: only the FIRST alternative of each relation, version and
  ``:arch`` stripped; names that are not real packages of the suite are dropped
  (``pkgdetails PKGS REAL``). The installed version is the suite's.
Nothing of the machine that runs this is looked at.

A package set is then resolved against every suite of the target (newest version across
suites unless pinned): Depends and Pre-Depends (and Recommends when asked), the first
alternative that can be satisfied, versioned relations, Provides, ``:any``. A relation
the host (baseline plus what is already chosen) satisfies adds nothing; one it does not
(e.g. a newer libc6 than the release's) brings the newer version, and the host's
packages that the newer version would break are brought too.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.mlstack.platform.plugins.module_utils._apt_index import Source, SuiteIndex
from ansible_collections.mlstack.platform.plugins.module_utils._apt_version import (
    Relation,
    RelationError,
    compare_versions,
    format_group,
    parse_relation,
    parse_relations,
    version_satisfies,
)

PRIORITY_ORDER = {"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}
MAX_RESTARTS = 50


class ResolveError(Exception):
    """A package set that cannot be resolved; the message names the package and relation."""


@dataclass(eq=False)
class Candidate:
    """One version of one package in one suite of the target. Relation fields are
    parsed when first read: a release has some 60,000 paragraphs, few are looked at."""

    name: str
    version: str
    arch: str
    paragraph: t.Dict[str, str]
    source: Source
    component: str

    @property
    def key(self) -> str:
        return "%s=%s" % (self.name, self.version)

    @property
    def priority(self) -> str:
        return self.paragraph.get("priority", "optional")

    @property
    def filename(self) -> str:
        return self.paragraph.get("filename", "")

    @property
    def size(self) -> int:
        return int(self.paragraph.get("size", "0") or 0)

    @property
    def sha256(self) -> str:
        return self.paragraph.get("sha256", "").lower()

    @property
    def url(self) -> str:
        return self.source.pool_url(self.filename)

    def _field(self, name: str) -> t.List[t.List[Relation]]:
        cache = self.__dict__.setdefault("_relations", {})
        if name not in cache:
            try:
                cache[name] = parse_relations(self.paragraph.get(name, ""))
            except RelationError as exc:
                raise ResolveError("%s has an unreadable %s field: %s" % (self.key, name.title(), exc))
        return cache[name]

    @property
    def depends(self) -> t.List[t.List[Relation]]:
        """Pre-Depends, then Depends."""
        return self._field("pre-depends") + self._field("depends")

    @property
    def recommends(self) -> t.List[t.List[Relation]]:
        return self._field("recommends")

    @property
    def breaks(self) -> t.List[Relation]:
        return [rel for group in self._field("breaks") for rel in group]

    @property
    def provides(self) -> t.List[Relation]:
        return [rel for group in self._field("provides") for rel in group]


def make_candidate(paragraph: t.Dict[str, str], source: Source, component: str) -> Candidate:
    return Candidate(paragraph.get("package", ""), paragraph.get("version", ""), paragraph.get("architecture", ""),
                     paragraph, source, component)


class Universe:
    """Every package version of the target's suites for one architecture."""

    def __init__(self, arch: str, indexes: t.Iterable[SuiteIndex]) -> None:
        self.arch = arch
        self.by_name: t.Dict[str, t.List[Candidate]] = {}
        self.providers: t.Dict[str, t.List[t.Tuple[Candidate, t.Optional[str]]]] = {}
        seen: t.Set[t.Tuple[str, str, str]] = set()
        for index in indexes:
            for component, paragraph in index.packages:
                if paragraph.get("architecture") not in (arch, "all"):
                    continue
                identity = (paragraph.get("package", ""), paragraph.get("version", ""), paragraph.get("architecture", ""))
                if identity in seen:  # the same build in two suites: the first source wins
                    continue
                seen.add(identity)
                candidate = make_candidate(paragraph, index.source, component)
                self.by_name.setdefault(candidate.name, []).append(candidate)
                if "provides" not in paragraph:
                    continue
                for provided in candidate.provides:
                    self.providers.setdefault(provided.name, []).append((candidate, provided.version))
        for versions in self.by_name.values():
            if len(versions) > 1:
                versions.sort(key=_VersionKey, reverse=True)

    def __contains__(self, name: str) -> bool:
        return name in self.by_name or name in self.providers

    def versions(self, name: str) -> t.List[Candidate]:
        return self.by_name.get(name, [])

    def real(self, relation: Relation) -> t.List[Candidate]:
        """Versions of the package named by ``relation`` that satisfy it, newest first."""
        if not self._arch_ok(relation):
            return []
        return [c for c in self.versions(relation.name) if version_satisfies(c.version, relation.op, relation.version)]

    def virtual(self, relation: Relation) -> t.List[Candidate]:
        """Packages providing ``relation``'s name in a way that satisfies it (a versioned
        relation needs a versioned Provides), by priority, then name."""
        if not self._arch_ok(relation):
            return []
        found = [candidate for candidate, provided in self.providers.get(relation.name, [])
                 if not relation.op or (provided is not None and version_satisfies(provided, relation.op, relation.version))]
        return sorted(found, key=lambda c: (PRIORITY_ORDER.get(c.priority, 5), c.name, _VersionKey(c)))

    def _arch_ok(self, relation: Relation) -> bool:
        return relation.arch in (None, "any", "native", self.arch)


class _VersionKey:
    """Sort key ordering candidates by Debian version."""

    def __init__(self, candidate: Candidate) -> None:
        self.version = candidate.version

    def __lt__(self, other: "_VersionKey") -> bool:
        return compare_versions(self.version, other.version) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _VersionKey) and compare_versions(self.version, other.version) == 0


# ---------------------------------------------------------------------------------------
# The minimal host (debootstrap --variant=minbase)

def minbase(release_suite: Universe, codename: str, distribution: str) -> t.Dict[str, Candidate]:
    """The packages debootstrap --variant=minbase installs from ``release_suite`` (the
    release suite alone, as debootstrap reads it), by name."""
    required = {name for name, versions in release_suite.by_name.items()
                if versions[0].priority == "required"}
    exclude: t.Set[str] = set()
    if distribution.lower() == "debian":
        if codename == "bookworm":
            required.add("usr-is-merged")
        if codename not in ("etch", "lenny", "squeeze", "wheezy", "jessie", "stretch", "buster", "bullseye"):
            exclude.add("usrmerge")
    names = _debootstrap_closure(release_suite, required | {"apt"}, exclude)
    return {name: release_suite.by_name[name][0] for name in sorted(names)}


def _debootstrap_closure(suite: Universe, names: t.Set[str], exclude: t.Set[str]) -> t.Set[str]:
    """resolve_deps: first alternatives of Depends/Pre-Depends, real packages only."""
    known = {name for name in names if name in suite.by_name}
    todo = sorted(known)
    while todo:
        new: t.Set[str] = set()
        for name in todo:
            for candidate in suite.by_name[name]:
                for group in candidate.depends:
                    new.add(group[0].name)
        new -= exclude
        todo = sorted(name for name in new if name in suite.by_name and name not in known)
        known.update(todo)
    return known


# ---------------------------------------------------------------------------------------
# A package set on top of the host

def parse_request(text: str) -> Relation:
    """``name``, ``name=version`` or ``name (>= version)`` from a set's list."""
    name, equals, version = text.strip().partition("=")
    try:
        if equals and "(" not in name:
            return parse_relation("%s (= %s)" % (name.strip(), version.strip()))
        return parse_relation(text)
    except RelationError:
        raise ResolveError("%r is not a package name, name=version or name (op version)" % text)


class _Restart(Exception):
    def __init__(self, name: str, relation: Relation, reason: str) -> None:
        super().__init__(name)
        self.name, self.relation, self.reason = name, relation, reason


class Resolver:
    """Resolves package sets for one target: ``universe`` is every suite, ``baseline``
    the minimal host's packages by name."""

    def __init__(self, target: str, universe: Universe, baseline: t.Dict[str, Candidate],
                 where: str, recommends: bool = False) -> None:
        self.target = target
        self.universe = universe
        # The host's packages as the universe's own entries, so that identity tells
        # "installed" apart from "another version of the same name".
        self.baseline = {name: next((c for c in universe.versions(name) if c.version == have.version), have)
                         for name, have in baseline.items()}
        self.where = where
        self.recommends = recommends

    def resolve(self, requests: t.Sequence[str]) -> t.List[Candidate]:
        """The packages to bundle for ``requests``, sorted by name; the host's own
        packages are left out unless a newer version is needed."""
        relations = [parse_request(text) for text in requests]
        constraints: t.Dict[str, t.List[t.Tuple[Relation, str]]] = {}
        for _attempt in range(MAX_RESTARTS):
            try:
                chosen = _Run(self, constraints).run(relations)
            except _Restart as restart:
                constraints.setdefault(restart.name, []).append((restart.relation, restart.reason))
                continue
            return sorted(chosen.values(), key=lambda c: c.name)
        raise ResolveError("%s: the versions needed for %s keep conflicting" % (self.target, ", ".join(requests)))

    def not_found(self, relation: Relation, needed_by: t.Optional[str]) -> ResolveError:
        versions = [c.version for c in self.universe.versions(relation.name)]
        if needed_by is None:
            what = str(relation).replace(" (= ", "=").rstrip(")") if relation.op == "=" else str(relation)
            if versions:
                return ResolveError("%s is not in %s's indexes (%s); versions there: %s"
                                    % (what, self.target, self.where, ", ".join(versions)))
            return ResolveError("%s is not in %s's indexes (%s)" % (what, self.target, self.where))
        return ResolveError("%s depends on %s, which nothing in %s's indexes (%s) satisfies%s"
                            % (needed_by, relation, self.target, self.where,
                               " (versions there: %s)" % ", ".join(versions) if versions else ""))


class _Run:
    """One pass of the resolution; raises _Restart when a choice must be revised."""

    def __init__(self, resolver: Resolver, constraints: t.Dict[str, t.List[t.Tuple[Relation, str]]]) -> None:
        self.r = resolver
        self.constraints = constraints
        self.chosen: t.Dict[str, Candidate] = {}
        self.todo: t.List[Candidate] = []

    # What the host has once the chosen packages are installed.
    def installed(self, name: str) -> t.Optional[Candidate]:
        return self.chosen.get(name) or self.r.baseline.get(name)

    def provided(self, name: str) -> t.Iterator[t.Tuple[Candidate, t.Optional[str]]]:
        for candidate, version in self.r.universe.providers.get(name, []):
            if self.installed(candidate.name) is candidate:
                yield candidate, version

    def satisfied(self, relation: Relation) -> bool:
        if not self.r.universe._arch_ok(relation):
            return False
        have = self.installed(relation.name)
        if have is not None and version_satisfies(have.version, relation.op, relation.version):
            return True
        return any(not relation.op or (version is not None and version_satisfies(version, relation.op, relation.version))
                   for _candidate, version in self.provided(relation.name))

    def allowed(self, candidate: Candidate) -> bool:
        return all(version_satisfies(candidate.version, rel.op, rel.version)
                   for rel, _reason in self.constraints.get(candidate.name, []))

    def run(self, relations: t.Sequence[Relation]) -> t.Dict[str, Candidate]:
        for relation in relations:
            self.request(relation)
        self.drain()
        return {name: c for name, c in self.chosen.items() if self.r.baseline.get(name) is not c}

    def request(self, relation: Relation) -> None:
        options = [c for c in self.r.universe.real(relation) if self.allowed(c)]
        if not options and not relation.op:
            providers = self.r.universe.virtual(relation)
            if len(providers) == 1:
                options = [providers[0]]
            elif providers:
                raise ResolveError("%s is a virtual package in %s's indexes, provided by %s: name one of them"
                                   % (relation.name, self.r.target, ", ".join(sorted({c.name for c in providers}))))
        if not options and self.constraints.get(relation.name) and self.r.universe.real(relation):
            raise ResolveError("%s: %s is requested, but %s"
                               % (self.r.target, relation, "; ".join(reason for _rel, reason in self.constraints[relation.name])))
        if not options:
            raise self.r.not_found(relation, None)
        best = options[0]
        have = self.r.baseline.get(best.name)
        if have is not None and have.version == best.version:
            self.chosen[best.name] = have
            return
        self.choose(best, relation, "%s is requested" % relation)

    def choose(self, candidate: Candidate, relation: Relation, reason: str) -> None:
        current = self.chosen.get(candidate.name)
        if current is candidate:
            return
        if current is not None:
            # A second relation wants another version than the one already chosen: start
            # over with the relation as a constraint on that name.
            raise _Restart(candidate.name, relation, reason)
        self.chosen[candidate.name] = candidate
        self.todo.append(candidate)

    def drain(self) -> None:
        while self.todo:
            candidate = self.todo.pop(0)
            for group in candidate.depends:
                self.depend(candidate, group, hard=True)
            if self.r.recommends:
                for group in candidate.recommends:
                    self.depend(candidate, group, hard=False)
            self.keep_host_working(candidate)

    def depend(self, owner: Candidate, group: t.Sequence[Relation], hard: bool) -> None:
        if any(self.satisfied(relation) for relation in group):
            return
        for relation in group:
            pick = self.pick(relation)
            if pick is not None:
                self.choose(pick, relation, "%s depends on %s" % (owner.key, relation))
                return
        if not hard:
            return
        for relation in group:  # a chosen version that a later relation rules out
            if relation.name in self.chosen and self.r.universe.real(relation):
                raise _Restart(relation.name, relation, "%s depends on %s" % (owner.key, relation))
        raise ResolveError("%s depends on %s, which nothing in %s's indexes (%s) satisfies"
                           % (owner.key, format_group(group), self.r.target, self.r.where))

    def pick(self, relation: Relation) -> t.Optional[Candidate]:
        if relation.name in self.chosen:
            return None  # chosen at a version that does not satisfy: see depend()
        real = [c for c in self.r.universe.real(relation) if self.allowed(c)]
        if real:
            return real[0]
        virtual = [c for c in self.r.universe.virtual(relation) if self.allowed(c) and c.name not in self.chosen]
        chosen_providers = [c for c, _v in self.provided(relation.name)]
        if chosen_providers:
            return None
        return virtual[0] if virtual else None

    def keep_host_working(self, new: Candidate) -> None:
        """A newer version of a host package must not break the host's other packages:
        their Depends on it must still hold, and its Breaks must not hit them."""
        old = self.r.baseline.get(new.name)
        if old is not None and old is not new:
            for other in list(self.r.baseline.values()):
                if self.installed(other.name) is not other:
                    continue
                for group in other.depends:
                    if any(rel.name == new.name for rel in group) and not any(self.satisfied(rel) for rel in group):
                        self.upgrade(other, "the host's %s does not work with %s" % (other.key, new.key))
                        break
        for rel in new.breaks:
            have = self.installed(rel.name)
            if have is not None and have is not new and rel.op and version_satisfies(have.version, rel.op, rel.version):
                self.upgrade(have, "%s breaks %s" % (new.key, rel))

    def upgrade(self, package: Candidate, reason: str) -> None:
        newer = [c for c in self.r.universe.versions(package.name)
                 if compare_versions(c.version, package.version) > 0 and self.allowed(c)]
        if not newer:
            raise ResolveError("%s: %s, and %s's indexes (%s) have no newer version of it"
                               % (self.r.target, reason, self.r.target, self.r.where))
        self.choose(newer[0], Relation(package.name, ">>", package.version), reason)
