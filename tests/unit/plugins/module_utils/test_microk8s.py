# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What is read from MicroK8s' output: status YAML, add-node output, node lists; and the
plans made from them. The samples follow MicroK8s' own printing code (status.py prints
its YAML line by line; add_token.py prints json, pretty and short formats)."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.mlstack.platform.plugins.module_utils import _microk8s
from ansible_collections.mlstack.platform.plugins.module_utils._microk8s import (
    Microk8sError,
    enable_argv,
    load_simple_yaml,
    parse_add_node,
    parse_join_url,
    parse_nodes,
    parse_status,
    plan_addons,
    plan_joins,
    select_join_url,
)

# Added for issue 17; looked up at call time so that the tests above still run (and these
# fail, not error at import) on a module_utils without them.
ADDON_READINESS = getattr(_microk8s, "ADDON_READINESS", {})


def parse_pods(*args):
    return _microk8s.parse_pods(*args)


def pods_ready(*args):
    return _microk8s.pods_ready(*args)


def offline_blockers(*args):
    return _microk8s.offline_blockers(*args)


def plan_removals(*args):
    return _microk8s.plan_removals(*args)


STATUS_HA = """microk8s:
  running: True
high-availability:
  enabled: True
  nodes:
    - address: 10.0.0.11:19001
      role: voter
    - address: 10.0.0.12:19001
      role: voter
    - address: 10.0.0.13:19001
      role: voter
addons:
  - name: dns
    repository: core
    description: CoreDNS
    version: 1.10.1
    status: enabled
  - name: ha-cluster
    repository: core
    description: Configure high availability on the current node
    version: 1.36.2
    status: enabled
  - name: dashboard
    repository: core
    description: The Kubernetes dashboard
    version: 2.7.0
    status: disabled
  - name: metallb
    repository: core
    description: Loadbalancer for your Kubernetes cluster
    version: 0.13.3
    status: disabled
  - name: nvidia
    repository: core
    description: NVIDIA hardware (GPU and network) support
    version: v25.10.1
    status: disabled
  - name: hostpath-storage
    repository: core
    description: Storage class; allocates storage from host directory
    version: 1.0.0
    status: enabled
"""

# MicroK8s before addon repositories (1.20, the seed's version): no repository key,
# the old "gpu" name, no high-availability section.
STATUS_OLD = """microk8s:
  running: True
addons:
  - name: gpu
    description: Automatic enablement of Nvidia CUDA
    version: 1.11.0
    status: disabled
  - name: storage
    description: Storage class; allocates storage from host directory
    version: 1.0.0
    status: enabled
"""

STATUS_NOT_RUNNING = """microk8s:
  running: False
high-availability:
  enabled: False
  message: microk8s is not running. Use microk8s inspect for a deeper inspection.
"""


def test_simple_yaml_reads_what_pyyaml_reads():
    for text in (STATUS_HA, STATUS_OLD):
        mine = load_simple_yaml(text)
        theirs = yaml.safe_load(text)
        # PyYAML reads versions such as 1.0 as floats; the reader keeps them as text.
        for entry in theirs["addons"]:
            entry["version"] = str(entry["version"])
        for entry in mine["addons"]:
            entry["version"] = str(entry["version"])
        assert mine == theirs


def test_simple_yaml_reads_descriptions_with_colons():
    # MicroK8s prints descriptions unquoted; one with ": " is not valid YAML for PyYAML.
    text = STATUS_OLD.replace("Automatic enablement of Nvidia CUDA", "NVIDIA support: GPU operator")
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    assert parse_status(text)["addons"]["gpu"]["description"] == "NVIDIA support: GPU operator"


def test_simple_yaml_rejects_tabs_and_stray_indentation():
    with pytest.raises(Microk8sError, match="tab"):
        load_simple_yaml("microk8s:\n\trunning: True\n")
    with pytest.raises(Microk8sError):
        load_simple_yaml("a: 1\n    b: 2\n")


def test_parse_status_with_ha():
    status = parse_status(STATUS_HA)
    assert status["running"] is True
    assert status["ha_enabled"] is True
    assert [n["address"] for n in status["ha_nodes"]] == ["10.0.0.11:19001", "10.0.0.12:19001", "10.0.0.13:19001"]
    assert status["addons"]["dns"]["status"] == "enabled"
    assert status["addons"]["metallb"]["description"] == "Loadbalancer for your Kubernetes cluster"
    assert status["addons"]["nvidia"]["repository"] == "core"


def test_parse_status_old_microk8s_and_not_running():
    assert parse_status(STATUS_OLD)["addons"]["gpu"]["status"] == "disabled"
    stopped = parse_status(STATUS_NOT_RUNNING)
    assert stopped["running"] is False and stopped["addons"] == {}


