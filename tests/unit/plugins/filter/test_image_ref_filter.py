# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The image reference filters, on the manifest's real entries and on edge cases."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.image_ref import (
    FilterModule, image_ref, registry_path)

MANIFEST = pathlib.Path(__file__).resolve().parents[4] / "roles/common/defaults/main.yml"


@pytest.mark.parametrize("ref,path", [
    ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", "minio/minio:RELEASE.2025-09-07T16-13-09Z"),
    ("docker.io/library/registry", "library/registry"),
    ("registry", "library/registry"),
    ("debian:bookworm-slim", "library/debian:bookworm-slim"),
    ("docker.io/gitlab/gitlab-ce:18.5.1-ce.0", "gitlab/gitlab-ce:18.5.1-ce.0"),
    ("registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v18.5.0",
     "gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v18.5.0"),
    ("localhost:5000/a/b:1", "a/b:1"),
    ("mlstack-lab/seaweedfs", "mlstack-lab/seaweedfs"),
    ("nvcr.io/nvidia/cuda@sha256:" + "a" * 64, "nvidia/cuda@sha256:" + "a" * 64),
])
def test_registry_path(ref, path):
    assert registry_path(ref) == path


def test_registry_path_rejects_a_bad_reference():
    with pytest.raises(AnsibleFilterError, match="bad repository name"):
        registry_path("Quay.io//x")


def test_upstream_reference_without_registry():
    entry = {"repository": "quay.io/minio/minio", "tag": "RELEASE.1", "digest": "sha256:" + "b" * 64}
    assert image_ref(entry) == "quay.io/minio/minio:RELEASE.1"
    assert image_ref(entry, "", digest=True) == "quay.io/minio/minio:RELEASE.1@sha256:" + "b" * 64


def test_rewritten_to_the_site_registry():
    entry = {"repository": "docker.io/library/registry", "tag": "3.1.0"}
    assert image_ref(entry, "registry.site:5000") == "registry.site:5000/library/registry:3.1.0"
    # A trailing slash in the setting is tolerated; the digest is never kept for a re-push.
    entry["digest"] = "sha256:" + "c" * 64
    assert image_ref(entry, "registry.site:5000/", digest=True) == "registry.site:5000/library/registry:3.1.0"


def test_repository_alone():
    entry = {"repository": "docker.io/pachyderm/pachd", "tag": "2.12.2", "digest": "sha256:" + "d" * 64}
    assert image_ref(entry, with_tag=False) == "docker.io/pachyderm/pachd"
    assert image_ref(entry, "registry.site:5000", with_tag=False) == "registry.site:5000/pachyderm/pachd"


def test_archives_keep_their_upstream_name():
    entry = {"repository": "docker.io/chrislusf/seaweedfs", "tag": "4.48_large_disk"}
    assert image_ref(entry, "registry.site:5000", from_archive=True) == "docker.io/chrislusf/seaweedfs:4.48_large_disk"


@pytest.mark.parametrize("entry,message", [
    ({"repository": "quay.io/minio/minio"}, "lacks repository or tag"),
    ({"tag": "1"}, "lacks repository or tag"),
    ({"repository": "quay.io/minio/minio", "tag": "bad tag"}, "bad tag"),
    ("quay.io/minio/minio:1", "expected a manifest entry"),
])
def test_bad_entries_fail_clearly(entry, message):
    with pytest.raises(AnsibleFilterError, match=message):
        image_ref(entry, "registry.site:5000")


def test_every_manifest_image_has_a_valid_reference_upstream_and_in_a_registry():
    images = yaml.safe_load(MANIFEST.read_text())["mlstack_artifacts_builtin"]["images"]
    assert len(images) >= 10
    for name, entry in images.items():
        upstream = image_ref(entry)
        assert upstream.endswith(":" + str(entry["tag"])), name
        site = image_ref(entry, "registry.site:5000")
        assert site.startswith("registry.site:5000/"), name
        # What a role pulls from the site registry is where offline_registry pushes it.
        assert site == "registry.site:5000/" + registry_path(upstream), name


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"image_ref", "registry_path"}
