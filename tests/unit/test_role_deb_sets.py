# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""docker_host, postgres, label_studio, gitlab_runner and microk8s_gpu install their .debs
only through common's entry point packages, with deb-set keys that the artifact layer
(module_utils/_artifacts.py, what bundle.yml bundles) lists for the same host: what a role
installs is bundled."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.mlstack.platform.plugins.module_utils import _artifacts

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = ("docker_host", "postgres", "label_studio", "gitlab_runner", "microk8s_gpu")


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


def _host(source="distro", gpu="auto", install="venv", runner_install="container", target="debian-bookworm",
          nvidia="auto"):
    return _artifacts.HostView("h", ["docker_hosts"], {
        "docker_host_source": source, "docker_host_gpu": gpu, "label_studio_install": install,
        "gitlab_runner_install": runner_install, "gitlab_runner_server": "gitlab", "gitlab_runner_nautilus_pin": True,
        "microk8s_gpu_nvidia": nvidia,
    }, target)


def _entry_point_debs(role, task_file):
    """The deb-set keys a task file hands to common's entry point packages."""
    calls = [task for task in _tasks(ROOT / "roles" / role / "tasks" / task_file)
             if (task.get("ansible.builtin.include_role") or {}).get("tasks_from") == "packages"]
    assert calls, "%s/tasks/%s calls common's entry point packages nowhere" % (role, task_file)
    return {key for task in calls for key in task.get("vars", {}).get("common_debs", [])}


def _entry_point_files(role):
    """The task files of ``role`` that install .debs through common's entry point."""
    return sorted(path.name for path in (ROOT / "roles" / role / "tasks").glob("*.yml")
                  if any((task.get("ansible.builtin.include_role") or {}).get("tasks_from") == "packages"
                         for task in _tasks(path)))


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


def test_gitlab_runner_installs_what_is_bundled():
    """Package mode: package.yml's deb sets are exactly the bundled ones, and only package
    mode includes it; container mode bundles no .debs at all."""
    assert _entry_point_files("gitlab_runner") == ["package.yml"]
    assert _entry_point_debs("gitlab_runner", "package.yml") == _bundled(_artifacts._gitlab_runner,
                                                                         _host(runner_install="package"))
    assert _bundled(_artifacts._gitlab_runner, _host(runner_install="container")) == set()
    main = [task for task in _tasks(ROOT / "roles/gitlab_runner/tasks/main.yml")
            if task.get("ansible.builtin.include_tasks") == "package.yml"]
    assert len(main) == 1
    variables = {key: trust_as_template(value) if isinstance(value, str) else value
                 for key, value in _role_vars("gitlab_runner").items()}
    for install, included in (("package", True), ("container", False)):
        variables["gitlab_runner_install"] = install
        condition = "{{ %s }}" % main[0]["when"]
        assert _render(condition, variables) is included, install
    # The versioned set installs the manifest's pinned version (the bundle resolves that one).
    manifest = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())["mlstack_artifacts_builtin"]
    assert manifest["debs"]["gitlab_runner"]["version"]
    assert manifest["debs"]["gitlab_runner"]["repository"] in manifest["apt_repositories"]


@pytest.mark.parametrize("target, bundled", [("debian-bookworm", {"snapd"}), ("ubuntu-noble", set()),
                                             ("ubuntu-jammy", set())])
def test_microk8s_gpu_installs_what_is_bundled(target, bundled):
    """snapd.yml installs the deb set snapd (only where the host has no snap command);
    the bundle carries it for Debian targets, which have none, and not for Ubuntu, which
    ships snapd."""
    assert _entry_point_files("microk8s_gpu") == ["snapd.yml"]
    assert _entry_point_debs("microk8s_gpu", "snapd.yml") == {"snapd"}
    assert _bundled(_artifacts._microk8s_gpu, _host(target=target)) == bundled
    install = [task for task in _tasks(ROOT / "roles/microk8s_gpu/tasks/snapd.yml")
               if (task.get("ansible.builtin.include_role") or {}).get("tasks_from") == "packages"]
    assert install[0]["when"] == "_microk8s_gpu_snap_cmd.rc != 0"
