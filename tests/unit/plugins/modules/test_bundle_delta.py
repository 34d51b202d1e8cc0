# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_delta and bundle_merge: a delta against a first bundle holds only what changed,
merges back into a copy of the first bundle, and the result verifies as a whole; a
delta that fails any check leaves the bundle untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from ansible_collections.mlstack.platform.plugins.modules import bundle_delta, bundle_merge

from bundle_maker import add_image, cache_dir, flip_byte, keys, needs_of, run_module, seal, sealed, sealed_template, verify, write  # noqa: F401 pylint: disable=unused-import


def tree(root):
    """Every file of a directory with its sha256."""
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return found


@pytest.fixture
def trip(capsys, sealed, sealed_template, keys, cache_dir, tmp_path):
    """The site has a copy of the first bundle; the connected side updates one image, one
    chart and drops one .deb, then seals again and writes the delta."""
    root, records = sealed
    site = str(tmp_path / "site-bundle")
    shutil.copytree(root, site)
    base = str(tmp_path / "base-MANIFEST.json")
    shutil.copy(os.path.join(root, "MANIFEST.json"), base)
    shared_layer = os.path.join(root, records[0]["files"][0])
    records[0] = add_image(root, "docker.io/library/registry:2.8.3",
                           [open(shared_layer, "rb").read(), b"a new layer" * 300])
    write(root, records[3]["files"][0], b"chart 1.17.2" * 200)
    dropped = records[2]["files"].pop()
    os.unlink(os.path.join(root, dropped))
    assert seal(capsys, root, records, keys["site"], cache_dir)["changed"] is True
    delta = str(tmp_path / "bundle.delta")
    result = run_module(capsys, bundle_delta, {"path": root, "base_manifest": base, "dest": delta})
    assert result["changed"] is True, result
    return root, records, site, base, delta, result, dropped


def merge(capsys, site, delta, key, **extra):
    return run_module(capsys, bundle_merge, dict({"path": site, "delta": delta, "public_key": key.public}, **extra))


def test_delta_holds_only_the_changed_files(capsys, trip):
    root, records, site, base, delta, result, _dropped = trip
    new_image_files = set(records[0]["files"]) - set(json.load(open(base))["files"])
    expected = sorted(new_image_files | {"images/oci/index.json", records[3]["files"][0]})
    assert result["files"] == expected
    assert result["bytes"] == sum(os.path.getsize(os.path.join(root, rel)) for rel in expected)
    assert result["linked"] == len(expected) and result["copied"] == 0
    assert sorted(tree(delta)) == sorted(expected + ["MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig", "DELTA.json"])
    for name in ("MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig"):
        assert open(os.path.join(delta, name), "rb").read() == open(os.path.join(root, name), "rb").read()
    assert os.stat(os.path.join(delta, expected[0])).st_ino == os.stat(os.path.join(root, expected[0])).st_ino
    document = json.load(open(os.path.join(delta, "DELTA.json")))
    assert document["base_manifest_sha256"] == hashlib.sha256(open(base, "rb").read()).hexdigest()
    again = run_module(capsys, bundle_delta, {"path": root, "base_manifest": base, "dest": delta})
    assert again["changed"] is False


def test_merge_gives_the_full_bundle_which_verifies(capsys, trip, keys):
    root, records, site, _base, delta, _result, dropped = trip
    result = merge(capsys, site, delta, keys["site"], _ansible_diff=True)
    assert result["changed"] is True, result
    assert dropped in result["removed"]
    assert tree(site) == tree(root)
    assert verify(capsys, site, keys["site"], needs_of(records))["problems"] == []
    assert merge(capsys, site, delta, keys["site"])["changed"] is False


def test_check_mode_merges_nothing(capsys, trip, keys):
    _root, _records, site, _base, delta, _result, _dropped = trip
    before = tree(site)
    result = merge(capsys, site, delta, keys["site"], _ansible_check_mode=True)
    assert result["changed"] is True and result["staged"]
    assert tree(site) == before


