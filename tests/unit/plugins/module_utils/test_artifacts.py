# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The artifact layer's rules (plugins/module_utils/_artifacts.py) on plain data."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from ansible_collections.mlstack.platform.plugins.module_utils import _artifacts

ROOT = pathlib.Path(__file__).resolve().parents[4]
MANIFEST = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())["mlstack_artifacts_builtin"]


def defaults(role):
    return yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}


def view(groups, target="debian-bookworm", first=False, **switches):
    values = {}
    host = _artifacts.HostView("h1", groups, {}, target, first_control_plane=first)
    for role in host.roles():
        for name in _artifacts.SWITCHES[role]:
            values[name] = switches.get(name, defaults(role)[name])
    host.switches = values
    return host


def ids(artifacts):
    return [a["id"] for a in artifacts]


def test_every_switch_has_a_plain_default_in_its_role():
    for role, names in _artifacts.SWITCHES.items():
        role_defaults = defaults(role)
        for name in names:
            assert name in role_defaults, f"{name} not in roles/{role}/defaults/main.yml"
            assert "{{" not in str(role_defaults[name]), f"{name}: a templated default cannot be read"


def test_every_rule_names_only_manifest_entries():
    # host_artifacts fails on a key the manifest lacks: run every rule with every choice.
    combos = [dict(minio_engine=e, label_studio_install=i, gitlab_runner_install=r,
                   docker_host_source=s, determined_db_mode=d)
              for e in ("minio", "seaweedfs") for i in ("venv", "container")
              for r in ("container", "package") for s in ("distro", "upstream")
              for d in ("postgres", "chart")]
    groups = list(_artifacts.GROUP_ROLES)
    for combo in combos:
        for target in MANIFEST["targets"]:
            assert _artifacts.host_artifacts(MANIFEST, view(groups, target, first=True, **combo))


def test_object_store_follows_the_engine():
    assert ids(_artifacts.host_artifacts(MANIFEST, view(["object_store"], minio_engine="seaweedfs"))) == [
        "debs/s3_python@debian-bookworm", "image/seaweedfs"]
    assert "image/minio" in ids(_artifacts.host_artifacts(MANIFEST, view(["object_store"])))


def test_label_studio_install_mode_decides_wheels_or_image():
    venv = ids(_artifacts.host_artifacts(MANIFEST, view(["labeling"], target="ubuntu-noble")))
    assert venv == ["debs/label_studio_venv@ubuntu-noble", "wheels/label_studio@ubuntu-noble"]
    container = ids(_artifacts.host_artifacts(MANIFEST, view(["labeling"], label_studio_install="container")))
    assert container == ["image/label_studio"]


def test_gpu_never_leaves_the_nvidia_toolkit_out():
    auto = ids(_artifacts.host_artifacts(MANIFEST, view(["docker_hosts"])))
    never = ids(_artifacts.host_artifacts(MANIFEST, view(["docker_hosts"], docker_host_gpu="never")))
    assert "debs/nvidia_container_toolkit@debian-bookworm" in auto
    assert "debs/nvidia_container_toolkit@debian-bookworm" not in never
    assert never == ["debs/docker_distro@debian-bookworm", "debs/docker_python@debian-bookworm"]


def test_helm_apps_only_on_the_first_control_plane_and_only_when_enabled():
    other = ids(_artifacts.host_artifacts(MANIFEST, view(["k8s_control_plane"], microk8s_gpu_nvidia=False)))
    assert other == ["debs/snapd@debian-bookworm", "snap/microk8s"]
    first = ids(_artifacts.host_artifacts(MANIFEST, view(["k8s_control_plane"], first=True,
                                                         determined_enabled=False, seldon_enabled=False,
                                                         microk8s_gpu_nvidia=False)))
    assert "chart/determined" not in first and "chart/seldon_core_operator" not in first
    assert "chart/pachyderm" in first and "image/pachyderm_pachd" in first
    chart_db = ids(_artifacts.host_artifacts(MANIFEST, view(["k8s_control_plane"], first=True,
                                                            determined_db_mode="chart")))
    assert "image/determined_postgres" in chart_db


def test_ubuntu_has_snapd_already():
    assert "debs/snapd@ubuntu-jammy" not in ids(
        _artifacts.host_artifacts(MANIFEST, view(["k8s_workers"], target="ubuntu-jammy")))


def test_a_target_the_manifest_does_not_cover_is_refused_naming_it():
    with pytest.raises(_artifacts.ArtifactError, match="'debian-trixie' is not covered"):
        _artifacts.host_artifacts(MANIFEST, view(["postgres"], target="debian-trixie"))


def test_a_bad_switch_value_is_named():
    with pytest.raises(_artifacts.ArtifactError, match="minio_engine must be minio or seaweedfs, got 'ceph'"):
        _artifacts.host_artifacts(MANIFEST, view(["object_store"], minio_engine="ceph"))


