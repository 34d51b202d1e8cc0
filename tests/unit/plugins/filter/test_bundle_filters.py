# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The filters of bundle.yml (plugins/filter/bundle.py) and of the artifact layer
(plugins/filter/artifacts.py) on the real manifest."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter import artifacts as artifact_filters
from ansible_collections.mlstack.platform.plugins.filter import bundle

ROOT = pathlib.Path(__file__).resolve().parents[4]
MANIFEST = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())["mlstack_artifacts_builtin"]


def art(value):
    kind, rest = value.split("/", 1)
    key, target = (rest.split("@", 1) + [""])[:2]
    out = {"id": value, "kind": kind, "key": key}
    if target:
        out["target"] = target
    return out


def test_image_specs_name_images_by_their_full_upstream_reference():
    specs = bundle.bundle_image_specs([art("image/registry"), art("image/minio")], MANIFEST["images"])
    assert specs[0] == {"id": "image/registry", "ref": "docker.io/library/registry:3.1.0", "digest": ""}
    assert specs[1]["ref"].startswith("quay.io/minio/minio:") and specs[1]["digest"].startswith("sha256:")


def test_needs_carry_the_image_reference():
    needs = bundle.bundle_needs([art("image/seaweedfs"), art("debs/postgresql@debian-bookworm")], MANIFEST)
    assert needs == [{"id": "image/seaweedfs", "ref": "docker.io/chrislusf/seaweedfs:4.48_large_disk"},
                     "debs/postgresql@debian-bookworm"]


def test_deb_sets_of_one_target_with_their_pins():
    sets = bundle.bundle_deb_sets([art("debs/postgresql@debian-bookworm"), art("debs/postgresql@ubuntu-noble"),
                                   art("debs/nvidia_container_toolkit@debian-bookworm"), art("image/minio")],
                                  MANIFEST, "debian-bookworm")
    assert sets == {"postgresql": ["postgresql-15", "postgresql-client-15"],
                    "nvidia_container_toolkit": ["nvidia-container-toolkit=1.17.8-1", "nvidia-container-toolkit-base=1.17.8-1",
                                                 "libnvidia-container-tools=1.17.8-1", "libnvidia-container1=1.17.8-1"]}


def test_third_party_repositories_become_sources_of_the_target():
    names = bundle.bundle_deb_repositories(MANIFEST, ["docker_upstream", "nvidia_container_toolkit", "postgresql"])
    assert names == ["docker_upstream", "nvidia_container_toolkit"]
    keyrings = {"docker_upstream": "/k/docker.asc", "nvidia_container_toolkit": "/k/nvidia.asc"}
    sources = bundle.bundle_deb_sources(MANIFEST, "ubuntu-noble", keyrings)
    assert sources[0]["uri"] == "http://archive.ubuntu.com/ubuntu"
    assert {"uri": "https://download.docker.com/linux/ubuntu", "suites": ["noble"], "components": ["stable"],
            "keyring": "/k/docker.asc"} in sources
    assert {"uri": "https://nvidia.github.io/libnvidia-container/stable/deb/amd64", "suites": ["./"],
            "components": [], "keyring": "/k/nvidia.asc"} in sources
    with pytest.raises(AnsibleFilterError, match="debian-trixie"):
        bundle.bundle_deb_sources(MANIFEST, "debian-trixie")


def test_snap_names_follow_the_offline_install_order():
    pairs = bundle.bundle_snap_names([art("snap/microk8s")], MANIFEST["snaps"])
    assert [pair[1] for pair in pairs] == ["snapd", "core22", "microk8s"]


def test_snap_records_need_each_snap_and_its_assertion():
    files = ["snapd_25577.snap", "snapd_25577.assert", "core22_2139.snap", "core22_2139.assert",
             "microk8s_8500.snap", "microk8s_8500.assert"]
    record = bundle.bundle_snap_records([art("snap/microk8s")], MANIFEST["snaps"], files)[0]
    assert record["files"] == sorted("snaps/" + f for f in files)
    with pytest.raises(AnsibleFilterError, match="core22_<revision>.snap or its .assert"):
        bundle.bundle_snap_records([art("snap/microk8s")], MANIFEST["snaps"], [f for f in files if f != "core22_2139.assert"])


def test_a_host_index_names_only_the_images_copied():
    index = {"schemaVersion": 2, "manifests": [
        {"digest": "sha256:a", "annotations": {"org.opencontainers.image.ref.name": "docker.io/library/registry:3.1.0"}},
        {"digest": "sha256:b", "annotations": {"org.opencontainers.image.ref.name": "quay.io/minio/minio:X"}}]}
    reduced = bundle.oci_index_for(index, ["registry:3.1.0"])
    assert [m["digest"] for m in reduced["manifests"]] == ["sha256:a"] and reduced["schemaVersion"] == 2
    with pytest.raises(AnsibleFilterError, match="no image quay.io/minio/minio:Y"):
        bundle.oci_index_for(index, ["quay.io/minio/minio:Y"])


def test_records_carry_each_fetchers_files():
    records = bundle.bundle_image_records(
        [{"id": "image/registry", "ref": "docker.io/library/registry:3.1.0", "source": "m/library/registry:3.1.0",
          "digest": "sha256:c", "files": ["images/oci/blobs/sha256/c"]}], [art("image/registry")], MANIFEST["images"])
    assert records[0]["version"] == "3.1.0" and records[0]["files"] == ["images/oci/blobs/sha256/c"]
    debs = bundle.bundle_deb_records({"postgresql": {"files": ["apt/debian-bookworm/x.deb"]}}, [], MANIFEST,
                                     "debian-bookworm", MANIFEST["targets"]["debian-bookworm"]["apt_sources"])
    assert debs[0]["id"] == "debs/postgresql@debian-bookworm" and "bookworm-security" in debs[0]["source"]
    wheel = bundle.bundle_wheel_record({"files": [{"path": "python/t/s/b.whl"}, {"path": "python/t/s/a.whl"}]},
                                       "label_studio", "debian-bookworm", ["label-studio==1.23.2"], "https://pypi.org/simple")
    assert wheel["files"] == ["python/t/s/a.whl", "python/t/s/b.whl"]


@pytest.mark.parametrize("offline, registry, archive, source, expected", [
    (False, "", "", "auto", "pull"),
    (True, "registry.site:5000", "", "auto", "pull"),
    (True, "", "", "auto", "layout"),
    ("true", "", "/x.tar", "auto", "archive"),
    (False, "", "", "layout", "layout"),
])
def test_image_mode(offline, registry, archive, source, expected):
    assert artifact_filters.image_mode(offline, registry, archive, source) == expected


def test_missing_images_compares_normalized_names():
    refs = {"registry": "docker.io/library/registry:3.1.0", "minio": "quay.io/minio/minio:X"}
    assert artifact_filters.missing_images(["registry", "minio"], refs, ["registry:3.1.0"]) == ["minio"]
    with pytest.raises(AnsibleFilterError, match="no reference for image 'gitlab_ce'"):
        artifact_filters.missing_images(["gitlab_ce"], refs, [])


def test_deb_packages_of_several_sets_each_name_once():
    names = artifact_filters.deb_packages(MANIFEST, ["postgresql", "postgresql_ansible", "postgresql"], "debian-bookworm")
    assert names == ["postgresql-15", "postgresql-client-15", "python3-psycopg2", "acl"]