def test_a_damaged_delta_leaves_the_bundle_untouched(capsys, trip, keys):
    _root, records, site, _base, delta, result, _dropped = trip
    before = tree(site)
    victim = result["files"][-1]
    copy = os.path.join(delta, victim + ".copy")
    shutil.copy(os.path.join(delta, victim), copy)  # break the hard link before damaging it
    os.replace(copy, os.path.join(delta, victim))
    flip_byte(os.path.join(delta, victim))
    failed = merge(capsys, site, delta, keys["site"])
    assert failed["failed"] is True
    assert "(the bundle is unchanged), 1 problem:" in failed["msg"]
    assert "%s: damaged in %s" % (victim, os.path.join(delta, victim)) in failed["msg"]
    assert tree(site) == before


def test_wrong_key_and_wrong_base_are_refused(capsys, trip, keys, tmp_path):
    root, _records, site, _base, delta, _result, _dropped = trip
    before = tree(site)
    result = merge(capsys, site, delta, keys["other"])
    assert "which is not in the public key file %s" % keys["other"].public in result["msg"]
    other = str(tmp_path / "other-bundle")
    shutil.copytree(site, other)
    write(other, "MANIFEST.json", open(os.path.join(site, "MANIFEST.json"), "rb").read() + b" ")
    result = merge(capsys, other, delta, keys["site"])
    assert result["msg"].startswith("bundle %s is not the base of delta %s: its MANIFEST.json has sha256 " % (other, delta))
    result = merge(capsys, site, root, keys["site"])
    assert result["msg"] == "%s is not a delta: it has no DELTA.json" % root
    assert tree(site) == before


def test_delta_bad_inputs(capsys, sealed, sealed_template, tmp_path):
    root, _records = sealed
    result = run_module(capsys, bundle_delta, {"path": root, "base_manifest": str(tmp_path / "none.json"),
                                               "dest": str(tmp_path / "d")})
    assert result["msg"] == "base manifest %s does not exist" % (tmp_path / "none.json")
    result = run_module(capsys, bundle_delta, {"path": root, "base_manifest": os.path.join(root, "MANIFEST.json"),
                                               "dest": os.path.join(root, "delta")})
    assert result["msg"].startswith("dest %s is inside the bundle" % os.path.join(root, "delta"))
    os.unlink(os.path.join(root, "SHA256SUMS.sig"))
    result = run_module(capsys, bundle_delta, {"path": root, "base_manifest": os.path.join(root, "MANIFEST.json"),
                                               "dest": str(tmp_path / "d")})
    assert result["msg"] == "%s is not signed: it has no SHA256SUMS.sig" % root
    assert not os.path.exists(str(tmp_path / "d"))


def test_a_file_moved_in_the_bundle_is_not_carried_and_merged_from_the_bundle(capsys, sealed, keys, cache_dir, tmp_path):
    root, records = sealed
    site = str(tmp_path / "site")
    shutil.copytree(root, site)
    base = os.path.join(site, "MANIFEST.json")
    old = records[2]["files"][1]
    new = "apt/debian-bookworm/pool/" + os.path.basename(old)
    os.makedirs(os.path.join(root, os.path.dirname(new)))
    os.rename(os.path.join(root, old), os.path.join(root, new))
    records[2]["files"][1] = new
    assert seal(capsys, root, records, keys["site"], cache_dir)["changed"] is True
    delta = str(tmp_path / "delta")
    result = run_module(capsys, bundle_delta, {"path": root, "base_manifest": base, "dest": delta, "link": False})
    assert result["files"] == [] and result["copied"] == 0
    merged = merge(capsys, site, delta, keys["site"])
    assert merged["staged"] == [new] and merged["removed"] == [old]
    assert tree(site) == tree(root)
    assert verify(capsys, site, keys["site"], needs_of(records))["problems"] == []


def test_a_delta_is_not_verified_as_a_bundle_and_is_carried_in_parts(capsys, trip, keys, tmp_path):
    from ansible_collections.mlstack.platform.plugins.modules import bundle_parts
    _root, _records, site, _base, delta, _result, _dropped = trip
    result = verify(capsys, delta, keys["site"])
    assert result["msg"].startswith("%s is a delta, not a whole bundle: merge it with bundle_merge" % delta)
    parts = str(tmp_path / "media")
    split = run_module(capsys, bundle_parts, {"state": "split", "path": delta, "parts_dir": parts, "size": "4K"})
    assert split["changed"] is True
    carried = str(tmp_path / "carried.delta")
    run_module(capsys, bundle_parts, {"state": "joined", "path": carried, "parts_dir": parts})
    assert tree(carried) == tree(delta)
    assert merge(capsys, site, carried, keys["site"])["changed"] is True
