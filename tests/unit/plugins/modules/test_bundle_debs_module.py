# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_debs end to end over file:// fixture archives signed in the test: the flat
repository it writes (and that apt would verify), incremental runs, check mode, and
bad input failing before anything is written."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess

import pytest

from apt_fixtures import Archive, bookworm_archive, make_gpg_keys, paragraph

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.module_utils import _apt_repo, _checksum
from ansible_collections.mlstack.platform.plugins.modules import bundle_debs


@pytest.fixture(scope="session")
def gpg_keys(tmp_path_factory):
    yield from make_gpg_keys(tmp_path_factory)


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            bundle_debs.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def site(tmp_path, gpg_keys):
    archive = bookworm_archive(str(tmp_path / "mirror"), gpg_keys["archive"])
    dest = str(tmp_path / "bundle" / "apt" / "debian-bookworm")
    args = {
        "target": "debian-bookworm", "distribution": "Debian", "release": "bookworm",
        "sources": [{"uri": archive.uri, "suites": ["bookworm", "bookworm-updates"], "components": ["main"],
                     "keyring": gpg_keys["archive"].keyring}],
        "sets": {"postgresql": ["postgresql-15", "python3-psycopg2", "acl"], "acl": ["acl"]},
        "dest": dest, "signing_key": gpg_keys["bundle"].secret, "cache_dir": str(tmp_path / "cache"),
    }
    return archive, dest, args


def read(path, mode="rb"):
    with open(path, mode) as stream:
        return stream.read()


def gpgv(keyring, path):
    return subprocess.run(["gpgv", "--keyring", keyring, path], capture_output=True, check=False).returncode


def test_first_run_writes_a_signed_flat_repository(capsys, site, gpg_keys):
    archive, dest, args = site
    result = run_module(capsys, args)
    assert result["changed"] is True and result["index_changed"] is True
    assert result["sets"]["acl"] == {"packages": ["acl=2.3.1-3"], "files": ["apt/debian-bookworm/acl_2.3.1-3_amd64.deb"]}
    postgres = result["sets"]["postgresql"]["packages"]
    assert "postgresql-15=15.4-0+deb12u1" in postgres and "libpq5=15.8-0+deb12u1" in postgres  # newest: updates
    assert not any(key.startswith(("libc6=", "tzdata=", "perl-base=")) for key in postgres)  # the minimal host has them
    assert "libc6=2.36-9+deb12u1" in result["baseline"] and "usr-is-merged=37~deb12u1" in result["baseline"]
    files = sorted(name for name in os.listdir(dest) if not name.startswith("."))
    debs = [name for name in files if name.endswith(".deb")]
    assert files == sorted(debs + ["InRelease", "Packages", "Packages.gz", "Release"])
    assert sorted("apt/debian-bookworm/" + name for name in debs) == sorted(result["fetched"])
    assert result["size"] == sum(os.path.getsize(os.path.join(dest, name)) for name in debs)
    # The index: upstream paragraphs with local file names, sizes and digests that hold.
    packages = read(os.path.join(dest, "Packages"), "r")
    assert packages.count("Package: ") == len(debs) == len(result["packages"])
    for block in packages.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(" "))
        deb = read(os.path.join(dest, fields["Filename"]))
        assert fields["Filename"].startswith("./") and len(deb) == int(fields["Size"])
        assert hashlib.sha256(deb).hexdigest() == fields["SHA256"]
    assert gzip.decompress(read(os.path.join(dest, "Packages.gz"))) == packages.encode()
    release = read(os.path.join(dest, "Release"), "r")
    for name in ("Packages", "Packages.gz"):
        data = read(os.path.join(dest, name))
        assert " %s %16d %s\n" % (hashlib.sha256(data).hexdigest(), len(data), name) in release
    # InRelease is signed by the bundle's key, and only by it.
    assert gpgv(gpg_keys["bundle"].keyring, os.path.join(dest, "InRelease")) == 0
    assert gpgv(gpg_keys["archive"].keyring, os.path.join(dest, "InRelease")) != 0
    assert result["fingerprint"] in subprocess.run(["gpg", "--show-keys", "--with-colons", gpg_keys["bundle"].public],
                                                   capture_output=True, text=True, check=True).stdout


