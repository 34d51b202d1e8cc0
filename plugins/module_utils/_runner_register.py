# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What gitlab_runner_register asks of gitlab-runner: the runner settings as data, the
template config for ``register --template-config``, and the command lines."""

from __future__ import annotations

import copy
import typing as t

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.mlstack.platform.plugins.module_utils._runner_config import (
    RunnerConfigError,
    check_settings,
    gpu_pod_spec,
    merge_settings,
)

ADVANCED_POD_SPEC_FLAG = "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION"
# gitlab-runner v18.5.0 network/gitlab.go: a token of a runner made through the API or UI,
# for which `unregister` deletes only this host's runner manager.
CREATED_RUNNER_TOKEN_PREFIX = "glrt-"
# [runners.docker] pull_policy values (gitlab-runner v18.5.0 common/config.go, DockerPullPolicy).
PULL_POLICIES = ("always", "if-not-present", "never")


def _set(table: t.Dict[str, t.Any], key: str, value: t.Any) -> None:
    if value is not None:
        table[key] = value


def build_settings(params: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    """The [[runners]] keys the module manages, from its parameters; ``settings`` (free-form)
    is merged last, so it can set anything gitlab-runner knows (but not what GitLab owns)."""
    check_settings(params.get("settings") or {})
    wrong = sorted(set(params.get("docker_pull_policy") or []) - set(PULL_POLICIES))
    if wrong:
        raise RunnerConfigError("docker_pull_policy holds %s; each entry must be one of %s"
                                % (", ".join(wrong), ", ".join(PULL_POLICIES)))
    settings: t.Dict[str, t.Any] = {"executor": params["executor"]}
    _set(settings, "limit", params.get("limit"))
    _set(settings, "clone_url", params.get("clone_url"))
    if params.get("feature_flags"):
        # map[string]bool in gitlab-runner v18.5.0 common/config.go: "true"/"false" become booleans.
        try:
            settings["feature_flags"] = {name: boolean(value, strict=True)
                                         for name, value in params["feature_flags"].items()}
        except TypeError as exc:
            raise RunnerConfigError("feature_flags: every value must be true or false (%s)" % exc)
    environment = dict(params.get("environment") or {})
    if params["executor"] == "docker":
        docker: t.Dict[str, t.Any] = {"privileged": bool(params.get("docker_privileged"))}
        _set(docker, "image", params.get("docker_image"))
        _set(docker, "volumes", params.get("docker_volumes"))
        _set(docker, "devices", params.get("docker_devices"))
        _set(docker, "gpus", params.get("docker_gpus"))
        policies = params.get("docker_pull_policy")
        # One policy is written as a string, which every gitlab-runner reads (v12.7.1 has a
        # single DockerPullPolicy; v18.5.0 a StringOrArray); several as a list (13.8 and later).
        _set(docker, "pull_policy", policies[0] if policies and len(policies) == 1 else policies)
        _set(docker, "extra_hosts", params.get("docker_extra_hosts"))
        settings["docker"] = docker
    elif params["executor"] == "kubernetes":
        kubernetes: t.Dict[str, t.Any] = {}
        _set(kubernetes, "namespace", params.get("kubernetes_namespace"))
        _set(kubernetes, "image", params.get("kubernetes_image"))
        _set(kubernetes, "node_selector", params.get("kubernetes_node_selector"))
        if params.get("kubernetes_gpus"):
            kubernetes["pod_spec"] = [gpu_pod_spec(params["kubernetes_gpus"])]
            environment[ADVANCED_POD_SPEC_FLAG] = "true"
        settings["kubernetes"] = kubernetes
    if environment:
        settings["environment"] = environment
    extra = copy.deepcopy(params.get("settings") or {})
    merge_settings(settings, extra, [])
    return settings


def template_document(settings: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    """The ``--template-config`` file: one [[runners]] entry holding the executor settings
    (``environment`` as the list gitlab-runner writes)."""
    entry = copy.deepcopy(settings)
    if isinstance(entry.get("environment"), dict):
        entry["environment"] = ["%s=%s" % item for item in entry["environment"].items()]
    return {"runners": [entry]}


def register_argv(prefix: t.List[str], config: str, template: str, params: t.Dict[str, t.Any]) -> t.List[str]:
    argv = prefix + ["register", "--non-interactive", "--config", config, "--template-config", template,
                     "--url", params["url"], "--name", params["name"], "--executor", params["executor"]]
    if params["executor"] == "docker" and params.get("docker_image"):
        argv += ["--docker-image", params["docker_image"]]
    if params.get("token"):
        return argv + ["--token", params["token"]]
    argv += ["--registration-token", params["registration_token"]]
    if params.get("tag_list") is not None:
        argv += ["--tag-list", ",".join(params["tag_list"])]
    for key in ("run_untagged", "locked"):
        if params.get(key) is not None:
            argv.append("--%s=%s" % (key.replace("_", "-"), "true" if params[key] else "false"))
    if params.get("access_level"):
        argv += ["--access-level", params["access_level"]]
    return argv


def unregister_argv(prefix: t.List[str], config: str, url: str, token: str) -> t.List[str]:
    return prefix + ["unregister", "--config", config, "--url", url, "--token", token]
