# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The microk8s_gpu role's computed values (plugins/filter/microk8s_gpu_cluster.py): cases
of the example inventories and the molecule scenario, edge cases and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.microk8s_gpu_cluster import (
    FilterModule,
    microk8s_gpu_archives_on_host,
    microk8s_gpu_channel,
    microk8s_gpu_nodes,
    microk8s_gpu_offline_blockers,
    microk8s_gpu_optional_addons,
    microk8s_gpu_san_lines,
)
from ansible_collections.mlstack.platform.plugins.module_utils._microk8s import ONLINE_ADDONS

ROOT = Path(__file__).resolve().parents[4]


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"microk8s_gpu_nodes", "microk8s_gpu_optional_addons",
                                             "microk8s_gpu_offline_blockers", "microk8s_gpu_channel",
                                             "microk8s_gpu_archives_on_host", "microk8s_gpu_san_lines"}


def test_nodes_of_one_control_plane_and_two_workers():
    # multi_node's commented layout: k8s1 control plane, k8s2 and k8s3 GPU workers.
    hostvars = {h: {"_microk8s_gpu_self": {"name": h + ".site"}} for h in ("k8s1", "k8s2", "k8s3")}
    assert microk8s_gpu_nodes(["k8s1"], ["k8s2", "k8s3"], hostvars) == [
        {"name": "k8s1.site", "role": "control-plane"}, {"name": "k8s2.site", "role": "worker"},
        {"name": "k8s3.site", "role": "worker"}]


def test_nodes_of_three_control_planes_and_of_none():
    hostvars = {h: {"_microk8s_gpu_self": {"name": h}} for h in ("k8s1", "k8s2", "k8s3")}
    assert [n["role"] for n in microk8s_gpu_nodes(["k8s1", "k8s2", "k8s3"], [], hostvars)] == ["control-plane"] * 3
    assert microk8s_gpu_nodes([], [], {}) == []
    assert microk8s_gpu_nodes(None, None, {}) == []


@pytest.mark.parametrize("hostvars", [{}, {"k8s1": {}}, {"k8s1": {"_microk8s_gpu_self": {}}}])
def test_nodes_without_the_self_fact(hostvars):
    with pytest.raises(AnsibleFilterError, match="host k8s1 has no _microk8s_gpu_self.name"):
        microk8s_gpu_nodes(["k8s1"], [], hostvars)


def test_nodes_need_lists():
    with pytest.raises(AnsibleFilterError, match="the worker hosts must be a list"):
        microk8s_gpu_nodes(["k8s1"], "k8s2", {})


def test_optional_addons():
    # molecule microk8s_gpu: dashboard false, knative true; single_node: knative true only.
    assert microk8s_gpu_optional_addons({"dashboard": False, "knative": True}) == [
        {"name": "dashboard", "state": "disabled"}, {"name": "knative", "state": "enabled"}]
    assert microk8s_gpu_optional_addons({"dashboard": None, "knative": True}) == [{"name": "knative", "state": "enabled"}]
    assert microk8s_gpu_optional_addons({"dashboard": None, "knative": None}) == []
    assert microk8s_gpu_optional_addons({"knative": "yes"}) == [{"name": "knative", "state": "enabled"}]


def test_optional_addons_errors():
    with pytest.raises(AnsibleFilterError, match="knative must be true, false or null"):
        microk8s_gpu_optional_addons({"knative": "maybe"})
    with pytest.raises(AnsibleFilterError, match="expected"):
        microk8s_gpu_optional_addons([("knative", True)])


