# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Debian versions, relations, the debootstrap minbase host and the set resolver,
over package paragraphs shaped like bookworm's (tests/unit/plugins/apt_fixtures)."""

from __future__ import annotations

import pytest

from apt_fixtures import debian_minbase_suite, debian_updates_suite, paragraph

from ansible_collections.mlstack.platform.plugins.module_utils._apt_index import Source, SuiteIndex
from ansible_collections.mlstack.platform.plugins.module_utils._apt_resolve import (
    Resolver,
    ResolveError,
    Universe,
    minbase,
    parse_request,
)
from ansible_collections.mlstack.platform.plugins.module_utils._apt_version import (
    Relation,
    RelationError,
    compare_versions,
    parse_relations,
    version_satisfies,
)

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MAIN = Source("http://deb.debian.org/debian", "bookworm", ("main",), KEYRING)
UPDATES = Source("http://deb.debian.org/debian", "bookworm-updates", ("main",), KEYRING)
WHERE = "http://deb.debian.org/debian bookworm, bookworm-updates"


def index(source, packages):
    lowered = [{key.lower(): value for key, value in pkg.items()} for pkg in packages]
    return SuiteIndex(source, {}, [("main", pkg) for pkg in lowered])


def resolver(extra=(), updates=(), recommends=False):
    release = index(MAIN, debian_minbase_suite() + list(extra))
    indexes = [release, index(UPDATES, list(updates))]
    baseline = minbase(Universe("amd64", [release]), "bookworm", "Debian")
    return Resolver("debian-bookworm", Universe("amd64", indexes), baseline, WHERE, recommends)


def keys(candidates):
    return [c.key for c in candidates]


# -- versions and relations (dpkg's order) ------------------------------------------

