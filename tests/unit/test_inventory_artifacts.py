# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The artifact list of every example inventory, computed by the real lookup
(mlstack.platform.artifacts) through ansible-playbook, against the list read by hand from
the inventory, the roles' defaults and site.yml's groups. This list is what
playbooks/bundle.yml bundles, and what the roles' entry points accept."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests/unit/files/site_artifacts.yml"

CONTROLLER = ["collection/mlstack.platform", "debs/controller@debian-bookworm", "wheels/controller@debian-bookworm"]
HELM_APPS = [
    "chart/determined", "chart/pachyderm", "chart/seldon_core_operator",
    "image/determined_master", "image/determined_task_environment",
    "image/pachyderm_etcd", "image/pachyderm_loki", "image/pachyderm_pachd", "image/pachyderm_pgbouncer",
    "image/pachyderm_promtail", "image/pachyderm_proxy", "image/pachyderm_worker",
    "image/seldon_alibiexplainer", "image/seldon_core_executor", "image/seldon_core_operator",
    "image/seldon_mlflowserver", "image/seldon_mlserver_alibi_explain", "image/seldon_mlserver_mlflow",
    "image/seldon_mlserver_sklearn", "image/seldon_mlserver_xgboost", "image/seldon_sklearnserver",
    "image/seldon_storage_initializer", "image/seldon_tensorflow_serving", "image/seldon_tfserving_proxy",
    "image/seldon_xgboostserver",
]


def debs(target, *keys):
    return ["debs/%s@%s" % (key, target) for key in keys]


EXPECTED = {
    # ml1: docker (upstream, GPU auto), postgres, S3 (minio), MicroK8s + the three apps; Ubuntu 24.04.
    "single_node": sorted(
        CONTROLLER + HELM_APPS + ["chart/gpu_operator", "image/minio", "snap/microk8s"]
        + debs("ubuntu-noble", "docker_upstream", "docker_python", "apt_repository_tools",
               "nvidia_container_toolkit", "postgresql", "postgresql_ansible", "s3_python",
               "helm_apps_python")),
    # k8s1-3 (apps on k8s1), data1 (docker, postgres, S3, registry), git1 (docker, gitlab),
    # runner1 (docker, runner in a container).
    "multi_node": sorted(
        CONTROLLER + HELM_APPS
        + ["chart/gpu_operator", "image/gitlab_ce", "image/gitlab_runner", "image/gitlab_runner_helper",
           "image/gitlab_runner_job", "image/minio", "image/pypiserver", "image/registry", "snap/microk8s"]
        + debs("debian-bookworm", "docker_distro", "docker_python", "nvidia_container_toolkit",
               "postgresql", "postgresql_ansible", "s3_python", "offline_registry_tools", "snapd",
               "helm_apps_python")),
    # gpu1, gpu2: docker hosts only.
    "airgap": sorted(CONTROLLER + debs("debian-bookworm", "docker_distro", "docker_python",
                                       "nvidia_container_toolkit")),
    # The lab host: docker (no GPU), registry + PyPI mirror, postgres, SeaweedFS, Label Studio in a venv.
    "lab": sorted(
        CONTROLLER + ["image/pypiserver", "image/registry", "image/seaweedfs",
                      "wheels/label_studio@debian-bookworm"]
        + debs("debian-bookworm", "docker_distro", "docker_python", "postgresql", "postgresql_ansible",
               "s3_python", "offline_registry_tools", "label_studio_venv")),
}


def site_artifacts(inventory: str, tmp_path: pathlib.Path) -> list[dict]:
    out = tmp_path / "artifacts.json"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible/collections"))
    bindir = pathlib.Path(sys.executable).parent
    result = subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", str(ROOT / "inventories" / inventory / "hosts.yml"),
         str(PLAYBOOK), "-e", "out=%s" % out],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("inventory", sorted(EXPECTED))
def test_example_inventory_needs_exactly_this(inventory, tmp_path):
    got = site_artifacts(inventory, tmp_path)
    assert [a["id"] for a in got] == EXPECTED[inventory]


def test_multi_node_registry_host_holds_every_image(tmp_path):
    got = {a["id"]: a for a in site_artifacts("multi_node", tmp_path)}
    assert got["image/gitlab_ce"]["hosts"] == ["data1", "git1"]
    assert got["image/pachyderm_pachd"]["hosts"] == ["data1", "k8s1"]
    assert got["snap/microk8s"]["hosts"] == ["k8s1", "k8s2", "k8s3"]