@pytest.mark.parametrize("text, message", [
    ("addons: []\n", "no 'microk8s:' section"),
    ("microk8s:\n  running: True\naddons:\n  - name: dns\n", "lacks name or status"),
    ("microk8s:\n  running: True\naddons:\n  - name: dns\n    status: broken\n", "unknown status"),
])
def test_parse_status_rejects_broken_output(text, message):
    with pytest.raises(Microk8sError, match=message):
        parse_status(text)


def test_plan_addons_enables_and_disables_only_what_differs():
    status = parse_status(STATUS_HA)
    plan = plan_addons(status, [
        {"name": "dns"},                                      # enabled already
        {"name": "core/metallb", "config": "10.64.140.43-10.64.140.49"},
        {"name": "gpu", "args": ["--gpu-operator-driver", "host"]},   # alias of nvidia
        {"name": "hostpath-storage", "state": "disabled"},
        {"name": "dashboard", "state": "disabled"},           # disabled already
    ])
    assert plan["enable"] == [
        {"name": "metallb", "argv": ["enable", "metallb:10.64.140.43-10.64.140.49"]},
        {"name": "nvidia", "argv": ["enable", "nvidia", "--gpu-operator-driver", "host"]},
    ]
    assert plan["disable"] == [{"name": "hostpath-storage", "argv": ["disable", "hostpath-storage"]}]


def test_plan_addons_nothing_to_do():
    status = parse_status(STATUS_HA)
    assert plan_addons(status, [{"name": "dns"}, {"name": "dashboard", "state": "disabled"}]) == {"enable": [], "disable": []}


def test_plan_addons_new_name_on_old_microk8s():
    plan = plan_addons(parse_status(STATUS_OLD), [{"name": "nvidia"}])
    assert plan["enable"] == [{"name": "gpu", "argv": ["enable", "gpu"]}]


def test_plan_addons_unknown_disabled_addon_is_nothing_to_do():
    # knative is unknown until the community repository is enabled: it is not enabled either.
    assert plan_addons(parse_status(STATUS_HA), [{"name": "knative", "state": "disabled"}]) == {"enable": [], "disable": []}


def test_plan_addons_errors():
    status = parse_status(STATUS_HA)
    with pytest.raises(Microk8sError, match="'knative' is not known"):
        plan_addons(status, [{"name": "knative"}])
    with pytest.raises(Microk8sError, match="both enabled and disabled"):
        plan_addons(status, [{"name": "dns"}, {"name": "dns", "state": "disabled"}])
    with pytest.raises(Microk8sError, match="not running"):
        plan_addons(parse_status(STATUS_NOT_RUNNING), [{"name": "dns"}])


def test_enable_argv():
    assert enable_argv("dns", {}) == ["enable", "dns"]
    assert enable_argv("metallb", {"config": "10.0.0.1-10.0.0.9", "args": []}) == ["enable", "metallb:10.0.0.1-10.0.0.9"]
    assert enable_argv("nvidia", {"args": ["--gpu-operator-version", "v26.3.3"]}) == [
        "enable", "nvidia", "--gpu-operator-version", "v26.3.3"]


TOKEN = "0123456789abcdef0123456789abcdef"
CHECK = "5a1c0e8f9b2d"
ADD_NODE_JSON = json.dumps({"token": "%s/%s" % (TOKEN, CHECK),
                            "urls": ["10.0.0.11:25000/%s/%s" % (TOKEN, CHECK), "172.17.0.1:25000/%s/%s" % (TOKEN, CHECK)]},
                           indent=2)
ADD_NODE_PRETTY = """From the node you wish to join to this cluster, run the following:
microk8s join 10.0.0.11:25000/{t}/{c}

Use the '--worker' flag to join a node as a worker not running the control plane, eg:
microk8s join 10.0.0.11:25000/{t}/{c} --worker

If the node you are adding is not reachable through the default interface you can use one of the following:
microk8s join 10.0.0.11:25000/{t}/{c}
microk8s join 172.17.0.1:25000/{t}/{c}
""".format(t=TOKEN, c=CHECK)


@pytest.mark.parametrize("text", [ADD_NODE_JSON, ADD_NODE_PRETTY])
def test_parse_add_node(text):
    info = parse_add_node(text)
    assert info["token"] == "%s/%s" % (TOKEN, CHECK)
    assert info["urls"] == ["10.0.0.11:25000/%s/%s" % (TOKEN, CHECK), "172.17.0.1:25000/%s/%s" % (TOKEN, CHECK)]


