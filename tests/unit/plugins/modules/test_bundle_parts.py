# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_parts: split + join round-trips to a bundle that verifies; the parts pass the
real `sha256sum -c`; a damaged or missing part is named and nothing is extracted."""

from __future__ import annotations

import hashlib
import os
import subprocess

from ansible_collections.mlstack.platform.plugins.modules import bundle_parts

from bundle_maker import cache_dir, flip_byte, keys, needs_of, run_module, sealed, sealed_template, verify, write  # noqa: F401 pylint: disable=unused-import


def tree(root):
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return found


def split(capsys, root, **extra):
    return run_module(capsys, bundle_parts, dict({"state": "split", "path": root, "size": "8K"}, **extra))


def join(capsys, parts, dest, **extra):
    return run_module(capsys, bundle_parts, dict({"state": "joined", "path": dest, "parts_dir": parts}, **extra))


def test_split_and_join_round_trip(capsys, sealed, sealed_template, keys, tmp_path):
    root, records = sealed
    result = split(capsys, root)
    assert result["changed"] is True, result
    parts = root + ".parts"
    assert result["parts_dir"] == parts
    names = sorted(name for name in os.listdir(parts) if name.startswith("bundle.tar."))
    assert names == ["bundle.tar.%04d" % n for n in range(1, len(names) + 1)] and len(names) >= 4
    assert all(os.path.getsize(os.path.join(parts, n)) == 8192 for n in names[:-1])
    assert sum(os.path.getsize(os.path.join(parts, n)) for n in names) == result["bytes"]
    check = subprocess.run(["sha256sum", "--ignore-missing", "-c", "PARTS.SHA256SUMS"], cwd=parts,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0 and check.stdout.count(": OK") == len(names), check.stdout + check.stderr
    whole = subprocess.run("cat bundle.tar.* | sha256sum", shell=True, cwd=parts, capture_output=True, text=True, check=False)
    assert whole.stdout.split()[0] in open(os.path.join(parts, "PARTS.SHA256SUMS")).read()
    listing = subprocess.run("cat bundle.tar.* | tar -t", shell=True, cwd=parts, capture_output=True, text=True, check=False)
    assert listing.stdout.splitlines()[:3] == ["MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig"]
    assert split(capsys, root)["changed"] is False
    dest = str(tmp_path / "offline" / "bundle")
    joined = join(capsys, parts, dest)
    assert joined["changed"] is True and joined["files"] == 17, joined
    assert tree(dest) == tree(root)
    assert verify(capsys, dest, keys["site"], needs_of(records))["problems"] == []
    assert join(capsys, parts, dest)["changed"] is False


def test_a_damaged_or_missing_part_is_named_and_nothing_extracted(capsys, sealed, sealed_template, tmp_path):
    root, _records = sealed
    split(capsys, root, parts_dir=str(tmp_path / "media"))
    flip_byte(str(tmp_path / "media" / "bundle.tar.0002"), 10)
    dest = str(tmp_path / "dest")
    result = join(capsys, str(tmp_path / "media"), dest)
    assert result["failed"] is True
    assert result["msg"].splitlines()[0].endswith("failed verification, nothing was extracted, 1 problem:")
    assert result["msg"].splitlines()[1].startswith("part bundle.tar.0002: damaged (sha256 ")
    assert not os.path.exists(dest)
    os.unlink(str(tmp_path / "media" / "bundle.tar.0003"))
    result = join(capsys, str(tmp_path / "media"), dest, _ansible_check_mode=True)
    assert "part bundle.tar.0003: missing from %s" % (tmp_path / "media") in result["msg"]
    assert not os.path.exists(dest)
    assert [name for name in os.listdir(str(tmp_path)) if name.startswith(".mlstack-tmp")] == []


def test_bad_inputs(capsys, sealed, sealed_template, tmp_path):
    root, _records = sealed
    assert split(capsys, root, size="lots")["msg"] == "size 'lots' is not a size (for example 4G, 700M, 64K or a number of bytes)"
    assert split(capsys, root, size="100")["msg"] == "size '100' is below 1 KiB; parts that small are a mistake"
    assert "size" in run_module(capsys, bundle_parts, {"state": "split", "path": root})["msg"]
    write(root, "images/oci/blobs/sha256/x.partial", b"x")
    result = split(capsys, root)
    assert "images/oci/blobs/sha256/x.partial: a temporary file" in result["msg"]
    os.unlink(os.path.join(root, "images/oci/blobs/sha256/x.partial"))
    split(capsys, root)
    other = str(tmp_path / "other")
    write(other, "something", b"else")
    result = join(capsys, root + ".parts", other)
    assert result["msg"].startswith("%s exists and is not the bundle these parts hold" % other)
    result = join(capsys, str(tmp_path / "nowhere"), other)
    assert result["msg"] == "parts directory %s does not exist" % (tmp_path / "nowhere")
    empty = str(tmp_path / "empty")
    os.makedirs(empty)
    assert split(capsys, empty)["msg"] == "%s is not a bundle: it has no MANIFEST.json" % empty
