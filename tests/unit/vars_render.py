# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Render every variable of roles/<role>/vars/main.yml with Ansible, for the example
inventories, to JSON: the check that moving logic out of vars/ into filter plugins keeps
every value the same.

    .venv/bin/python tests/unit/vars_render.py minio -o /tmp/before.json     # render
    .venv/bin/python tests/unit/vars_render.py minio --diff /tmp/before.json  # render, compare
    .venv/bin/python tests/unit/vars_render.py minio --base HEAD             # compare with the
        # vars/main.yml files of a commit (rendered in a copy of this tree that has only them
        # from that commit, with the same fixtures)

The variables are resolved the way a play resolves them (ansible-core's VariableManager for
a play that applies the role, on each host of the role's group in each inventory: common's and
the role's defaults, the inventory's group_vars and host_vars, the role's vars), and each one is
templated on its own; a variable that fails is recorded as ``!error <class>: <message>``.
What only a run can supply (facts, registered results, loop variables) comes from FIXTURES,
plain made-up values. VARIANTS adds switches the example inventories leave off, so that every
branch of the vars is rendered. No host is contacted and nothing is written.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("VARS_RENDER_ROOT") or Path(__file__).resolve().parents[2])
os.environ["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
os.environ.setdefault("ANSIBLE_HOME", str(ROOT / ".ansible"))
os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".ansible" / "collections")

INVENTORIES = ("single_node", "multi_node", "airgap", "lab", "lab_multi")

# The group of site.yml's play that applies each role.
GROUPS = {
    "minio": ["object_store"], "microk8s_gpu": ["k8s_control_plane", "k8s_workers"], "nautilus": ["nautilus"],
    "docker_host": ["docker_hosts"], "postgres": ["postgres"], "offline_registry": ["registry"],
    "gitlab_runner": ["gitlab_runners"], "label_studio": ["labeling"], "gitlab": ["gitlab"],
    "determined": ["k8s_control_plane"], "seldon": ["k8s_control_plane"], "pachyderm": ["k8s_control_plane"],
    "bundle": ["all"],
}

# Layouts the example inventories only describe in comments, added to them as a second source:
# multi_node's "one control plane and GPU workers" (group k8s_cp_one with
# microk8s_gpu_control_plane_group: k8s_cp_one in a variant).
EXTRA_SOURCES = {
    "multi_node": "all:\n  children:\n    k8s_cp_one: {hosts: {k8s1: }}\n    k8s_workers: {hosts: {k8s2: , k8s3: }}\n",
}

_FACTS = {
    "hostname": "node1", "fqdn": "node1.site.example", "all_ipv4_addresses": ["10.0.0.11", "172.17.0.1"],
    "default_ipv4": {"address": "10.0.0.11", "interface": "eth0"}, "distribution": "Debian",
    "distribution_release": "bookworm", "distribution_major_version": "12", "architecture": "x86_64",
    "os_family": "Debian", "getent_passwd": {"gitlab-runner": ["x", "999", "999", "", "/home/gitlab-runner", "/bin/bash"]},
}

# config.toml as gitlab-runner writes it: runners of the example inventories' URLs (one with a
# trailing slash), a runner of another GitLab, a name twice, one without a token yet.
RUNNER_CONFIG = """concurrent = 6
check_interval = 0

[session_server]
  session_timeout = 1800

[[runners]]
  name = "gpu"
  url = "http://192.0.2.40/"
  id = 7
  token = "glrt-gpu-multi-node"
  token_obtained_at = 2026-12-01T10:00:00Z
  executor = "docker"
  [runners.docker]
    image = "nvidia/cuda:12.4.1-base-ubuntu22.04"
    gpus = "all"
    volumes = ["/cache"]

[[runners]]
  name = "cpu"
  url = "http://mlstack-lab-m2:8929"
  token = "glrt-cpu-lab-multi"
  executor = "docker"
  [runners.docker]
    image = "debian:bookworm"

[[runners]]
  name = "cpu"
  url = "http://192.0.2.40"
  token = "glrt-cpu-multi-node"
  executor = "docker"

[[runners]]
  name = "cpu"
  url = "http://192.0.2.40"
  token = "glrt-cpu-second-entry"
  executor = "docker"

[[runners]]
  name = "other"
  url = "https://gitlab.elsewhere.example"
  token = "glrt-elsewhere"
  executor = "shell"

[[runners]]
  name = "new"
  url = "http://192.0.2.40"
  token = ""
  executor = "docker"
"""

