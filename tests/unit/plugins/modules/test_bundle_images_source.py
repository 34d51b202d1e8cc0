# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_images with an image's own ``source`` (the execution environment of
mlstack_bundle_ee, which no registry holds): the real skopeo copies it from an OCI archive
on disk into the bundle's layout under the name the bundle gives it, a second run copies
nothing, and bundle_seal + bundle_verify accept the bundle that holds it."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from bundle_maker import cache_dir, keys, run_module, seal, verify  # noqa: F401 pylint: disable=unused-import
from oci_fixtures import OciImage, oci_archive_file, write_layout

from ansible_collections.mlstack.platform.plugins.modules import bundle_images

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (Debian's package)")

EE_REF = "localhost/mlstack-platform-ee:0.1.0"
EE_ID = "image/execution_environment"


@pytest.fixture
def ee_archive(tmp_path):
    """An image as an OCI archive (what `skopeo copy docker-daemon:... oci-archive:FILE` writes)."""
    image = OciImage("mlstack-platform-ee:0.1.0", "ee", layers=2)
    layout = write_layout(str(tmp_path / "source-layout"), [image])
    return image, oci_archive_file(str(tmp_path / "ee.tar"), layout)


def run(capsys, layout, source, **extra):
    args = {"layout": layout, "images": [{"id": EE_ID, "ref": EE_REF, "source": source}]}
    args.update(extra)
    return run_module(capsys, bundle_images, args)


def test_the_ee_is_copied_from_its_own_source_once(capsys, tmp_path, ee_archive):
    image, archive = ee_archive
    layout = str(tmp_path / "bundle" / "images" / "oci")
    first = run(capsys, layout, "oci-archive:" + archive)
    assert first.get("failed") is not True, first
    assert first["changed"] is True
    [result] = first["images"]
    assert result["action"] == "copied" and result["source"] == "oci-archive:" + archive
    index = json.load(open(os.path.join(layout, "index.json")))
    names = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert names == [EE_REF]
    # skopeo keeps the config (the image id) as it is; the layers' and config's blobs are in
    # the layout and returned as the bundle's files.
    config = "images/oci/blobs/sha256/" + image.id.split(":", 1)[1]
    assert config in result["files"]
    assert all(os.path.isfile(os.path.join(tmp_path, "bundle", rel)) for rel in result["files"])
    assert result["digest"].startswith("sha256:")

    again = run(capsys, layout, "oci-archive:" + archive)
    assert again["changed"] is False and again["images"][0]["action"] == "present"
    assert again["images"][0]["digest"] == result["digest"]


def test_a_source_without_transport_fails_before_copying(capsys, tmp_path, ee_archive):
    layout = str(tmp_path / "bundle" / "images" / "oci")
    result = run(capsys, layout, ee_archive[1])
    assert result["failed"] is True
    assert result["msg"].startswith("bundle_images: image/execution_environment: source ")
    assert "names no skopeo transport" in result["msg"]
    assert not os.path.exists(layout)


def test_a_missing_archive_is_named(capsys, tmp_path):
    layout = str(tmp_path / "bundle" / "images" / "oci")
    result = run(capsys, layout, "oci-archive:%s" % (tmp_path / "nothing.tar"))
    assert result["failed"] is True
    assert result["msg"].startswith("bundle_images: cannot copy %s from oci-archive:%s" % (EE_REF, tmp_path / "nothing.tar"))
    # A first run that copied nothing leaves no half-made bundle (skopeo had made the layout).
    assert not (tmp_path / "bundle").exists()


def test_a_failed_copy_keeps_a_layout_that_was_there(capsys, tmp_path, ee_archive):
    layout = str(tmp_path / "bundle" / "images" / "oci")
    assert run(capsys, layout, "oci-archive:" + ee_archive[1])["changed"] is True
    args = {"layout": layout, "images": [{"id": EE_ID, "ref": EE_REF, "source": "oci-archive:" + ee_archive[1]},
                                         {"id": "image/other", "ref": "localhost/other:1",
                                          "source": "oci-archive:%s" % (tmp_path / "nothing.tar")}]}
    result = run_module(capsys, bundle_images, args)
    assert result["failed"] is True and "localhost/other:1" in result["msg"]
    index = json.load(open(os.path.join(layout, "index.json")))
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [EE_REF]


def test_a_bundle_holding_the_ee_seals_and_verifies(capsys, tmp_path, ee_archive, keys, cache_dir):
    root = str(tmp_path / "bundle")
    copied = run(capsys, os.path.join(root, "images", "oci"), "oci-archive:" + ee_archive[1])["images"][0]
    record = {"id": EE_ID, "kind": "image", "key": "execution_environment", "name": "localhost/mlstack-platform-ee",
              "version": "0.1.0", "source": copied["source"], "digest": copied["digest"], "ref": EE_REF,
              "files": copied["files"]}
    sealed = seal(capsys, root, [record], keys["site"], cache_dir)
    assert sealed.get("failed") is not True, sealed
    needs = [{"id": EE_ID, "ref": EE_REF}]
    good = verify(capsys, root, keys["site"], needs)
    assert good.get("failed") is not True, good
    assert good["images"] == 1 and good["problems"] == []
    # A layer of the EE removed: bundle_verify names it.
    layer = [rel for rel in copied["files"] if not rel.endswith(ee_archive[0].id.split(":", 1)[1])][-1]
    os.unlink(os.path.join(root, layer))
    bad = verify(capsys, root, keys["site"], needs)
    assert bad["failed"] is True
    assert "%s: missing" % layer in bad["problems"]