def test_site_union_gives_registry_hosts_every_image_and_adds_the_controller_kit():
    store = view(["object_store"])
    store.name = "data1"
    registry = view(["registry"])
    registry.name = "reg1"
    site = _artifacts.site_artifacts(MANIFEST, [store, registry], controller_target="debian-bookworm",
                                     collection="mlstack.platform")
    by_id = {a["id"]: a for a in site}
    assert by_id["image/minio"]["hosts"] == ["data1", "reg1"]
    assert by_id["debs/s3_python@debian-bookworm"]["hosts"] == ["data1"]
    assert "debs/controller@debian-bookworm" in by_id and "wheels/controller@debian-bookworm" in by_id
    assert "collection/mlstack.platform" in by_id


def test_deb_packages_pins_and_majors():
    assert _artifacts.deb_packages(MANIFEST, "postgresql", "debian-bookworm") == ["postgresql-15", "postgresql-client-15"]
    assert _artifacts.deb_packages(MANIFEST, "postgresql", "ubuntu-noble", major="17") == [
        "postgresql-17", "postgresql-client-17"]
    assert _artifacts.deb_packages(MANIFEST, "nvidia_container_toolkit", "ubuntu-jammy")[0] == \
        "nvidia-container-toolkit=1.17.8-1"
    with pytest.raises(_artifacts.ArtifactError, match="major_versions has none for trixie"):
        _artifacts.deb_packages(MANIFEST, "postgresql", "debian-trixie")


@pytest.mark.parametrize("value", ["image/minio", "debs/postgresql@debian-bookworm", "collection/mlstack.platform"])
def test_ids_round_trip(value):
    parsed = _artifacts.parse_id(value)
    assert _artifacts.artifact_id(parsed["kind"], parsed["key"], parsed.get("target")) == value


@pytest.mark.parametrize("value", ["debs/postgresql", "image/minio@debian-bookworm", "tarball/x", ""])
def test_bad_ids_are_refused(value):
    with pytest.raises(_artifacts.ArtifactError):
        _artifacts.parse_id(value)


def test_image_refs_are_the_upstream_names():
    refs = _artifacts.image_refs(MANIFEST, [{"id": "image/minio", "kind": "image", "key": "minio"}])
    assert refs == {"image/minio": "quay.io/minio/minio:" + MANIFEST["images"]["minio"]["tag"]}


def test_seldon_server_images_follow_the_chart_contract():
    contract = yaml.safe_load((ROOT / "tests/unit/roles/chart_contracts/seldon-1.17.1.yml").read_text())
    text = yaml.safe_dump(contract)
    for server, keys in _artifacts.SELDON_SERVER_IMAGES.items():
        for key in keys:
            assert key in MANIFEST["images"], key
            assert key in text, f"{key} ({server}) is not in the seldon chart contract"


def test_helm_app_switches_choose_images():
    base = dict(microk8s_gpu_nvidia=False)
    full = ids(_artifacts.host_artifacts(MANIFEST, view(["k8s_control_plane"], first=True, **base)))
    assert "image/pachyderm_loki" in full and "image/pachyderm_console" not in full
    assert "image/seldon_sklearnserver" in full and "image/seldon_tritonserver" not in full
    lean = ids(_artifacts.host_artifacts(MANIFEST, view(
        ["k8s_control_plane"], first=True, pachyderm_loki_enabled=False, pachyderm_console_enabled=True,
        seldon_prepackaged_servers=["TRITON_SERVER"], seldon_explainers_enabled=False, **base)))
    assert "image/pachyderm_loki" not in lean and "image/pachyderm_console" in lean
    assert "image/seldon_tritonserver" in lean and "image/seldon_sklearnserver" not in lean
    assert "image/seldon_alibiexplainer" not in lean


def test_nautilus_runners_in_container_mode_get_the_pinned_runner_and_its_helper():
    # Issue 17 point 3: GitLab 12.7 inside Nautilus talks to gitlab-runner 12.7.1; the helper is
    # the runner's own revision, so package mode (the current deb) keeps the current helper.
    pinned = ids(_artifacts.host_artifacts(MANIFEST, view(["gitlab_runners"], gitlab_runner_server="nautilus")))
    assert sorted(pinned) == ["image/gitlab_runner_helper_nautilus", "image/gitlab_runner_job",
                              "image/gitlab_runner_nautilus"]
    gitlab = ids(_artifacts.host_artifacts(MANIFEST, view(["gitlab_runners"])))
    assert sorted(gitlab) == ["image/gitlab_runner", "image/gitlab_runner_helper", "image/gitlab_runner_job"]
    unpinned = ids(_artifacts.host_artifacts(MANIFEST, view(["gitlab_runners"], gitlab_runner_server="nautilus",
                                                            gitlab_runner_nautilus_pin=False)))
    assert unpinned == gitlab
    package = ids(_artifacts.host_artifacts(MANIFEST, view(["gitlab_runners"], gitlab_runner_server="nautilus",
                                                           gitlab_runner_install="package")))
    assert "image/gitlab_runner_helper" in package and "image/gitlab_runner_nautilus" not in package
