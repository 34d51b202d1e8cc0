# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

import os

import pytest

from ansible.errors import AnsibleLookupError

from oci_fixtures import OciImage, layer, write_layout

from ansible_collections.mlstack.platform.plugins.lookup.oci_image_files import LookupModule

DEBIAN = "docker.io/mlstack-lab/debian:bookworm"
REGISTRY = "docker.io/mlstack-lab/registry:2.8"


@pytest.fixture
def layout(tmp_path):
    base = layer("base")
    images = [OciImage(DEBIAN, "debian", shared=base), OciImage(REGISTRY, "registry", shared=base)]
    return str(tmp_path / "oci"), images, write_layout(str(tmp_path / "oci"), images)


def test_files_of_the_chosen_images(layout):
    path, images, dummy = layout
    result = LookupModule().run([path, ["mlstack-lab/registry:2.8"]])
    assert result == [sorted(images[1].blob_paths())]
    assert all(os.path.isfile(os.path.join(path, name)) for name in result[0])


def test_shared_layer_listed_once_and_refs_as_several_terms(layout):
    path, images, dummy = layout
    result = LookupModule().run([path, DEBIAN, REGISTRY])[0]
    assert result == sorted(images[0].blob_paths() | images[1].blob_paths())
    assert len(result) == 9  # each: manifest, config, shared layer, 2 own layers; the shared one once
    assert LookupModule().run([path])[0] == result  # no refs: every named image


def test_unknown_ref_fails_naming_it(layout):
    with pytest.raises(AnsibleLookupError, match="oci_image_files: image layout .*: index.json has no image "
                                                 "quay.io/minio/minio:1"):
        LookupModule().run([layout[0], ["quay.io/minio/minio:1"]])


def test_layout_dir_required():
    with pytest.raises(AnsibleLookupError, match="the first term must be the layout directory"):
        LookupModule().run([])
