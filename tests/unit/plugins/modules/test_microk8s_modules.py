# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""microk8s_addons and microk8s_join_tokens end to end against microk8s-standin
(tests/lab/standins/microk8s-standin: MicroK8s' CLI output formats with state in a JSON
file; NOT MicroK8s, which cannot be had here). Its state, log and SNAP_DATA are put in
a temporary directory; its call log shows which commands the modules ran."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.modules import microk8s_addons, microk8s_join_tokens

STANDIN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "lab", "standins", "microk8s-standin")


@pytest.fixture
def microk8s(tmp_path, monkeypatch):
    """A wrapper that runs microk8s-standin with this interpreter and private state."""
    monkeypatch.setenv("MICROK8S_STANDIN_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MICROK8S_STANDIN_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("MICROK8S_STANDIN_SNAP_DATA", str(tmp_path / "snap"))
    monkeypatch.setenv("MICROK8S_STANDIN_EXTRA_IPS", str(tmp_path / "extra-ips"))
    monkeypatch.setenv("MICROK8S_STANDIN_REACHABLE", str(tmp_path / "reachable"))
    wrapper = tmp_path / "microk8s"
    wrapper.write_text("#!/bin/sh\nexec '%s' '%s' \"$@\"\n" % (sys.executable, os.path.abspath(STANDIN)))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    subprocess.run([str(wrapper), "install-hook"], check=True)

    class Microk8s:
        path = str(wrapper)

        @staticmethod
        def calls(command):
            with open(tmp_path / "calls.log") as log:
                return [c["argv"] for c in map(json.loads, log) if c["argv"][:1] == [command]]

        @staticmethod
        def extra_ips(*addresses):
            (tmp_path / "extra-ips").write_text(" ".join(addresses) + "\n")

        @staticmethod
        def reachable(*lines):
            (tmp_path / "reachable").write_text("".join(line + "\n" for line in lines))

        @staticmethod
        def state():
            return json.loads((tmp_path / "state" / "state.json").read_text())

        @staticmethod
        def add_members(*members):
            state_file = tmp_path / "state" / "state.json"
            state = json.loads(state_file.read_text())
            state["members"] += [{"name": n, "role": r, "address": "192.0.2.%d" % i} for i, (n, r) in enumerate(members, 10)]
            state_file.write_text(json.dumps(state))

    return Microk8s()


def run(capsys, module, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


ADDONS = [{"name": "dns"}, {"name": "metallb", "config": "10.64.140.43-10.64.140.49"},
          {"name": "core/registry", "args": ["--size", "20Gi"]}, {"name": "helm", "state": "disabled"}]


def test_addons_check_mode_changes_nothing(capsys, microk8s):
    result = run(capsys, microk8s_addons, {"addons": ADDONS, "microk8s_path": microk8s.path,
                                           "_ansible_check_mode": True, "_ansible_diff": True})
    assert result["changed"] is True
    assert result["enabled"] == ["dns", "metallb", "registry"]
    assert result["disabled"] == ["helm"]
    assert "dns" in result["diff"]["after"]["enabled"] and "dns" not in result["diff"]["before"]["enabled"]
    assert microk8s.calls("enable") == [] and microk8s.calls("disable") == []


def test_addons_enable_once_then_nothing(capsys, microk8s):
    result = run(capsys, microk8s_addons, {"addons": ADDONS, "microk8s_path": microk8s.path})
    assert result["changed"] is True
    assert microk8s.calls("disable") == [["disable", "helm"]]
    assert microk8s.calls("enable") == [["enable", "dns"], ["enable", "metallb:10.64.140.43-10.64.140.49"],
                                        ["enable", "registry", "--size", "20Gi"]]
    again = run(capsys, microk8s_addons, {"addons": ADDONS, "microk8s_path": microk8s.path})
    assert again["changed"] is False and again["enabled"] == [] and again["disabled"] == []
    assert len(microk8s.calls("enable")) == 3
    assert [c for c in microk8s.calls("status") if "--wait-ready" in c]


def test_addons_failure_names_the_addon_and_what_was_done(capsys, microk8s):
    # metallb without a range fails in MicroK8s (it would prompt for one).
    result = run(capsys, microk8s_addons, {"addons": [{"name": "dns"}, {"name": "metallb"}], "microk8s_path": microk8s.path})
    assert result["failed"] is True
    assert "microk8s enable metallb failed" in result["msg"]
    assert result["enabled"] == ["dns"] and result["changed"] is True


def test_addons_unknown_addon_fails_before_any_change(capsys, microk8s):
    result = run(capsys, microk8s_addons, {"addons": [{"name": "dns"}, {"name": "knative"}], "microk8s_path": microk8s.path})
    assert result["failed"] is True and "'knative' is not known" in result["msg"]
    assert microk8s.calls("enable") == []


NODES = [{"name": socket.gethostname().upper()}, {"name": "cp2"}, {"name": "w1", "role": "worker"}]


def test_join_tokens_only_for_missing_nodes(capsys, microk8s):
    check = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path, "_ansible_check_mode": True})
    assert check["changed"] is True and check["joins"] == {}
    assert [m["name"] for m in check["missing"]] == ["cp2", "w1"]
    assert microk8s.calls("add-node") == []

    result = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path})
    assert result["changed"] is True
    assert [m["name"] for m in result["members"]] == [socket.gethostname().lower()]
    assert sorted(result["joins"]) == ["cp2", "w1"]
    assert len(result["joins"]["cp2"]) == 1 and result["joins"]["w1"][1:] == ["--worker"]
    assert result["joins"]["cp2"][0] != result["joins"]["w1"][0]
    assert result["joins"]["cp2"][0].split(":")[1].startswith("25000/")
    assert [c[:3] for c in microk8s.calls("add-node")] == [["add-node", "--format", "json"]] * 2

    microk8s.add_members(("cp2", "control-plane"), ("w1", "worker"))
    again = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path})
    assert again["changed"] is False and again["missing"] == [] and again["joins"] == {}
    assert len(microk8s.calls("add-node")) == 2