def test_second_run_fetches_hashes_and_rewrites_nothing(capsys, site, monkeypatch):
    archive, dest, args = site
    run_module(capsys, args)
    before = {name: os.stat(os.path.join(dest, name)).st_mtime_ns for name in os.listdir(dest)}

    def no_hashing(path):
        raise AssertionError("hashed %s again" % path)
    monkeypatch.setattr(_apt_repo, "file_sha256", no_hashing)
    monkeypatch.setattr(_checksum, "file_sha256", no_hashing)
    result = run_module(capsys, args)
    assert (result["changed"], result["fetched"], result["removed"], result["index_changed"]) == (False, [], [], False)
    assert {name: os.stat(os.path.join(dest, name)).st_mtime_ns for name in os.listdir(dest)} == before


def test_without_the_cache_files_are_hashed_not_fetched(capsys, site):
    archive, dest, args = site
    run_module(capsys, args)
    os.unlink(os.path.join(args["cache_dir"], "sha256.json"))
    os.unlink(os.path.join(args["cache_dir"], "resolved-debian-bookworm.json"))
    result = run_module(capsys, args)
    assert (result["changed"], result["fetched"], result["from_cache"]) == (False, [], False)


def test_the_resolution_is_reused_while_every_inrelease_is_unchanged(capsys, site, monkeypatch):
    archive, dest, args = site
    first = run_module(capsys, args)
    assert first["from_cache"] is False

    def no_index_reading(*args, **kwargs):
        raise AssertionError("read a Packages index again")
    monkeypatch.setattr(bundle_debs, "load_packages", no_index_reading)
    second = run_module(capsys, args)
    assert second["from_cache"] is True and second["changed"] is False
    assert (second["sets"], second["baseline"]) == (first["sets"], first["baseline"])
    monkeypatch.undo()
    # Another set, or a suite that changed upstream: resolved again.
    assert run_module(capsys, dict(args, sets={"acl": ["acl"]}))["from_cache"] is False
    archive.suite("bookworm-updates", {"main": [paragraph("acl", "2.3.1-4", depends="libacl1")]})
    result = run_module(capsys, dict(args, sets={"acl": ["acl"]}))
    assert result["from_cache"] is False and result["sets"]["acl"]["packages"] == ["acl=2.3.1-4"]


def test_a_damaged_deb_is_fetched_again(capsys, site):
    archive, dest, args = site
    run_module(capsys, args)
    path = os.path.join(dest, "acl_2.3.1-3_amd64.deb")
    data = bytearray(read(path))
    data[0] ^= 0xFF
    with open(path, "wb") as stream:
        stream.write(bytes(data))
    result = run_module(capsys, args)
    assert result["fetched"] == ["apt/debian-bookworm/acl_2.3.1-3_amd64.deb"]
    assert result["changed"] is True and result["index_changed"] is False


def test_check_mode_writes_nothing(capsys, site):
    archive, dest, args = site
    result = run_module(capsys, dict(args, _ansible_check_mode=True, _ansible_diff=True))
    assert result["changed"] is True and result["index_changed"] is True
    assert "apt/debian-bookworm/acl_2.3.1-3_amd64.deb" in result["fetched"]
    assert not os.path.exists(dest) and not os.path.exists(args["cache_dir"])
    assert result["diff"]["before"] == "" and "acl=2.3.1-3\n" in result["diff"]["after"]