@pytest.mark.parametrize("left, right, expected", [
    ("1.0", "1.0", 0),
    ("1.0", "1.0-1", -1),
    ("1:1.0", "2.0", 1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0+b1", "1.0", 1),
    ("2.36-9+deb12u4", "2.36-9+deb12u10", -1),
    ("3.0.11-1~deb12u1", "3.0.11-1", -1),
    ("1.10", "1.9", 1),
    ("1.0a", "1.0+", -1),  # letters sort before other characters
    ("5:27.5.1-1~ubuntu.24.04~noble", "5:27.5.1-1~ubuntu.22.04~jammy", 1),
    ("0:1.2", "1.2", 0),
])
def test_compare_versions_follows_dpkg(left, right, expected):
    result = compare_versions(left, right)
    assert (result > 0) - (result < 0) == expected
    reverse = compare_versions(left=right, right=left)
    assert (reverse > 0) - (reverse < 0) == -expected


def test_version_satisfies_every_operator():
    assert version_satisfies("15.4", ">=", "15~")
    assert version_satisfies("15.4", "<<", "16")
    assert not version_satisfies("15.4", ">>", "15.4")
    assert version_satisfies("15.4", "<=", "15.4")
    assert version_satisfies("1:2", "=", "1:2")
    assert version_satisfies("anything", None, None)


def test_parse_relations_alternatives_versions_and_arch():
    groups = parse_relations("libc6 (>= 2.34), perl:any, mail-transport-agent | exim4 (<< 5) , foo [amd64] <!nocheck>")
    assert groups == [
        [Relation("libc6", ">=", "2.34")],
        [Relation("perl", arch="any")],
        [Relation("mail-transport-agent"), Relation("exim4", "<<", "5")],
        [Relation("foo")],
    ]
    assert parse_relations("") == []
    assert parse_relations("a (> 1)") == [[Relation("a", ">=", "1")]]  # obsolete spelling


def test_parse_relations_refuses_garbage():
    with pytest.raises(RelationError):
        parse_relations("libc6 (>= )")


@pytest.mark.parametrize("text, relation", [
    ("acl", Relation("acl")),
    ("nvidia-container-toolkit=1.17.8-1", Relation("nvidia-container-toolkit", "=", "1.17.8-1")),
    ("docker-ce=5:27.5.1-1~debian.12~bookworm", Relation("docker-ce", "=", "5:27.5.1-1~debian.12~bookworm")),
    ("libpq5 (>= 15)", Relation("libpq5", ">=", "15")),
])
def test_parse_request(text, relation):
    assert parse_request(text) == relation


# -- the minimal host ----------------------------------------------------------------

def test_minbase_is_debootstraps_set():
    release = index(MAIN, debian_minbase_suite())
    host = minbase(Universe("amd64", [release]), "bookworm", "Debian")
    assert sorted(host) == sorted([
        # Priority: required, and their first-alternative Depends/Pre-Depends closure:
        "libc6", "libgcc-s1", "gcc-12-base", "libc-bin", "base-files", "dpkg", "tar", "perl-base", "mawk",
        "init-system-helpers", "coreutils", "debconf", "tzdata", "libacl1",
        # minbase's base="apt" and its closure (first alternative gpgv, not gpgv2):
        "apt", "libapt-pkg6.0", "gpgv",
        # bookworm: usr-is-merged is added to required ...
        "usr-is-merged",
    ])
    # ... and usrmerge (init-system-helpers' first alternative) is excluded, so perl is not pulled in.
    assert "usrmerge" not in host and "perl" not in host
    assert host["libc6"].arch == "amd64"


def test_minbase_drops_virtual_first_alternatives():
    """pkgdetails GETDEPS keeps the first alternative; PKGS REAL drops names that are
    not real packages, so a virtual first alternative brings nothing (functions, resolve_deps)."""
    packages = [paragraph("dpkg", "1", priority="required", depends="awk | mawk"),
                paragraph("mawk", "1", provides="awk"), paragraph("apt", "1")]
    host = minbase(Universe("amd64", [index(MAIN, packages)]), "bookworm", "Debian")
    assert sorted(host) == ["apt", "dpkg"]


def test_minbase_for_ubuntu_adds_no_usr_is_merged():
    packages = [paragraph("base-files", "12ubuntu4", priority="required", depends="usrmerge | usr-is-merged"),
                paragraph("usrmerge", "25ubuntu2"), paragraph("usr-is-merged", "25ubuntu2"),
                paragraph("apt", "2.4.5", priority="important")]
    jammy = Source("http://archive.ubuntu.com/ubuntu", "jammy", ("main",), "/usr/share/keyrings/ubuntu-archive-keyring.gpg")
    host = minbase(Universe("amd64", [index(jammy, packages)]), "jammy", "Ubuntu")
    # gutsy's work_out_debs excludes nothing: the first alternative usrmerge comes in.
    assert sorted(host) == ["apt", "base-files", "usrmerge"]


# -- resolving sets on top of the host -----------------------------------------------

def test_host_packages_are_not_bundled_and_alternatives_take_the_first_satisfiable():
    result = resolver().resolve(["postgresql-15"])
    assert keys(result) == [
        # mail-transport-agent | exim4: no package is called mail-transport-agent; its
        # providers sorted by priority and name: exim4-daemon-light before postfix.
        "exim4-daemon-light=4.96-15",
        "libpq5=15.4-0+deb12u1", "libssl3=3.0.11-1~deb12u1",
        "locales=2.36-9+deb12u1",  # locales | locales-all: the first
        "perl=5.36.0-7+deb12u1",  # postgresql-common: perl:any; the host has perl-base only
        "postgresql-15=15.4-0+deb12u1", "postgresql-common=248",
        "sensible-utils=0.0.17", "ucf=3.0043",
    ]
    names = {c.name for c in result}
    # libc6 (:any), tzdata, coreutils, debconf | debconf-2.0: all on the minimal host.
    assert not names & {"libc6", "perl-base", "tzdata", "coreutils", "debconf", "exim4"}


def test_an_alternative_already_satisfied_adds_nothing():
    res = resolver(extra=[paragraph("wants-awk", "1", depends="gawk | mawk")])
    assert keys(res.resolve(["wants-awk"])) == ["wants-awk=1"]


def test_virtual_package_satisfied_by_the_host_or_by_a_provider():
    res = resolver(extra=[paragraph("wants-debconf", "1", depends="debconf-2.0"),
                          paragraph("wants-mta", "1", depends="default-mta")])
    assert keys(res.resolve(["wants-debconf"])) == ["wants-debconf=1"]
    assert keys(res.resolve(["wants-mta"])) == ["postfix=3.7.6-0+deb12u2", "wants-mta=1"]


def test_versioned_provides():
    res = resolver(extra=[paragraph("wants-api", "1", depends="perlapi (>= 5.36)"),
                          paragraph("api-provider", "2", provides="perlapi (= 5.36.1)"),
                          paragraph("unversioned-provider", "1", provides="perlapi")])
    # An unversioned Provides cannot satisfy a versioned relation.
    assert keys(res.resolve(["wants-api"])) == ["api-provider=2", "wants-api=1"]


def test_newest_version_across_suites_unless_pinned():
    res = resolver(updates=debian_updates_suite())
    assert "libpq5=15.8-0+deb12u1" in keys(res.resolve(["libpq5"]))
    assert "libpq5=15.4-0+deb12u1" in keys(res.resolve(["libpq5=15.4-0+deb12u1"]))


def test_pins_and_equal_version_relations():
    res = resolver()
    assert keys(res.resolve(["nvidia-toolkit"])) == ["nvidia-toolkit=1.18.0-1", "nvidia-toolkit-base=1.18.0-1"]
    assert keys(res.resolve(["nvidia-toolkit=1.17.8-1"])) == ["nvidia-toolkit=1.17.8-1", "nvidia-toolkit-base=1.17.8-1"]


def test_a_later_constraint_revises_an_earlier_choice():
    # needs-old-base wants the base << 1.18 and the newest toolkit wants base = 1.18.0-1:
    # no single choice works, so the revised choice fails naming both.
    with pytest.raises(ResolveError, match=r"nvidia-toolkit"):
        resolver().resolve(["needs-old-base"])
    # With the toolkit pinned to the old line, both constraints hold.
    assert keys(resolver().resolve(["needs-old-base", "nvidia-toolkit=1.17.8-1"])) == [
        "needs-old-base=1.0", "nvidia-toolkit=1.17.8-1", "nvidia-toolkit-base=1.17.8-1"]


def test_a_newer_host_package_brings_what_it_would_break():
    res = resolver(updates=debian_updates_suite())
    # libc6 from the updates; the host's libc-bin (= the old libc6) must follow, and
    # libc6's Breaks on the old locales brings the newer locales.
    result = keys(res.resolve(["needs-new-libc", "locales"]))
    assert result == ["libc-bin=2.36-9+deb12u4", "libc6=2.36-9+deb12u4", "locales=2.36-9+deb12u4",
                      "needs-new-libc=1.0"]
    assert keys(res.resolve(["needs-new-libc"])) == ["libc-bin=2.36-9+deb12u4", "libc6=2.36-9+deb12u4",
                                                     "needs-new-libc=1.0"]
    with pytest.raises(ResolveError, match=r"^debian-bookworm: locales \(= 2.36-9\+deb12u1\) is requested, but "
                                           r"libc6=2.36-9\+deb12u4 breaks locales \(<< 2.36-9\+deb12u4\)$"):
        res.resolve(["needs-new-libc", "locales=2.36-9+deb12u1"])


def test_python_any_and_architecture_filter():
    result = keys(resolver().resolve(["python3-psycopg2", "acl"]))
    assert result == ["acl=2.3.1-3", "libpq5=15.4-0+deb12u1", "libssl3=3.0.11-1~deb12u1",
                      "python3=3.11.2-1+b1", "python3-psycopg2=2.9.5-1+b1", "python3.11=3.11.2-6"]


def test_unknown_package_names_the_target_and_mirror():
    with pytest.raises(ResolveError) as error:
        resolver().resolve(["postgresql-99"])
    assert str(error.value) == ("postgresql-99 is not in debian-bookworm's indexes "
                                "(http://deb.debian.org/debian bookworm, bookworm-updates)")


def test_unknown_pinned_version_lists_what_is_there():
    with pytest.raises(ResolveError, match=r"^nvidia-toolkit=1.17.9-1 is not in debian-bookworm's indexes "
                                           r"\(.*\); versions there: 1.18.0-1, 1.17.8-1$"):
        resolver().resolve(["nvidia-toolkit=1.17.9-1"])


def test_unsatisfiable_dependency_names_the_package_and_relation():
    with pytest.raises(ResolveError, match=r"^broken=1.0 depends on no-such-package \(>= 2\) \| also-missing, "
                                           r"which nothing in debian-bookworm's indexes"):
        resolver().resolve(["broken"])


def test_a_virtual_request_with_several_providers_is_refused():
    with pytest.raises(ResolveError, match="mail-transport-agent is a virtual package .* exim4-daemon-light, postfix"):
        resolver().resolve(["mail-transport-agent"])


def test_recommends_only_when_asked_and_only_when_available():
    extra = [paragraph("with-recs", "1", recommends="sensible-utils, not-there")]
    assert keys(resolver(extra=extra).resolve(["with-recs"])) == ["with-recs=1"]
    assert keys(resolver(extra=extra, recommends=True).resolve(["with-recs"])) == ["sensible-utils=0.0.17", "with-recs=1"]
