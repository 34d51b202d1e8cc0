# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_collection: the collection's tarball in the bundle is replaced only when the
collection's files changed (FILES.json's digest), from an installed tree and from this
checkout (the real ansible-galaxy collection build); a re-run whose inputs' digest matches
the last build's skips the build, and every change of an input builds again."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys
import tarfile

import pytest
from bundle_maker import run_module

from ansible_collections.mlstack.platform.plugins.modules import bundle_collection

ROOT = pathlib.Path(__file__).resolve().parents[4]


def installed_tree(path: pathlib.Path, text: str) -> pathlib.Path:
    """An installed collection as ansible-galaxy leaves it: MANIFEST.json naming FILES.json's digest."""
    (path / "plugins" / "modules" / "__pycache__").mkdir(parents=True)
    (path / "plugins" / "modules" / "x.py").write_text(text)
    (path / "plugins" / "modules" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    files = json.dumps({"files": [{"name": "plugins/modules/x.py",
                                   "chksum_sha256": hashlib.sha256(text.encode()).hexdigest()}]}).encode()
    (path / "FILES.json").write_bytes(files)
    (path / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": "0.1.0"}, "file_manifest_file": {
        "name": "FILES.json", "chksum_sha256": hashlib.sha256(files).hexdigest()}}))
    return path


def test_an_installed_collection_is_packed_and_replaced_only_when_changed(capsys, tmp_path):
    src = installed_tree(tmp_path / "installed", "one")
    dest = tmp_path / "bundle" / "controller" / "mlstack-platform-0.1.0.tar.gz"
    first = run_module(capsys, bundle_collection, {"src": str(src), "dest": str(dest), "cache_dir": ""})
    assert first["changed"] is True and first["built_from"] == "installed"
    with tarfile.open(dest) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "plugins/modules/x.py" in names
    assert not [n for n in names if "__pycache__" in n]
    stat = dest.stat()
    again = run_module(capsys, bundle_collection, {"src": str(src), "dest": str(dest), "cache_dir": ""})
    assert again["changed"] is False and dest.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(os.listdir(dest.parent)) == [dest.name]
    changed_src = installed_tree(tmp_path / "installed-2", "two")
    check = run_module(capsys, bundle_collection, {"src": str(changed_src), "dest": str(dest), "cache_dir": "",
                                                   "_ansible_check_mode": True})
    assert check["changed"] is True and dest.stat().st_mtime_ns == stat.st_mtime_ns
    third = run_module(capsys, bundle_collection, {"src": str(changed_src), "dest": str(dest), "cache_dir": ""})
    assert third["changed"] is True and third["files_sha256"] != first["files_sha256"]


def test_the_checkout_is_built_with_ansible_galaxy(capsys, tmp_path):
    dest = tmp_path / "controller" / "mlstack-platform-0.1.0.tar.gz"
    galaxy = str(pathlib.Path(sys.executable).parent / "ansible-galaxy")
    first = run_module(capsys, bundle_collection, {"src": str(ROOT), "dest": str(dest), "galaxy": galaxy,
                                                   "cache_dir": str(tmp_path / "cache")})
    assert first.get("failed") is not True, first
    assert first["built_from"] == "checkout" and first["changed"] is True and first["built"] is True
    assert bundle_collection.files_digest(str(dest)) == first["files_sha256"]
    again = run_module(capsys, bundle_collection, {"src": str(ROOT), "dest": str(dest), "galaxy": galaxy,
                                                   "cache_dir": str(tmp_path / "cache")})
    assert again["changed"] is False and again["built"] is False and again["files_sha256"] == first["files_sha256"]


