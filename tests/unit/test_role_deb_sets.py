# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""docker_host, postgres and label_studio install their .debs only through common's entry
point packages, with deb-set keys that the artifact layer (module_utils/_artifacts.py, what
bundle.yml bundles) lists for the same host: what a role installs is bundled."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.mlstack.platform.plugins.module_utils import _artifacts

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = ("docker_host", "postgres", "label_studio")


def _tasks(path):
    """Every task of a task file, blocks flattened."""
    stack = list(yaml.safe_load(path.read_text()) or [])
    while stack:
        task = stack.pop()
        for key in ("block", "rescue", "always"):
            stack.extend(task.get(key) or [])
        yield task


def _role_vars(role):
    return yaml.safe_load((ROOT / "roles" / role / "vars/main.yml").read_text())


def _render(expression, variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


@pytest.mark.parametrize("role", ROLES)
def test_no_apt_install_outside_the_entry_point(role):
    installs = []
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        for task in _tasks(path):
            apt = task.get("ansible.builtin.apt") or task.get("apt")
            if apt is not None and apt.get("state", "present") != "absent":
                installs.append("%s: %s" % (path.name, task.get("name")))
    assert not installs, "apt installs that bypass common's entry point packages: %s" % installs


def _host(source="distro", gpu="auto", install="venv"):
    return _artifacts.HostView("h", ["docker_hosts"], {
        "docker_host_source": source, "docker_host_gpu": gpu, "label_studio_install": install,
    }, "debian-bookworm")


def _bundled(rule, host):
    return {key for kind, key in rule(host) if kind == "debs"}


@pytest.mark.parametrize("source", ["distro", "upstream"])
@pytest.mark.parametrize("gpu_enabled", [True, False])
def test_docker_host_installs_what_is_bundled(source, gpu_enabled):
    variables = dict(_role_vars("docker_host"), docker_host_source=source,
                     _docker_host_gpu_enabled=gpu_enabled)
    installed = set(_render(variables["_docker_host_debs"], variables))
    # gpu auto: the bundle carries the toolkit whether or not the host turns out to have GPUs.
    bundled = _bundled(_artifacts._docker_host, _host(source, "auto"))
    assert installed <= bundled
    assert ("nvidia_container_toolkit" in installed) is gpu_enabled
    assert "docker_" + source in installed
    if not gpu_enabled:
        # gpu never: nothing bundled beyond what is installed but the repository tools.
        never = _bundled(_artifacts._docker_host, _host(source, "never"))
        assert never - installed <= {"apt_repository_tools"}


def test_docker_host_repository_tools_are_bundled_for_upstream_only():
    calls = [task for task in _tasks(ROOT / "roles/docker_host/tasks/repository-key.yml")
             if "ansible.builtin.include_role" in task]
    keys = [key for task in calls for key in task.get("vars", {}).get("common_debs", [])]
    assert keys == ["apt_repository_tools"]
    assert "apt_repository_tools" in _bundled(_artifacts._docker_host, _host("upstream"))
    assert "apt_repository_tools" not in _bundled(_artifacts._docker_host, _host("distro"))


def test_postgres_installs_what_is_bundled():
    assert set(_role_vars("postgres")["_postgres_debs"]) == _bundled(_artifacts._postgres, _host())


def test_label_studio_installs_what_is_bundled():
    calls = [task for task in _tasks(ROOT / "roles/label_studio/tasks/venv.yml")
             if "ansible.builtin.include_role" in task]
    keys = {key for task in calls for key in task.get("vars", {}).get("common_debs", [])}
    assert keys == _bundled(_artifacts._label_studio, _host(install="venv"))