def test_select_join_url():
    info = parse_add_node(ADD_NODE_JSON)
    assert select_join_url(info, "172.17.0.1") == "172.17.0.1:25000/%s/%s" % (TOKEN, CHECK)
    assert select_join_url(info, None) == info["urls"][0]
    with pytest.raises(Microk8sError, match="no connection string on 192.0.2.1"):
        select_join_url(info, "192.0.2.1")


@pytest.mark.parametrize("text, message", [
    ("Failed to call utility function.", "no connection string"),
    ("{not json", "cannot read the JSON"),
    ('{"token": "a/b", "urls": ["10.0.0.1:25000/abc"]}', "not a MicroK8s connection string"),
    ("microk8s join 10.0.0.1:25000/aaaa/bbbb\nmicrok8s join 10.0.0.2:25000/cccc/bbbb\n", "different tokens"),
])
def test_parse_add_node_rejects(text, message):
    with pytest.raises(Microk8sError, match=message):
        parse_add_node(text)


def node(name, worker=False, ready="True"):
    label = "node.kubernetes.io/microk8s-worker" if worker else "node.kubernetes.io/microk8s-controlplane"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, label: label.split("/")[1]}},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.%d" % len(name)},
                                     {"type": "Hostname", "address": name}],
                       "conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": ready}],
                       "nodeInfo": {"kubeletVersion": "v1.36.2"}}}


def node_list(*items):
    return json.dumps({"apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": ""}, "items": list(items)})


def test_parse_nodes():
    nodes = parse_nodes(node_list(node("gpu1"), node("cpu1", worker=True, ready="Unknown")))
    assert nodes == [
        {"name": "gpu1", "role": "control-plane", "ready": True,
         "addresses": {"InternalIP": "10.0.0.4", "Hostname": "gpu1"}, "version": "v1.36.2"},
        {"name": "cpu1", "role": "worker", "ready": False,
         "addresses": {"InternalIP": "10.0.0.4", "Hostname": "cpu1"}, "version": "v1.36.2"},
    ]


@pytest.mark.parametrize("text, message", [
    ('{"kind": "Node"}', "did not print a NodeList"),
    ("error: the server doesn't have a resource type", "cannot read the JSON"),
    ('{"kind": "NodeList", "items": [{"metadata": {}}]}', "has no name"),
])
def test_parse_nodes_rejects(text, message):
    with pytest.raises(Microk8sError, match=message):
        parse_nodes(text)


def test_plan_joins():
    members = parse_nodes(node_list(node("gpu1"), node("gpu2")))
    expected = [{"name": "GPU1", "role": "control-plane"}, {"name": "gpu2"}, {"name": "cpu1", "role": "worker"}]
    assert plan_joins(members, expected) == [{"name": "cpu1", "role": "worker"}]
    assert plan_joins(members + parse_nodes(node_list(node("cpu1", worker=True))), expected) == []


def test_plan_joins_errors():
    with pytest.raises(Microk8sError, match="listed twice"):
        plan_joins([], [{"name": "a"}, {"name": "A"}])
    with pytest.raises(Microk8sError, match="unknown role"):
        plan_joins([], [{"name": "a", "role": "master"}])


# --- issue 17 --------------------------------------------------------------------------
# add-node at MicroK8s v1.36 (scripts/wrappers/add_token.py) prints one URL per address of
# `hostname -I` (utils.sh get_ips): IPv6 addresses as they are, without brackets.
ADD_NODE_IPV6_JSON = json.dumps({"token": "%s/%s" % (TOKEN, CHECK),
                                 "urls": ["10.0.0.11:25000/%s/%s" % (TOKEN, CHECK),
                                          "2001:db8::10:25000/%s/%s" % (TOKEN, CHECK),
                                          "fd00:10::11:25000/%s/%s" % (TOKEN, CHECK)]}, indent=2)


def test_parse_join_url_ipv6_without_brackets():
    parsed = parse_join_url("2001:db8::10:25000/%s/%s" % (TOKEN, CHECK))
    assert parsed == {"address": "2001:db8::10", "port": "25000", "token": TOKEN, "check": CHECK}
    assert parse_join_url("[2001:db8::10]:25000/%s/%s" % (TOKEN, CHECK))["address"] == "2001:db8::10"
    assert parse_join_url("10.0.0.11:25000/%s/%s" % (TOKEN, CHECK))["address"] == "10.0.0.11"


def test_parse_add_node_with_ipv6_addresses():
    info = parse_add_node(ADD_NODE_IPV6_JSON)
    assert len(info["urls"]) == 3 and info["token"] == "%s/%s" % (TOKEN, CHECK)


