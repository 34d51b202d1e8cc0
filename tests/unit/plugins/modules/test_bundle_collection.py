# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_collection: the collection's tarball in the bundle is replaced only when the
collection's files changed (FILES.json's digest), from an installed tree and from this
checkout (the real ansible-galaxy collection build)."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys
import tarfile

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
    first = run_module(capsys, bundle_collection, {"src": str(src), "dest": str(dest)})
    assert first["changed"] is True and first["built_from"] == "installed"
    with tarfile.open(dest) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "plugins/modules/x.py" in names
    assert not [n for n in names if "__pycache__" in n]
    stat = dest.stat()
    again = run_module(capsys, bundle_collection, {"src": str(src), "dest": str(dest)})
    assert again["changed"] is False and dest.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(os.listdir(dest.parent)) == [dest.name]
    changed_src = installed_tree(tmp_path / "installed-2", "two")
    check = run_module(capsys, bundle_collection, {"src": str(changed_src), "dest": str(dest), "_ansible_check_mode": True})
    assert check["changed"] is True and dest.stat().st_mtime_ns == stat.st_mtime_ns
    third = run_module(capsys, bundle_collection, {"src": str(changed_src), "dest": str(dest)})
    assert third["changed"] is True and third["files_sha256"] != first["files_sha256"]


def test_the_checkout_is_built_with_ansible_galaxy(capsys, tmp_path):
    dest = tmp_path / "controller" / "mlstack-platform-0.1.0.tar.gz"
    galaxy = str(pathlib.Path(sys.executable).parent / "ansible-galaxy")
    first = run_module(capsys, bundle_collection, {"src": str(ROOT), "dest": str(dest), "galaxy": galaxy})
    assert first.get("failed") is not True, first
    assert first["built_from"] == "checkout" and first["changed"] is True
    assert bundle_collection.files_digest(str(dest)) == first["files_sha256"]


def test_neither_checkout_nor_installed_is_named(capsys, tmp_path):
    result = run_module(capsys, bundle_collection, {"src": str(tmp_path), "dest": str(tmp_path / "c.tar.gz")})
    assert result["failed"] is True
    assert "is neither a checkout (galaxy.yml) nor an installed collection" in result["msg"]