def test_the_selection_is_ansible_galaxys():
    """The files whose digests key the build are exactly those ansible-galaxy puts in the
    tarball of this checkout (its own _build_files_manifest, with galaxy.yml's build_ignore)."""
    galaxy_collection = pytest.importorskip("ansible.galaxy.collection")
    meta = galaxy_collection._get_meta_from_src_dir(str(ROOT).encode())
    manifest = galaxy_collection._build_files_manifest(str(ROOT).encode(), meta["namespace"], meta["name"],
                                                       meta["build_ignore"], meta["manifest"], meta["license_file"])
    expected = sorted(e["name"] + ("/" if e["ftype"] == "dir" else "") for e in manifest["files"] if e["name"] != ".")
    assert sorted(bundle_collection.galaxy_selection(str(ROOT))) == expected


GALAXY_YML = """namespace: example
name: demo
version: 1.0.0
readme: README.md
authors: [someone]
build_ignore: [scratch, "*.log"]
"""


def small_checkout(path: pathlib.Path) -> pathlib.Path:
    (path / "plugins" / "modules").mkdir(parents=True)
    (path / "galaxy.yml").write_text(GALAXY_YML)
    (path / "README.md").write_text("demo\n")
    (path / "plugins" / "modules" / "x.py").write_text("X = 1\n")
    return path


def test_a_rerun_skips_the_build_until_an_input_changes(capsys, tmp_path):
    src = small_checkout(tmp_path / "src")
    dest = tmp_path / "bundle" / "controller" / "example-demo-1.0.0.tar.gz"
    galaxy = str(pathlib.Path(sys.executable).parent / "ansible-galaxy")
    args = {"src": str(src), "dest": str(dest), "galaxy": galaxy, "cache_dir": str(tmp_path / "cache")}

    def run() -> dict:
        result = run_module(capsys, bundle_collection, args)
        assert result.get("failed") is not True, result
        return result

    first = run()
    assert first["built"] is True and first["changed"] is True
    assert os.listdir(tmp_path / "cache" / "bundle_collection")
    assert run()["built"] is False
    # A file the build leaves out (build_ignore) is not an input.
    (src / "scratch").mkdir()
    (src / "scratch" / "notes.txt").write_text("n")
    (src / "debug.log").write_text("l")
    assert run()["built"] is False
    # A changed file: built, and the tarball replaced.
    (src / "plugins" / "modules" / "x.py").write_text("X = 2\n")
    changed = run()
    assert changed["built"] is True and changed["changed"] is True and changed["files_sha256"] != first["files_sha256"]
    assert run()["built"] is False
    # A new file, then the same file removed again.
    (src / "plugins" / "modules" / "y.py").write_text("Y = 1\n")
    assert run()["built"] is True
    (src / "plugins" / "modules" / "y.py").unlink()
    back = run()
    assert back["built"] is True and back["files_sha256"] == changed["files_sha256"]
    # galaxy.yml (the collection's metadata) is an input too.
    (src / "galaxy.yml").write_text(GALAXY_YML.replace("authors: [someone]", "authors: [someone, else]"))
    assert run()["built"] is True
    assert run()["built"] is False
    # A tarball rewritten in the bundle (new inode and mtime) is looked at again.
    data = dest.read_bytes()
    dest.unlink()
    dest.write_bytes(data)
    rewritten = run()
    assert rewritten["built"] is True and rewritten["changed"] is False
    # Another tarball in its place (a damaged one): built and replaced.
    dest.write_bytes(b"not a tarball")
    damaged = run()
    assert damaged["built"] is True and damaged["changed"] is True
    assert bundle_collection.files_digest(str(dest)) == damaged["files_sha256"]
    # Without a cache directory every run builds.
    assert run_module(capsys, bundle_collection, dict(args, cache_dir=""))["built"] is True


def test_neither_checkout_nor_installed_is_named(capsys, tmp_path):
    result = run_module(capsys, bundle_collection, {"src": str(tmp_path), "dest": str(tmp_path / "c.tar.gz")})
    assert result["failed"] is True
    assert "is neither a checkout (galaxy.yml) nor an installed collection" in result["msg"]