def test_join_tokens_address_not_offered(capsys, microk8s):
    result = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path, "join_address": "192.0.2.99"})
    assert result["failed"] is True
    assert "no connection string on 192.0.2.99" in result["msg"]


def test_join_tokens_rejects_short_ttl(capsys, microk8s):
    result = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path, "token_ttl": 5})
    assert result["failed"] is True and "token_ttl" in result["msg"]


# --- issue 17 ---------------------------------------------------------------------------

def test_join_tokens_on_a_host_with_ipv6_addresses(capsys, microk8s):
    # add-node lists every address of `hostname -I`, IPv6 without brackets; the token is
    # returned on an IPv4 address (1.36's join refuses IPv6 connection strings).
    microk8s.extra_ips("2001:db8::10", "fd00:10::11")
    result = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path})
    assert result.get("failed") is not True, result.get("msg")
    url = result["joins"]["cp2"][0]
    assert url.count(":") == 1 and url.split(":")[1].startswith("25000/")


def test_join_tokens_prefer_the_inventory_address(capsys, microk8s):
    microk8s.extra_ips("192.0.2.44", "2001:db8::10")
    result = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path,
                                                "preferred_addresses": ["198.51.100.1", "192.0.2.44"]})
    assert result.get("failed") is not True, result.get("msg")
    assert result["joins"]["cp2"][0].startswith("192.0.2.44:25000/")
    refused = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path,
                                                 "join_address": "2001:db8::10"})
    assert refused["failed"] is True and "IPv6" in refused["msg"] and "microk8s_gpu_join_address" in refused["msg"]
    assert len(microk8s.calls("add-node")) == 2, "the IPv6 join address is refused before any token is issued"


def test_join_tokens_remove_absent_nodes(capsys, microk8s):
    microk8s.add_members(("cp2", "control-plane"), ("w1", "worker"), ("old-cp", "control-plane"), ("old-w", "worker"))
    check = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path, "remove_absent": True,
                                               "_ansible_check_mode": True})
    assert check["changed"] is True and [r["name"] for r in check["removed"]] == ["old-cp", "old-w"]
    assert microk8s.calls("remove-node") == []
    result = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path, "remove_absent": True})
    assert result["changed"] is True
    assert microk8s.calls("remove-node") == [["remove-node", "old-cp", "--force"], ["remove-node", "old-w"]]
    assert sorted(m["name"] for m in microk8s.state()["members"]) == ["cp2", "w1"]
    # without remove_absent, members the inventory does not list are left alone
    microk8s.add_members(("old-w2", "worker"))
    kept = run(capsys, microk8s_join_tokens, {"nodes": NODES, "microk8s_path": microk8s.path})
    assert kept["changed"] is False and len(microk8s.calls("remove-node")) == 2


NVIDIA = [{"name": "nvidia", "args": ["--gpu-operator-driver", "host", "--gpu-operator-version", "v26.3.3"]}]


def test_addons_nvidia_exit_zero_with_failed_helm_install_fails(capsys, microk8s):
    # The addon runs helm without looking at its exit code and prints "Deployed" (microk8s
    # issues #3686, #4558); the module checks the operator's pods instead.
    result = run(capsys, microk8s_addons, {"addons": NVIDIA, "microk8s_path": microk8s.path, "check_timeout": 1})
    assert result.get("failed") is True
    assert "gpu-operator" in result["msg"] and "INSTALLATION FAILED" in result["msg"]
    assert [c[:3] for c in microk8s.calls("kubectl")] == [["kubectl", "get", "pods"]] * len(microk8s.calls("kubectl"))


def test_addons_nvidia_deployed_passes(capsys, microk8s):
    microk8s.reachable("helm.ngc.nvidia.com")
    result = run(capsys, microk8s_addons, {"addons": NVIDIA, "microk8s_path": microk8s.path, "check_timeout": 5})
    assert result.get("failed") is not True, result.get("msg")
    assert result["enabled"] == ["nvidia"]
    assert any(c[:5] == ["kubectl", "get", "pods", "-n", "gpu-operator-resources"] for c in microk8s.calls("kubectl"))


def test_addons_offline_refuses_addons_that_go_online_before_any_change(capsys, microk8s):
    result = run(capsys, microk8s_addons, {"addons": [{"name": "dns"}, {"name": "ingress"}], "offline": True,
                                           "microk8s_path": microk8s.path})
    assert result["failed"] is True and "ingress" in result["msg"] and "github.com" in result["msg"]
    assert microk8s.calls("enable") == []
    fine = run(capsys, microk8s_addons, {"addons": [{"name": "dns"}, {"name": "ingress", "state": "disabled"}],
                                         "offline": True, "microk8s_path": microk8s.path})
    assert fine.get("failed") is not True and fine["enabled"] == ["dns"]


def test_addons_dashboard_is_unknown_on_136(capsys, microk8s):
    result = run(capsys, microk8s_addons, {"addons": [{"name": "dashboard"}], "microk8s_path": microk8s.path})
    assert result["failed"] is True and "'dashboard' is not known" in result["msg"]