# What a run supplies: facts, registered results and loop variables (made-up values). They
# are set as facts of every host of the inventory (so hostvars[other] has them too); a
# callable is called with the host's name.
COMMON_FIXTURES: dict[str, Any] = {
    "ansible_facts": _FACTS, "ansible_check_mode": False, "ansible_playbook_python": "/usr/bin/python3",
}
FIXTURES: dict[str, dict[str, Any]] = {
    "minio": {
        "_minio_root": {"access_key": "ROOTACCESSKEY0000000", "secret_key": "root-secret-" + "s" * 28},
        "_minio_consumer_keys": {c: {"access_key": c.upper()[:8].ljust(20, "K"), "secret_key": c + "-secret"}
                                 for c in ("determined", "pachyderm", "label-studio", "label_studio", "seldon",
                                           "gitlab", "backup", "nautilus")},
        "_minio_policy_info": {"rc": 0, "stdout": json.dumps({"policyInfo": {"Policy": {"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/*"]},
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": "arn:aws:s3:::b"}]}}})},
    },
    "postgres": {
        "_postgres_postmaster_pid": {"content": "NDIxMzcKL3Zhci9saWIvcG9zdGdyZXNxbC8xNS9tYWluCjE3MzMyMjI4MDAKNTQzMwovdmFyL3J1bi9wb3N0Z3Jlc3FsCg=="},
        "_postgres_packages_pending": False,
    },
    "offline_registry": {
        "_offline_registry_in_registry": {"results": [
            {"rc": 0, "stdout": json.dumps({"config": {"digest": "sha256:aa"}}),
             "item": {"ref": "docker.io/library/registry:2.8.3", "target": "library/registry:2.8.3", "config": "sha256:aa"}},
            {"rc": 0, "stdout": json.dumps({"config": {"digest": "sha256:old"}}),
             "item": {"ref": "quay.io/minio/minio:R", "target": "minio/minio:R", "config": "sha256:bb"}},
            {"rc": 1, "stderr": "manifest unknown", "stdout": "",
             "item": {"ref": "docker.io/pypiserver/pypiserver:v2", "target": "pypiserver/pypiserver:v2", "config": "sha256:cc"}},
            {"rc": 0, "stdout": "", "item": {"ref": "x:1", "target": "x:1", "config": "sha256:dd"}},
            {"skipped": True, "item": {"ref": "y:1", "target": "y:1", "config": "sha256:ee"}}]},
        "offline_registry_pending": lambda host: host.endswith("2"),
    },
    "gitlab_runner": {
        "_gitlab_runner_config_slurp": {"content": base64.b64encode(RUNNER_CONFIG.encode()).decode()},
        "_gitlab_runner_gpu_count": lambda host: 2 if "runner" in host or host.endswith("1") else 0,
    },
    "gitlab": {
        "_gitlab_network_result": {"changed": False, "network": {"Name": "mlstack-gitlab", "IPAM": {
            "Driver": "default", "Config": [{"Subnet": "172.28.0.0/16", "Gateway": "172.28.0.1"}]}}},
    },
    "label_studio": {
        "_label_studio_purelib": {"rc": 0, "stdout": "/opt/mlstack/label-studio/lib/python3.11/site-packages\n"},
    },
    "nautilus": {
        "_nautilus_network_info": {"exists": True, "network": {"IPAM": {"Config": [
            {"Subnet": "172.30.0.0/16", "Gateway": "172.30.0.1"}]}}},
        "_nautilus_secrets": {"DB_PASS": "db-pass", "GITLAB_ADMIN_TOKEN": "token"},
        "_nautilus_network_result": {"changed": False}, "_nautilus_image_copy": {"changed": True},
    },
    "microk8s_gpu": {
        "_microk8s_gpu_self": lambda host: {"name": host + "-node", "join_address": "", "api_address": "10.0.0.11",
                                            "join_candidates": ["10.0.0.11"]},
        "_microk8s_gpu_count": lambda host: 1 if "gpu" in host or host.endswith("1") else 0,
        "_microk8s_gpu_nvidia_smi": lambda host: "gpu" in host,
        "_microk8s_gpu_snaps": lambda host: {"core22": {}, "snapd": {}} if host.endswith("2") else
        {"microk8s": {"notes": "-"}, "core22": {}},
    },
}
# Loop variables: the vars are rendered once for each value (key: the loop variable, value:
# the variable holding the list it loops over).
LOOPS: dict[str, dict[str, str]] = {
    "minio": {"_minio_consumer": "_minio_consumers"},
    "gitlab_runner": {"_gitlab_runner_item": "gitlab_runner_runners"},
}
# A variant's value UNDEFINED removes the variable (a task that registers it did not run).
UNDEFINED = "!undefined"
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "docker_host": {
        "gpu-proxy-local-log": {
            "docker_host_gpu": "always", "docker_host_nvidia_default_runtime": True, "docker_host_log_driver": "local",
            "mlstack_proxy": {"http": "http://proxy:3128", "https": "http://proxy:3129",
                              "no_proxy": ["localhost", "10.0.0.0/8", "*.site", ".example.com", "registry"]},
            "docker_host_data_root": "/srv/docker", "docker_host_storage_driver": "overlay2",
            "docker_host_insecure_registries": ["reg.site:5000"],
            "docker_host_registry_mirrors": ["https://registry.site.internal:5000", "https://mirror.site"],
            "docker_host_daemon_extra": {"runtimes": {"runc2": {"path": "/usr/bin/runc"}}, "log-opts": {"mode": "non-blocking"},
                                         "default-runtime": "runc"},
            "_docker_host_proxy_user": "gitlab-runner",
            "_docker_host_client_config_raw": {"content": base64.b64encode(json.dumps(
                {"auths": {"reg.site:5000": {"auth": "eDp5"}}, "proxies": {"old": {"httpProxy": "http://old"}}}).encode()).decode()}},
        "gpu-count-journald-https": {
            "docker_host_gpu": "auto", "docker_host_gpu_count": "2", "docker_host_log_driver": "journald",
            "mlstack_proxy": {"https": "http://proxy:3129"}, "mlstack_registry": "",
            "_docker_host_proxy_user": "gitlab-runner"},
        "no-proxy-drops-proxies": {
            "mlstack_proxy": {"no_proxy": ["localhost"]}, "docker_host_gpu_count": 0, "docker_host_live_restore": False,
            "_docker_host_proxy_user": "gitlab-runner",
            "_docker_host_client_config_raw": {"content": base64.b64encode(json.dumps(
                {"proxies": {"default": {"httpProxy": "http://old"}}, "detachKeys": "ctrl-e"}).encode()).decode()}},
    },
    "label_studio": {
        "index-proxy": {"label_studio_pip_index_url": "http://pypi.site.example:8080/simple", "label_studio_pip_trust_index_host": True,
                        "mlstack_proxy": {"http": "http://proxy:3128", "no_proxy": ["localhost", ".site"]},
                        "label_studio_bind_address": "0.0.0.0", "_label_studio_purelib": {"rc": 1, "stdout": ""}},
        "https-proxy-ipv6": {"mlstack_proxy": {"https": "http://proxy:3128"}, "label_studio_bind_address": "fd00::7"},
        "offline-wheelhouse": {"mlstack_offline": True, "mlstack_proxy": {"http": "http://proxy:3128"},
                               "label_studio_bind_address": "::"},
        "index-untrusted": {"label_studio_pip_index_url": "https://pypi.site.example/simple", "label_studio_install": "container"},
    },
    "gitlab": {
        "https-8443": {"gitlab_external_url": "https://gitlab.site.example:8443", "gitlab_registry_enabled": True,
                       "gitlab_bind_address": "0.0.0.0", "_gitlab_network_result": UNDEFINED,
                       "mlstack_proxy": {"http": "http://proxy:3128", "no_proxy": ["localhost"]}},
        "https-default": {"gitlab_external_url": "https://gitlab.site.example", "gitlab_bind_address": "127.0.0.1",
                          "_gitlab_network_result": {"changed": True, "network": {}}},
        "http-port": {"gitlab_external_url": "http://gitlab.site.example:8929/", "gitlab_monitoring_whitelist": [
            "10.0.0.0/8", "172.28.0.1/32"], "ansible_check_mode": True},
        "ipv6-bind": {"gitlab_bind_address": "fd00::40", "gitlab_registry_enabled": True,
                      "gitlab_registry_external_url": "https://registry.site.example"},
    },
    "gitlab_runner": {
        "lab-multi-url": {"gitlab_runner_url": "http://mlstack-lab-m2:8929/", "mlstack_offline": True,
                          "gitlab_runner_ca_file": "/c/ca.crt", "gitlab_runner_install": "container"},
        "no-config-yet": {"_gitlab_runner_config_slurp": UNDEFINED, "gitlab_runner_url": "http://192.0.2.40",
                          "mlstack_registry": "registry.site:5000"},
        "empty-config": {"_gitlab_runner_config_slurp": {"content": ""}, "gitlab_runner_url": "http://192.0.2.40"},
    },
    "offline_registry": {
        "names": {"mlstack_registry": "registry.site.example:5000", "offline_registry_bind_address": "0.0.0.0",
                  "offline_registry_push_bind_address": "fd00::10", "offline_registry_tls_extra_names": [
                      "10.9.8.7", "reg", "host:5000", "1.2.3", "::1", "r.example"],
                  "ansible_check_mode": True, "offline_registry_tls_source": "provided",
                  "offline_registry_tls_ca_file": "/c/ca.crt", "offline_registry_tls_cert_file": "/c/s.crt",
                  "offline_registry_tls_key_file": "/c/s.key"},
        "nothing-probed": {"_offline_registry_in_registry": UNDEFINED, "mlstack_registry": ""},
    },
    "postgres": {
        "databases-full": {
            "postgres_hba_allowed_cidrs": ["10.0.0.0/24"],
            "postgres_databases": [
                {"name": "gitlab", "owner": "gitlab", "extensions": ["pg_trgm", "btree_gist"],
                 "allowed_cidrs": ["10.20.0.12/32"], "encoding": "SQL_ASCII", "password": "given-1"},
                {"name": "gitlab_ci", "owner": "gitlab", "password": "given-2"},
                {"name": "label_studio", "owner": "", "extensions": None, "allowed_cidrs": [], "password": ""},
                {"name": "pachyderm"}],
            "postgres_hba_extra_rules": [{"type": "local", "database": "all", "user": "postgres", "method": "peer"},
                                         {"type": "host", "address": "192.0.2.0/24", "database": "x", "user": "y"}],
            "ansible_check_mode": True, "_postgres_packages_pending": True,
            "postgres_settings_extra": {"log_min_duration_statement": 500}},
        "pid-unreadable": {"_postgres_postmaster_pid": {"content": "MTIzCg=="}, "postgres_port": 5434},
        "pid-absent": {"_postgres_postmaster_pid": UNDEFINED, "postgres_version": 16},
        "pid-garbage": {"_postgres_postmaster_pid": {"content": "YQpiCmMKeHl6Cg=="}},
    },
    "nautilus": {
        "pip-localhost": {"nautilus_pip_server": "http://localhost:8080/simple", "nautilus_storage": "host_paths",
                          "nautilus_docker_socket": True, "nautilus_offline_mode": True,
                          "mlstack_proxy": {"https": "http://proxy:3128", "no_proxy": ["localhost", ".site"]},
                          "nautilus_extra_env": {"TZ": "UTC"}, "ansible_check_mode": True},
        "pip-loopback-no-scheme": {"nautilus_pip_server": "127.0.1.1:3141/root/pypi", "nautilus_bind_address": "0.0.0.0",
                                   "_nautilus_network_info": {"exists": False}},
        "pip-https-localhost": {"nautilus_pip_server": "https://localhost", "_nautilus_network_info": {
            "network": {"IPAM": {"Config": []}}}},
        "pip-remote": {"nautilus_pip_server": "http://localhost.site:8080/simple", "nautilus_database_bind_address": "10.0.0.11"},
        "no-network-info": {"nautilus_pip_server": "http://pypi.site/simple", "_nautilus_network_info": UNDEFINED},
        "no-network-info-localhost": {"nautilus_pip_server": "http://localhost:8080", "_nautilus_network_info": UNDEFINED},
    },
    "microk8s_gpu": {
        "offline-everything": {"mlstack_offline": True, "microk8s_gpu_nvidia": True, "microk8s_gpu_ingress": True,
                               "microk8s_gpu_knative": True, "microk8s_gpu_dashboard": False,
                               "microk8s_gpu_extra_addons": [{"name": "community/knative", "state": "enabled"},
                                                             {"name": "core/gpu"}, {"name": "rbac", "state": "disabled"}],
                               "microk8s_gpu_image_archives": [{"path": "/media/x/gpu-op.tar", "sha256": "ab"}, {"path": "rel.tar"}],
                               "microk8s_gpu_extra_sans": ["k8s.site.example", "10.1.2.3", "fd00::1", "vip", "192.0.2.9"],
                               "microk8s_gpu_channel": "1.36", "ansible_check_mode": True,
                               "mlstack_proxy": {"http": "http://proxy:3128", "no_proxy": ["localhost", "10.0.0.0/8"]}},
        "channel-risk": {"microk8s_gpu_channel": "edge", "microk8s_gpu_nvidia": False, "microk8s_gpu_ingress": False,
                         "microk8s_gpu_ingress_chart_repository": "http://charts.site", "microk8s_gpu_nvidia_driver": "host"},
        "channel-risk-branch": {"microk8s_gpu_channel": "beta/hotfix", "microk8s_gpu_ingress": True,
                                "microk8s_gpu_ingress_chart_repository": "http://charts.site"},
        "channel-full": {"microk8s_gpu_channel": "1.36/candidate", "microk8s_gpu_knative": False},
        "workers": {"microk8s_gpu_control_plane_group": "k8s_cp_one", "microk8s_gpu_nvidia_driver": "auto"},
    },
    "minio": {
        "minio-tls": {"minio_engine": "minio", "minio_tls": True, "minio_console_enabled": True},
        "seaweedfs-tls-files": {"minio_engine": "seaweedfs", "minio_tls": True, "minio_tls_cert_file": "/c/s.crt",
                                "minio_tls_key_file": "/c/s.key", "minio_tls_ca_file": "/c/ca.crt",
                                "minio_bind_address": "fd00::5", "minio_data_volume": "s3data"},
        "no-buckets": {"minio_buckets": [], "_minio_policy_info": {"rc": 1, "stdout": ""}},
        "policy-without-statements": {"_minio_policy_info": {"rc": 0, "stdout": '{"policyInfo": {}}'}},
    },
}

from ansible import context  # noqa: E402 (after the environment above)
from ansible.module_utils.common.collections import ImmutableDict  # noqa: E402
from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.playbook.play import Play  # noqa: E402
from ansible.plugins.loader import init_plugin_loader  # noqa: E402
from ansible.template import Templar  # noqa: E402
from ansible.vars.hostvars import HostVars  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402


def _plain(value: Any) -> Any:
    """JSON-able copy (ansible-core's tagged strings and lazy containers to plain ones)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    # Paths under the checkout (inventory_dir, playbook_dir) do not depend on where it is.
    return str(value).replace(str(ROOT), "<root>")


def _error(exc: Exception) -> str:
    return "!error %s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")


def _role_task(blocks: list, role: str):
    """A task of ``role`` in the compiled play (its role defaults and vars apply to it)."""
    for block in blocks:
        for task in block.block:
            if getattr(task, "_role", None) is not None and task._role.get_name().endswith("." + role):
                return task
            if hasattr(task, "block"):
                found = _role_task([task], role)
                if found is not None:
                    return found
    return None


def render_role(role: str, inventories: tuple[str, ...] = INVENTORIES) -> dict[str, dict[str, Any]]:
    """{"<inventory>/<host>[/<variant>][/<loopvar>=<value>]": {var: rendered value or error}}."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="vars-render-inv-") as tmp:
        return _render_role(role, inventories, Path(tmp))


def _render_role(role: str, inventories: tuple[str, ...], tmp: Path) -> dict[str, dict[str, Any]]:
    loader = DataLoader()
    names = list((loader.load_from_file(str(ROOT / "roles" / role / "vars" / "main.yml")) or {}).keys())
    out: dict[str, dict[str, Any]] = {}
    for inv_name in inventories:
        sources = [str(ROOT / "inventories" / inv_name / "hosts.yml")]
        if inv_name in EXTRA_SOURCES:
            (tmp / (inv_name + ".yml")).write_text(EXTRA_SOURCES[inv_name])
            sources.append(str(tmp / (inv_name + ".yml")))
        inventory = InventoryManager(loader=loader, sources=sources)
        variable_manager = VariableManager(loader=loader, inventory=inventory)
        # As a play's task queue manager does: hostvars[<host>] for every host.
        variable_manager._hostvars = HostVars(inventory=inventory, variable_manager=variable_manager, loader=loader)
        hosts = []
        for group in GROUPS.get(role, ["all"]):
            hosts += [h for h in inventory.get_hosts(group) if h not in hosts]
        if not hosts:
            hosts = inventory.get_hosts("all")[:1]
        for host in inventory.get_hosts("all"):
            variable_manager.set_host_facts(host.name, _FACTS)
            variable_manager.set_nonpersistent_facts(host.name, {
                k: (v(host.name) if callable(v) else v) for k, v in FIXTURES.get(role, {}).items()})
        play = Play.load({"name": "render", "hosts": ":".join(GROUPS.get(role, ["all"])), "gather_facts": False,
                          "roles": [{"role": "mlstack.platform." + role}]},
                         variable_manager=variable_manager, loader=loader)
        task = _role_task(play.compile(), role)
        assert task is not None, "no task of %s in the play" % role
        for host in hosts:
            base = variable_manager.get_vars(play=play, host=host, task=task)
            for variant, overlay in [("", {})] + list(VARIANTS.get(role, {}).items()):
                variables = dict(base)
                variables.update(COMMON_FIXTURES)
                variables.update(overlay)
                for name in [n for n, v in overlay.items() if v == UNDEFINED]:
                    del variables[name]
                key = "%s/%s%s" % (inv_name, host.name, "/" + variant if variant else "")
                out[key] = _render_all(loader, variables, names)
                for loop_var, items_var in LOOPS.get(role, {}).items():
                    try:
                        items = Templar(loader, variables=variables).template(variables[items_var])
                    except Exception as exc:  # noqa: BLE001 (recorded, compared)
                        out[key + "/" + loop_var] = {"!loop": _error(exc)}
                        continue
                    needing = _depending(variables, names, loop_var)
                    for item in items:
                        looped = dict(variables, **{loop_var: item})
                        label = item.get("name", item.get("title", item)) if isinstance(item, dict) else item
                        out["%s/%s=%s" % (key, loop_var, label)] = _render_all(loader, looped, needing)
    return out


def _depending(variables: dict[str, Any], names: list[str], loop_var: str) -> list[str]:
    """The vars whose definition reads ``loop_var``, directly or through other vars."""
    raw = {name: json.dumps(_plain(variables[name])) for name in names}
    found = {loop_var}
    while True:
        more = {n for n in names if n not in found and any(re.search(r"\b%s\b" % re.escape(f), raw[n]) for f in found)}
        if not more:
            return [n for n in names if n in found]
        found |= more


def _render_all(loader: DataLoader, variables: dict[str, Any], names: list[str]) -> dict[str, Any]:
    templar = Templar(loader, variables=variables)
    rendered = {}
    for name in names:
        try:
            rendered[name] = _plain(templar.template(variables[name]))
        except Exception as exc:  # noqa: BLE001 (recorded, compared)
            rendered[name] = _error(exc)
    return rendered


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Differences of two renderings ({role: {rendering: {var: value}}}): a variable gone or
    new is reported once with the number of renderings, a changed value each time."""
    lines, gone, new = [], {}, {}
    for role in sorted(set(before) | set(after)):
        for where in sorted(set(before.get(role, {})) | set(after.get(role, {}))):
            old_vars, new_vars = before.get(role, {}).get(where), after.get(role, {}).get(where)
            if old_vars is None or new_vars is None:
                lines.append("%s %s/%s (rendering %s)" % ("-" if new_vars is None else "+", role, where,
                                                          "gone" if new_vars is None else "new"))
                continue
            for name in sorted(set(old_vars) | set(new_vars)):
                if name not in new_vars:
                    gone.setdefault("%s %s" % (role, name), []).append(where)
                elif name not in old_vars:
                    new.setdefault("%s %s" % (role, name), []).append(where)
                elif old_vars[name] != new_vars[name]:
                    lines.append("~ %s/%s %s\n    before: %s\n    after:  %s"
                                 % (role, where, name, json.dumps(old_vars[name]), json.dumps(new_vars[name])))
    lines += ["- %s (gone, in %d renderings)" % (k, len(v)) for k, v in sorted(gone.items())]
    lines += ["+ %s (new, in %d renderings)" % (k, len(v)) for k, v in sorted(new.items())]
    return lines


def _base_tree(rev: str, roles: list[str], tmp: Path) -> Path:
    """A copy of this tree whose roles/<role>/vars/main.yml are those of ``rev``."""
    import shutil
    import subprocess
    here = Path(__file__).resolve().parents[2]
    base = tmp / "tree"
    for part in ("roles", "plugins", "inventories", "meta", "playbooks"):
        shutil.copytree(here / part, base / part, symlinks=True)
    for part in ("ansible.cfg", "galaxy.yml"):
        shutil.copy2(here / part, base / part)
    for role in roles:
        old = subprocess.run(["git", "-C", str(here), "show", "%s:roles/%s/vars/main.yml" % (rev, role)],
                             capture_output=True, text=True, check=True).stdout
        (base / "roles" / role / "vars" / "main.yml").write_text(old)
    link = base / ".ansible" / "collections" / "ansible_collections" / "mlstack" / "platform"
    link.parent.mkdir(parents=True)
    link.symlink_to(base)
    return base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roles", nargs="*", help="roles (default: every role with a vars/main.yml)")
    parser.add_argument("-o", "--output", help="write the rendering to this JSON file")
    parser.add_argument("--diff", help="compare with this earlier rendering; rc 1 when anything differs")
    parser.add_argument("--base", help="compare with the vars/main.yml files of this commit; rc 1 when anything differs")
    args = parser.parse_args(argv)
    roles = args.roles or sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/vars/main.yml"))
    if args.base:
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory(prefix="vars-render-") as tmp:
            base = _base_tree(args.base, roles, Path(tmp))
            args.diff = str(Path(tmp) / "base.json")
            subprocess.run([sys.executable, __file__, *roles, "-o", args.diff], check=True,
                           env=dict(os.environ, VARS_RENDER_ROOT=str(base), ANSIBLE_HOME=str(base / ".ansible")))
            return main([*roles, "--diff", args.diff] + (["-o", args.output] if args.output else []))
    context.CLIARGS = ImmutableDict(check=False, diff=False, verbosity=0)
    init_plugin_loader([os.environ["ANSIBLE_COLLECTIONS_PATH"]])
    rendered = {role: render_role(role) for role in roles}
    text = json.dumps(rendered, indent=1, sort_keys=True)
    if args.output:
        Path(args.output).write_text(text + "\n")
    if args.diff:
        before = json.loads(Path(args.diff).read_text())
        lines = _diff({r: before.get(r, {}) for r in roles}, rendered)
        shown = lines[:80] + (["... and %d more differences" % (len(lines) - 80)] if len(lines) > 80 else [])
        print("\n".join(shown) if lines else "vars_render: %s identical" % ", ".join(roles))
        return 1 if lines else 0
    if not args.output:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