def test_a_smaller_set_removes_what_no_set_needs(capsys, site):
    archive, dest, args = site
    run_module(capsys, args)
    result = run_module(capsys, dict(args, sets={"acl": ["acl"]}, _ansible_diff=True))
    assert result["changed"] is True and result["index_changed"] is True
    assert "apt/debian-bookworm/postgresql-15_15.4-0+deb12u1_amd64.deb" in result["removed"]
    assert sorted(name for name in os.listdir(dest) if name.endswith(".deb")) == ["acl_2.3.1-3_amd64.deb"]
    assert "postgresql-15=15.4-0+deb12u1\n" in result["diff"]["before"]
    assert result["diff"]["after"] == "acl=2.3.1-3\n"


def test_a_third_party_flat_repository_with_pins(capsys, site, gpg_keys, tmp_path):
    archive, dest, args = site
    nvidia = Archive(str(tmp_path / "nvidia"), gpg_keys["other"])
    nvidia.flat([paragraph("nvidia-container-toolkit", "1.18.0-1", depends="nvidia-container-toolkit-base (= 1.18.0-1)"),
                 paragraph("nvidia-container-toolkit", "1.17.8-1", depends="nvidia-container-toolkit-base (= 1.17.8-1), libc6"),
                 paragraph("nvidia-container-toolkit-base", "1.18.0-1"),
                 paragraph("nvidia-container-toolkit-base", "1.17.8-1")])
    sources = args["sources"] + [{"uri": nvidia.uri, "suites": ["./"], "keyring": gpg_keys["other"].public}]
    result = run_module(capsys, dict(args, sources=sources, sets={"nvidia": ["nvidia-container-toolkit=1.17.8-1"]}))
    assert result["sets"]["nvidia"]["packages"] == [
        "nvidia-container-toolkit=1.17.8-1", "nvidia-container-toolkit-base=1.17.8-1"]


def test_unknown_package_fails_before_anything_is_written(capsys, site):
    archive, dest, args = site
    result = run_module(capsys, dict(args, sets={"postgresql": ["postgresql-99"]}))
    assert result["failed"] is True
    assert result["msg"] == "postgresql-99 is not in debian-bookworm's indexes (%s bookworm, bookworm-updates)" % archive.uri
    assert not os.path.exists(dest)


def test_bad_signature_fails_before_anything_is_written(capsys, site, gpg_keys):
    archive, dest, args = site
    sources = [dict(args["sources"][0], keyring=gpg_keys["other"].keyring)]
    result = run_module(capsys, dict(args, sources=sources))
    assert result["failed"] is True
    assert result["msg"].startswith("bad signature on %s/dists/bookworm/InRelease (keyring %s)"
                                    % (archive.uri, gpg_keys["other"].keyring))
    assert not os.path.exists(dest)


def test_unreachable_mirror_fails_naming_it(capsys, site):
    archive, dest, args = site
    sources = [dict(args["sources"][0], uri="http://127.0.0.1:9/debian")]
    result = run_module(capsys, dict(args, sources=sources, timeout=5))
    assert result["failed"] is True
    assert result["msg"].startswith("cannot fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease: ")


def test_a_public_key_is_not_a_signing_key(capsys, site, gpg_keys):
    archive, dest, args = site
    result = run_module(capsys, dict(args, signing_key=gpg_keys["bundle"].public))
    assert result["failed"] is True
    assert result["msg"].startswith("signing_key %s holds no secret key" % gpg_keys["bundle"].public)


@pytest.mark.parametrize("source, message", [
    ({"suites": ["./"], "components": ["main"]}, "the flat suite './' takes no components"),
    ({"suites": ["bookworm"], "components": []}, "suite 'bookworm' needs components"),
])
def test_source_shapes_are_checked(capsys, site, source, message):
    archive, dest, args = site
    result = run_module(capsys, dict(args, sources=[dict(args["sources"][0], **source)]))
    assert result["failed"] is True and message in result["msg"] and result["msg"].startswith("sources[0]")


def test_sets_must_be_lists_of_names(capsys, site):
    archive, dest, args = site
    result = run_module(capsys, dict(args, sets={"postgresql": "postgresql-15"}))
    assert result["msg"] == "sets.postgresql must be a list of package names (name or name=version)"
