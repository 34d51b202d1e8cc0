# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Reading a release's indexes: InRelease verified with gpgv, Packages checked against
the Release; Debian, Ubuntu and flat third-party layouts, over file:// fixture archives
signed in the test."""

from __future__ import annotations

import os

import pytest

from apt_fixtures import Archive, bookworm_archive, make_gpg_keys, paragraph

from ansible_collections.mlstack.platform.plugins.module_utils._apt_index import (
    AptIndexError,
    Source,
    load_suite,
    parse_control,
)
from ansible_collections.mlstack.platform.plugins.module_utils._apt_resolve import Universe


@pytest.fixture(scope="session")
def gpg_keys(tmp_path_factory):
    yield from make_gpg_keys(tmp_path_factory)


def names(index):
    return sorted({p["package"] for _c, p in index.packages})


def test_debian_suite_is_verified_and_read_from_packages_xz(tmp_path, gpg_keys):
    archive = bookworm_archive(str(tmp_path / "debian"), gpg_keys["archive"])
    index = load_suite(Source(archive.uri, "bookworm", ("main",), gpg_keys["archive"].keyring), "amd64")
    assert "postgresql-15" in names(index) and "libc6" in names(index)
    assert {component for component, _p in index.packages} == {"main"}
    assert index.release["suite"] == "bookworm"
    # The plain Packages is listed in the Release but not served: .xz was read.
    assert "main/binary-amd64/Packages" in index.release["sha256"]
    assert not os.path.exists(os.path.join(archive.root, "dists/bookworm/main/binary-amd64/Packages"))


def test_ubuntu_shape_with_components_and_an_armoured_keyring(tmp_path, gpg_keys):
    archive = Archive(str(tmp_path / "ubuntu"), gpg_keys["archive"])
    archive.suite("jammy-security", {
        "main": [paragraph("libssl3", "3.0.2-0ubuntu1.18", depends="libc6 (>= 2.34)")],
        "universe": [paragraph("python3-psycopg2", "2.9.2-1build2", depends="python3 (<< 3.11)")],
    }, origin="Ubuntu", codename="jammy")
    source = Source(archive.uri, "jammy-security", ("main", "universe"), gpg_keys["archive"].public)  # .asc
    index = load_suite(source, "amd64")
    assert index.release["acquire-by-hash"] == "yes"
    assert sorted((c, p["package"]) for c, p in index.packages) == [("main", "libssl3"), ("universe", "python3-psycopg2")]
    candidate = Universe("amd64", [index]).versions("libssl3")[0]
    assert candidate.url == archive.uri + "/pool/main/l/libssl3_3.0.2-0ubuntu1.18_amd64.deb"
    assert os.path.isfile(candidate.url[len("file://"):])


@pytest.mark.parametrize("subdir", ["", "stable"])
def test_flat_repository(tmp_path, gpg_keys, subdir):
    """NVIDIA's libnvidia-container is ``deb <uri> /``: InRelease and Packages at the URI,
    Filename relative to the URI."""
    archive = Archive(str(tmp_path / "nvidia"), gpg_keys["archive"])
    archive.flat([paragraph("nvidia-container-toolkit", "1.17.8-1", depends="nvidia-container-toolkit-base (= 1.17.8-1)"),
                  paragraph("nvidia-container-toolkit-base", "1.17.8-1"),
                  paragraph("libnvidia-container1", "1.17.8-1", arch="arm64")], subdir=subdir)
    suite = (subdir + "/") if subdir else "./"
    source = Source(archive.uri, suite, (), gpg_keys["archive"].keyring)
    assert source.flat
    universe = Universe("amd64", [load_suite(source, "amd64")])
    assert sorted(universe.by_name) == ["nvidia-container-toolkit", "nvidia-container-toolkit-base"]  # arm64 left out
    url = universe.versions("nvidia-container-toolkit")[0].url
    assert os.path.isfile(url[len("file://"):])


def test_bad_signature_is_refused(tmp_path, gpg_keys):
    archive = Archive(str(tmp_path / "debian"), gpg_keys["archive"])
    archive.suite("bookworm", {"main": [paragraph("acl", "2.3.1-3")]}, signer=gpg_keys["other"])
    url = archive.uri + "/dists/bookworm/InRelease"
    with pytest.raises(AptIndexError, match=r"^bad signature on %s \(keyring %s\): " % (url, gpg_keys["archive"].keyring)):
        load_suite(Source(archive.uri, "bookworm", ("main",), gpg_keys["archive"].keyring), "amd64")


def test_unsigned_inrelease_is_refused(tmp_path, gpg_keys):
    archive = Archive(str(tmp_path / "debian"), gpg_keys["archive"])
    archive.suite("bookworm", {"main": [paragraph("acl", "2.3.1-3")]})
    directory = os.path.join(archive.root, "dists/bookworm")
    os.replace(os.path.join(directory, "Release"), os.path.join(directory, "InRelease"))
    with pytest.raises(AptIndexError, match="^bad signature on "):
        load_suite(Source(archive.uri, "bookworm", ("main",), gpg_keys["archive"].keyring), "amd64")


def test_index_that_does_not_match_the_release_is_refused(tmp_path, gpg_keys):
    archive = Archive(str(tmp_path / "debian"), gpg_keys["archive"])
    archive.suite("bookworm", {"main": [paragraph("acl", "2.3.1-3")]}, tamper="main/binary-amd64/Packages.xz")
    with pytest.raises(AptIndexError, match=r"/dists/bookworm/main/binary-amd64/Packages.xz does not match its Release entry"):
        load_suite(Source(archive.uri, "bookworm", ("main",), gpg_keys["archive"].keyring), "amd64")


def test_unreachable_mirror_names_the_url(gpg_keys):
    source = Source("http://127.0.0.1:9/debian", "bookworm", ("main",), gpg_keys["archive"].keyring)
    with pytest.raises(AptIndexError, match=r"^cannot fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease: "):
        load_suite(source, "amd64", timeout=5)


def test_component_missing_from_the_release(tmp_path, gpg_keys):
    archive = Archive(str(tmp_path / "debian"), gpg_keys["archive"])
    archive.suite("bookworm", {"main": [paragraph("acl", "2.3.1-3")]})
    with pytest.raises(AptIndexError, match=r"InRelease lists no SHA256 entry for contrib/binary-amd64/Packages"):
        load_suite(Source(archive.uri, "bookworm", ("main", "contrib"), gpg_keys["archive"].keyring), "amd64")


def test_missing_keyring(tmp_path):
    with pytest.raises(AptIndexError, match=r"^keyring /nonexistent.gpg \(for .*\) does not exist$"):
        load_suite(Source("file://" + str(tmp_path), "bookworm", ("main",), "/nonexistent.gpg"), "amd64")


def test_parse_control_keeps_continuation_lines_and_field_spelling():
    text = "Package: a\nDescription: short\n long line\n .\n more\nSHA256: ab\n\n\nPackage: b\n"
    first, second = list(parse_control(text))
    assert first["description"] == "short\n long line\n .\n more"
    assert first["\0names"].split("\n") == ["Package", "Description", "SHA256"]
    assert second["package"] == "b"
