# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

import json
import os

import pytest

from oci_fixtures import OciImage, blob_file, corrupt_blob, layer, sha256, write_layout

from ansible_collections.mlstack.platform.plugins.module_utils._oci_layout import (
    LayoutError,
    check_present,
    iter_blob,
    needed_files,
    open_layout,
    read_images,
    select,
    verify_blobs,
)

DEBIAN = "docker.io/mlstack-lab/debian:bookworm"
REGISTRY = "docker.io/mlstack-lab/registry:2.8"


@pytest.fixture
def two_images(tmp_path):
    """Two images sharing their first layer, in one layout."""
    base = layer("base", 5000)
    debian = OciImage(DEBIAN, "debian", shared=base)
    registry = OciImage(REGISTRY, "registry", shared=base)
    return str(tmp_path / "oci"), debian, registry, write_layout(str(tmp_path / "oci"), [debian, registry])


def test_read_images_names_digests_and_layers(two_images):
    path, debian, registry, dummy = two_images
    images = read_images(open_layout(path))
    assert [image.ref for image in images] == [DEBIAN, REGISTRY]
    assert images[0].manifest.digest == debian.manifest_digest
    assert images[0].config.digest == debian.id
    assert [blob.digest for blob in images[1].layers] == [sha256(data) for data in registry.layers]
    assert images[0].layers[0] == images[1].layers[0]  # the shared layer
    assert images[0].digests == {debian.id, debian.manifest_digest}


def test_needed_files_are_sorted_unique_and_complete(two_images):
    path, debian, registry, dummy = two_images
    both = needed_files(path, [DEBIAN, "mlstack-lab/registry:2.8"])
    assert both == sorted(debian.blob_paths() | registry.blob_paths())
    assert len(both) == len(debian.blob_paths()) + len(registry.blob_paths()) - 1  # shared layer once
    assert needed_files(path, [REGISTRY]) == sorted(registry.blob_paths())
    assert needed_files(path) == both
    on_disk = {"blobs/sha256/" + name for name in os.listdir(os.path.join(path, "blobs", "sha256"))}
    assert set(both) == on_disk


def test_unknown_ref_is_named(two_images):
    path = two_images[0]
    with pytest.raises(LayoutError, match=r"image layout .*/oci: index.json has no image quay.io/minio/minio:1 "
                                          r"\(it holds: docker.io/mlstack-lab/debian:bookworm, "):
        needed_files(path, [DEBIAN, "quay.io/minio/minio:1"])


def test_bare_tag_names_no_image(tmp_path):
    path = write_layout(str(tmp_path / "oci"), [OciImage(None, "x")], ref_names=["latest"])
    store = open_layout(path)
    images = read_images(store)
    assert images[0].ref is None
    with pytest.raises(LayoutError, match="names no image"):
        select(store, images, None)


def test_not_a_layout(tmp_path):
    with pytest.raises(LayoutError, match="image layout .*/nothing: no such directory"):
        open_layout(str(tmp_path / "nothing"))
    os.makedirs(str(tmp_path / "empty"))
    with pytest.raises(LayoutError, match="layout marker oci-layout is missing"):
        open_layout(str(tmp_path / "empty"))


def test_damaged_manifest_is_refused(two_images):
    path, debian = two_images[0], two_images[1]
    corrupt_blob(path, debian.manifest)
    with pytest.raises(LayoutError, match="manifest blobs/sha256/%s does not match its digest"
                       % debian.manifest_digest.split(":")[1]):
        read_images(open_layout(path))


def test_missing_and_short_blobs_are_named_with_their_image(two_images):
    path, debian, registry, dummy = two_images
    store = open_layout(path)
    images = read_images(store)
    os.remove(blob_file(path, registry.layers[-1]))
    with pytest.raises(LayoutError, match="image docker.io/mlstack-lab/registry:2.8: blob blobs/sha256/%s is missing"
                       % sha256(registry.layers[-1]).split(":")[1]):
        check_present(store, images)
    check_present(store, images[:1])  # debian does not need it
    with open(blob_file(path, debian.layers[-1]), "ab") as stream:
        stream.write(b"x")
    with pytest.raises(LayoutError, match="image docker.io/mlstack-lab/debian:bookworm: blob .* has %d bytes, its "
                       "descriptor says %d" % (len(debian.layers[-1]) + 1, len(debian.layers[-1]))):
        check_present(store, images[:1])


def test_corrupted_blob_of_same_size_fails_before_its_last_chunk(two_images):
    path, debian, dummy, dummy2 = two_images
    store = open_layout(path)
    images = read_images(store)
    corrupt_blob(path, debian.layers[-1])
    check_present(store, images)  # same size: only hashing finds it
    handed_out = []
    with pytest.raises(LayoutError, match="image docker.io/mlstack-lab/debian:bookworm: blob blobs/sha256/%s does "
                       "not match its digest" % sha256(debian.layers[-1]).split(":")[1]):
        for chunk in iter_blob(store, images[0].layers[-1], images[0]):
            handed_out.append(chunk)
    assert sum(len(chunk) for chunk in handed_out) < len(debian.layers[-1])
    with pytest.raises(LayoutError, match="does not match its digest"):
        verify_blobs(store, images)


def test_shared_blob_damage_names_the_first_image_needing_it(two_images):
    path, debian, registry, dummy = two_images
    store = open_layout(path)
    corrupt_blob(path, debian.layers[0])
    with pytest.raises(LayoutError, match="image docker.io/mlstack-lab/registry:2.8: blob"):
        verify_blobs(store, select(store, read_images(store), [REGISTRY]))


def test_verify_blobs_of_a_good_layout(two_images):
    store = open_layout(two_images[0])
    verify_blobs(store, read_images(store))


def test_nested_index_picks_linux_amd64(tmp_path):
    image = OciImage(DEBIAN, "debian")
    path = write_layout(str(tmp_path / "oci"), [image])
    index_doc = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(b"arm"), "size": 3,
         "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.manifest_digest,
         "size": len(image.manifest), "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    with open(blob_file(path, index_doc), "wb") as stream:
        stream.write(index_doc)
    with open(os.path.join(path, "index.json"), "w", encoding="utf-8") as stream:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256(index_doc),
            "size": len(index_doc), "annotations": {"org.opencontainers.image.ref.name": DEBIAN}}]}, stream)
    images = read_images(open_layout(path))
    assert images[0].manifest.digest == image.manifest_digest
    assert images[0].index.digest == sha256(index_doc)
    assert "blobs/sha256/" + sha256(index_doc).split(":")[1] in needed_files(path)