def test_offline_blockers_follow_the_module_rule():
    addons = [{"name": "dns"}, {"name": "hostpath-storage"}, {"name": "ingress", "args": []},
              {"name": "metallb", "config": "192.0.2.200-192.0.2.209"},
              {"name": "nvidia", "args": ["--gpu-operator-driver", "operator"]},
              {"name": "knative", "state": "disabled"}, {"name": "community/knative", "state": "enabled"},
              {"name": "core/gpu", "state": None}]
    # Addons without a state or with state enabled count; the repository prefix is dropped.
    assert microk8s_gpu_offline_blockers(addons) == ["ingress", "nvidia", "knative", "gpu"]
    assert set(microk8s_gpu_offline_blockers([{"name": n} for n in ONLINE_ADDONS])) == set(ONLINE_ADDONS)
    assert microk8s_gpu_offline_blockers([{"name": "dns"}, {"name": "rbac"}]) == []
    assert microk8s_gpu_offline_blockers([]) == []


def test_offline_blockers_errors():
    with pytest.raises(AnsibleFilterError, match="each a dict with a name"):
        microk8s_gpu_offline_blockers([{"state": "enabled"}])


def test_channel_of_the_manifest_is_kept():
    defaults = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())
    channel = defaults["mlstack_artifacts_builtin"]["snaps"]["microk8s"]["channel"]
    assert microk8s_gpu_channel(channel) == channel


@pytest.mark.parametrize("channel,full", [
    ("1.36", "1.36/stable"), ("edge", "latest/edge"), ("stable", "latest/stable"), ("beta/hotfix", "latest/beta/hotfix"),
    ("1.36/candidate", "1.36/candidate"), ("latest/edge", "latest/edge"), ("1.36/edge/fix", "1.36/edge/fix"),
])
def test_channel_as_snapd_tracks_it(channel, full):
    assert microk8s_gpu_channel(channel) == full


def test_channel_empty():
    with pytest.raises(AnsibleFilterError, match="microk8s_gpu_channel is empty"):
        microk8s_gpu_channel("")


def test_archives_on_host():
    archives = [{"path": "/media/bundle/images/gpu-operator.tar", "sha256": "ab" * 32}, {"path": "relative/x.tar"}]
    assert microk8s_gpu_archives_on_host(archives, "/var/lib/mlstack/microk8s") == [
        {"path": "/var/lib/mlstack/microk8s/images/gpu-operator.tar", "sha256": "ab" * 32},
        {"path": "/var/lib/mlstack/microk8s/images/x.tar"}]
    # The input is not changed.
    assert archives[0]["path"] == "/media/bundle/images/gpu-operator.tar"
    assert microk8s_gpu_archives_on_host([], "/d") == []


def test_archives_errors():
    with pytest.raises(AnsibleFilterError, match=r"microk8s_gpu_image_archives\[1\] needs a path"):
        microk8s_gpu_archives_on_host([{"path": "a.tar"}, {"sha256": "x"}], "/d")
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        microk8s_gpu_archives_on_host("a.tar", "/d")


def test_san_lines_of_the_molecule_scenario():
    scenario = yaml.safe_load((ROOT / "molecule/microk8s_gpu/molecule.yml").read_text())
    sans = None
    for group in scenario["provisioner"]["inventory"].get("group_vars", {}).values():
        sans = group.get("microk8s_gpu_extra_sans", sans)
    for host in scenario["provisioner"]["inventory"].get("host_vars", {}).values():
        sans = host.get("microk8s_gpu_extra_sans", sans)
    assert sans == ["k8s.lab.example", "10.64.140.1"]
    assert microk8s_gpu_san_lines(sans) == ["DNS.100 = k8s.lab.example", "IP.100 = 10.64.140.1"]


def test_san_lines_number_each_kind_on_its_own():
    assert microk8s_gpu_san_lines(["a.example", "10.1.2.3", "fd00::1", "vip", "192.0.2.9"]) == [
        "DNS.100 = a.example", "IP.100 = 10.1.2.3", "IP.101 = fd00::1", "DNS.101 = vip", "IP.102 = 192.0.2.9"]
    assert microk8s_gpu_san_lines([]) == []


@pytest.mark.parametrize("sans", [[""], ["a b"], "k8s.example"])
def test_san_lines_errors(sans):
    with pytest.raises(AnsibleFilterError, match="microk8s_gpu_extra_sans"):
        microk8s_gpu_san_lines(sans)