def test_select_join_url_prefers_the_inventory_address_then_ipv4():
    info = parse_add_node(ADD_NODE_IPV6_JSON.replace("10.0.0.11:", "172.17.0.1:", 1)
                          .replace('"urls": [', '"urls": ["10.0.0.11:25000/%s/%s", ' % (TOKEN, CHECK)))
    assert select_join_url(info, None, ["192.0.2.7", "172.17.0.1"]).startswith("172.17.0.1:25000/")
    assert select_join_url(info, None, []).startswith("10.0.0.11:25000/")
    v6_first = parse_add_node(json.dumps({"token": "%s/%s" % (TOKEN, CHECK), "urls": [
        "2001:db8::10:25000/%s/%s" % (TOKEN, CHECK), "10.0.0.12:25000/%s/%s" % (TOKEN, CHECK)]}))
    assert select_join_url(v6_first, None, []).startswith("10.0.0.12:25000/")


def test_select_join_url_refuses_ipv6_that_join_rejects():
    # v1.36's `microk8s join` splits host:port at every ':' (common/cluster/utils.py
    # get_valid_connection_parts): an IPv6 connection string is refused there.
    info = parse_add_node(ADD_NODE_IPV6_JSON)
    with pytest.raises(Microk8sError, match="IPv6.*2001:db8::10"):
        select_join_url(info, "2001:db8::10")
    only_v6 = parse_add_node(json.dumps({"token": "%s/%s" % (TOKEN, CHECK),
                                         "urls": ["2001:db8::10:25000/%s/%s" % (TOKEN, CHECK)]}))
    with pytest.raises(Microk8sError, match="no IPv4"):
        select_join_url(only_v6, None)


def pod(name, phase="Running", ready="True"):
    return {"metadata": {"name": name, "namespace": "gpu-operator-resources", "labels": {"app": "gpu-operator"}},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}}


def test_parse_pods_and_readiness():
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod("gpu-operator-1", "Pending", "False")]})
    pods = parse_pods(text)
    assert pods == [{"name": "gpu-operator-1", "phase": "Pending", "ready": False}]
    assert not pods_ready(pods)
    assert pods_ready(parse_pods(json.dumps({"kind": "List", "items": [pod("gpu-operator-1")]})))
    assert not pods_ready([])
    with pytest.raises(Microk8sError, match="cannot read the JSON"):
        parse_pods("No resources found")


def test_addon_readiness_of_nvidia():
    # The chart's operator Deployment (gpu-operator v26.3.3 templates/operator.yaml)
    # labels its pod app=gpu-operator; the addon installs it into gpu-operator-resources.
    assert ADDON_READINESS["nvidia"] == {"namespace": "gpu-operator-resources", "selector": "app=gpu-operator"}
    assert ADDON_READINESS["gpu"] == ADDON_READINESS["nvidia"]


def test_offline_blockers_name_addons_that_fetch_from_the_internet():
    wanted = [{"name": "dns"}, {"name": "core/ingress"}, {"name": "knative"}, {"name": "nvidia", "state": "disabled"},
              {"name": "metallb", "config": "10.0.0.1-10.0.0.9"}]
    blockers = offline_blockers(wanted)
    assert [b["name"] for b in blockers] == ["ingress", "knative"]
    assert "github.com" in blockers[0]["reason"]
    assert offline_blockers([{"name": "dns"}, {"name": "hostpath-storage"}, {"name": "host-access"}]) == []


def test_plan_addons_dashboard_unknown_on_136():
    # microk8s-core-addons removed dashboard (1824e87, 2026-05-20) before the 1.36 release.
    status = parse_status(STATUS_HA.replace("  - name: dashboard", "  - name: cert-manager"))
    with pytest.raises(Microk8sError, match="'dashboard' is not known"):
        plan_addons(status, [{"name": "dashboard"}])
    assert plan_addons(status, [{"name": "dashboard", "state": "disabled"}]) == {"enable": [], "disable": []}


def test_plan_removals():
    members = parse_nodes(node_list(node("gpu1"), node("gpu2"), node("cpu9", worker=True)))
    assert plan_removals(members, [{"name": "GPU1"}, {"name": "gpu2"}], "gpu1") == [
        {"name": "cpu9", "role": "worker", "argv": ["remove-node", "cpu9"]}]
    members = parse_nodes(node_list(node("gpu1"), node("gpu3")))
    assert plan_removals(members, [{"name": "gpu1"}], "gpu1") == [
        {"name": "gpu3", "role": "control-plane", "argv": ["remove-node", "gpu3", "--force"]}]
    # the node the module runs on is never removed
    assert plan_removals(members, [{"name": "gpu3"}], "gpu1") == []
