#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: gitlab_runner_register
short_description: Register a gitlab-runner idempotently and manage its config.toml settings as data
version_added: 0.1.0
description:
  - Reads gitlab-runner's C(config.toml) as structured data (with a TOML reader and writer of
    its own, so the host needs no TOML library) and finds the runner by O(url) and O(token), or
    by O(url) and O(name) with a legacy O(registration_token) (the token in C(config.toml) is then
    the one GitLab issued, not the registration token).
  - Runs C(gitlab-runner register --non-interactive) only when the runner is missing, with
    C(--token) (the new workflow; get the token with M(mlstack.platform.gitlab_runner_token)) or
    C(--registration-token) (legacy, for MLReef Nautilus and old GitLab), and a
    C(--template-config) holding the executor settings. It runs on the host, or inside the
    runner's container with C(docker exec) when O(container) is set.
  - Then manages the runner's C([[runners]]) entry as data, that is the executor, docker image,
    privileged mode (opt-in), volumes, devices, C(gpus = "all") for the docker executor on GPU
    hosts, kubernetes namespace, node selector and a C(pod_spec) GPU request, the per-runner job
    limit, environment, and the global C(concurrent). Keys the module is not asked about pass
    through untouched; C(id), C(token), C(token_obtained_at) and C(token_expires_at) belong to
    GitLab and gitlab-runner and are never changed. The file is written only when its data
    changes, atomically (a temporary file in the same directory renamed over it), with its
    mode and owner kept (C(0600) for a new file).
  - With a new O(token), an entry of the same O(url) and O(name) holding another token (the runner
    was re-created or its token reset) is removed after the registration, so one name means one runner.
  - O(state=absent) runs C(gitlab-runner unregister) and removes the entry. For a runner made
    through GitLab's API (a C(glrt-) token) gitlab-runner deletes only this host's runner manager
    (C(DELETE /api/v4/runners/managers); gitlab-runner v18.5.0 C(commands/unregister.go),
    C(network/gitlab.go)), so the runner itself stays on GitLab; with O(api_token) the module then
    deletes it (C(DELETE /api/v4/runners/:id), the ID from C(config.toml)). Without O(api_token)
    such a runner stays on GitLab, without a manager, until deleted there (the module warns), and
    M(mlstack.platform.gitlab_runner_token) would later find it by its description with no token
    for it. A legacy runner (registration token) is deleted by C(unregister) itself.
  - If C(unregister) fails (GitLab unreachable, token already revoked) or gitlab-runner is not
    installed, the task fails, unless O(force_remove=true), which then removes the entry from
    C(config.toml) and, with O(api_token), still deletes the runner through the API.
author:
  - mlstack.platform developers (@mlstack)
options:
  state:
    description:
      - V(present) registers the runner if missing and manages its settings; V(absent) unregisters it.
    type: str
    choices: [present, absent]
    default: present
  url:
    description:
      - GitLab's URL as the runner reaches it (C(--url)), for example C(https://gitlab.example.com)
        or C(http://mlreef:10080). Trailing slashes do not matter for matching.
    type: str
    required: true
  token:
    description:
      - The runner's authentication token (new workflow; often C(glrt-...), but instances can
        configure another prefix). Identifies the runner in C(config.toml).
      - Mutually exclusive with O(registration_token).
    type: str
  registration_token:
    description:
      - A legacy registration token (GitLab before 17.0, or with registration tokens re-enabled;
        MLReef Nautilus). The runner is then identified by O(url) and O(name).
    type: str
  name:
    description:
      - The runner's name in C(config.toml) (C(--name); with a registration token also its
        description on GitLab).
    type: str
    required: true
  config_path:
    description:
      - C(config.toml) as this host sees it. With O(container), the host path of the file the
        container sees as O(container_config_path) (a bind mount of its directory).
    type: path
    default: /etc/gitlab-runner/config.toml
  container:
    description:
      - Run C(gitlab-runner) inside this container (C(docker exec)), as with the
        C(gitlab/gitlab-runner) image.
    type: str
  container_config_path:
    description:
      - C(config.toml) as the container sees it, for O(container).
    type: str
    default: /etc/gitlab-runner/config.toml
  gitlab_runner_path:
    description:
      - Path of C(gitlab-runner) on the host (without O(container)). Looked up on E(PATH) if not set.
    type: path
  docker_path:
    description:
      - Path of the C(docker) CLI, for O(container). Looked up on E(PATH) if not set.
    type: path
  executor:
    description:
      - The runner's executor.
    type: str
    choices: [docker, shell, kubernetes]
    default: docker
  docker_image:
    description:
      - Default image of jobs (C([runners.docker] image)); needed to register a docker runner.
    type: str
  docker_privileged:
    description:
      - Run job containers privileged (C([runners.docker] privileged)). Off unless asked, because a
        privileged job can take over the host.
    type: bool
    default: false
  docker_volumes:
    description:
      - C([runners.docker] volumes), the whole list (for example C(/cache)). Mounting
        C(/var/run/docker.sock) gives jobs the host's Docker; do it only when needed.
      - Not set means "as config.toml has it".
    type: list
    elements: str
  docker_devices:
    description:
      - C([runners.docker] devices), the whole list. Not set means "as config.toml has it".
    type: list
    elements: str
  docker_gpus:
    description:
      - C([runners.docker] gpus), GitLab's documented GPU setting for the docker executor;
        V(all) on GPU hosts (needs the NVIDIA container toolkit). Not set means "as config.toml has it".
    type: str
  kubernetes_namespace:
    description:
      - C([runners.kubernetes] namespace) for V(executor=kubernetes).
    type: str
  kubernetes_image:
    description:
      - C([runners.kubernetes] image), the default job image for V(executor=kubernetes).
    type: str
  kubernetes_node_selector:
    description:
      - "C([runners.kubernetes.node_selector]), for example C({\"nvidia.com/gpu.present\": \"true\"})."
    type: dict
  kubernetes_gpus:
    description:
      - NVIDIA GPUs each job's build container requests (C(nvidia.com/gpu) requests and limits),
        through a C([[runners.kubernetes.pod_spec]]) patch named C(mlstack-gpus), and the
        C(FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=true) feature flag it needs in C(environment).
        Other C(pod_spec) entries are kept.
    type: int
  limit:
    description:
      - Jobs this runner handles at once (C(limit) of the entry). Not set means "as config.toml has it".
    type: int
  concurrent:
    description:
      - The global C(concurrent) (jobs of all runners of this gitlab-runner at once). Not set
        means "as config.toml has it".
    type: int
  environment:
    description:
      - Variables set in the entry's C(environment) list (others in the list are kept).
    type: dict
  settings:
    description:
      - Further keys of the C([[runners]]) entry, merged into it (tables key by key, other values
        replaced), for example C(output_limit), or C(shm_size) in a C(docker) dictionary.
      - May not set C(id), C(token), C(token_obtained_at) or C(token_expires_at).
    type: dict
  tag_list:
    description:
      - Tags, passed to C(register) with a O(registration_token) only. With the new workflow tags
        are kept on GitLab; set them with M(mlstack.platform.gitlab_runner_token).
    type: list
    elements: str
  run_untagged:
    description:
      - Take untagged jobs; passed to C(register) with a O(registration_token) only.
    type: bool
  locked:
    description:
      - Lock the runner to its project; passed to C(register) with a O(registration_token) only.
    type: bool
  access_level:
    description:
      - V(ref_protected) runs only protected refs; passed to C(register) with a O(registration_token) only.
    type: str
    choices: [not_protected, ref_protected]
  clone_url:
    description:
      - C(clone_url) of the entry, the address jobs clone from instead of the one GitLab names
        (its C(external_url)), for example when GitLab's URL is not reachable from job containers
        (MLReef Nautilus says C(http://localhost:10080) unless its C(INSTANCE_HOST) is set).
        Not set means "as config.toml has it".
    type: str
  feature_flags:
    description:
      - "C([runners.feature_flags]), gitlab-runner's feature flags for this runner, for example
        C({FF_NETWORK_PER_BUILD: true}); flags not named are kept. Not set means \"as config.toml has it\"."
    type: dict
  docker_pull_policy:
    description:
      - C([runners.docker] pull_policy), the whole list, each V(always), V(if-not-present) or
        V(never) (the first is used, the next ones when it fails). Offline sites want
        V(if-not-present) or V(never). Not set means "as config.toml has it".
    type: list
    elements: str
  docker_extra_hosts:
    description:
      - C([runners.docker] extra_hosts), the whole list of C(name:address) entries job containers
        resolve without DNS. Not set means "as config.toml has it".
    type: list
    elements: str
  api_url:
    description:
      - GitLab's address for the API call of O(state=absent) (default O(url)).
    type: str
  api_token:
    description:
      - With O(state=absent), an access token with the C(api) or C(manage_runner) scope (of an
        administrator for an instance runner, of the group's Owner or the project's Maintainer
        otherwise) to delete the runner on GitLab (C(DELETE /api/v4/runners/:id)) after
        C(gitlab-runner unregister). Not used with O(state=present).
    type: str
  api_token_type:
    description:
      - V(private) sends O(api_token) as C(PRIVATE-TOKEN), V(oauth) as a C(Bearer) token.
    type: str
    choices: [private, oauth]
    default: private
  validate_certs:
    description:
      - Verify GitLab's TLS certificate on the API call.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates that sign GitLab's certificate, for the API call.
    type: path
  force_remove:
    description:
      - With O(state=absent), remove the entry from C(config.toml) when C(gitlab-runner unregister)
        fails or gitlab-runner is not installed (the runner stays on GitLab).
    type: bool
    default: false
requirements:
  - C(gitlab-runner) on the host, or O(container) running the gitlab-runner image and the
    C(docker) CLI, to register and unregister. Managing settings of a registered runner needs neither.
attributes:
  check_mode:
    support: full
    description: Reports whether the runner would be registered or unregistered and which keys would
      change, and shows the predicted C(config.toml) in the diff, without running gitlab-runner or
      writing the file.
  diff_mode:
    support: full
    description: Shows C(config.toml) before and after as TOML, with every token, password and
      secret key masked.
  idempotent:
    support: full
    description: A second run finds the runner by URL and token and changes nothing.
notes:
  - gitlab-runner reloads C(config.toml) when it changes; restart it only if your setup needs it
    (RV(changed_keys) says what changed).
  - Comments in C(config.toml) are not kept when the module rewrites the file (gitlab-runner
    itself drops them too).
seealso:
  - module: mlstack.platform.gitlab_runner_token
  - name: GitLab Runner advanced configuration
    description: Every key of C(config.toml).
    link: https://docs.gitlab.com/runner/configuration/advanced-configuration/
  - name: Using GPUs with GitLab Runner
    description: The C(gpus) setting of the docker executor.
    link: https://docs.gitlab.com/runner/configuration/gpus/
"""

EXAMPLES = r"""
- name: Register a GPU docker runner with the token from gitlab_runner_token
  mlstack.platform.gitlab_runner_register:
    url: https://gitlab.example.com
    token: "{{ runner_token.token | default(stored_runner_token) }}"
    name: gpu-host-1
    docker_image: nvidia/cuda:12.4.1-base-ubuntu22.04
    docker_gpus: all
    docker_volumes: [/cache]
    concurrent: 4
  no_log: true

- name: Register a runner inside the gitlab-runner container with MLReef's legacy token
  mlstack.platform.gitlab_runner_register:
    url: http://mlreef.example.com:10080
    registration_token: "{{ nautilus_token.token }}"
    name: ml-runner-1
    container: ml-runner
    config_path: /srv/gitlab-runner/config/config.toml
    docker_image: alpine:3.20
    tag_list: [docker, local-docker]
    run_untagged: true
    locked: false
  no_log: true

- name: A kubernetes runner whose jobs ask for one GPU each
  mlstack.platform.gitlab_runner_register:
    url: https://gitlab.example.com
    token: "{{ k8s_runner_token }}"
    name: k8s-gpu
    executor: kubernetes
    kubernetes_namespace: gitlab-ci
    kubernetes_gpus: 1
    kubernetes_node_selector:
      nvidia.com/gpu.present: "true"
  no_log: true

- name: Unregister a runner and delete it on GitLab
  mlstack.platform.gitlab_runner_register:
    state: absent
    url: https://gitlab.example.com
    name: old-runner
    api_token: "{{ gitlab_admin_token }}"
  no_log: true

- name: A runner of MLReef Nautilus whose jobs clone from its real address, offline
  mlstack.platform.gitlab_runner_register:
    url: http://mlreef.example.com:10080
    registration_token: "{{ nautilus_token.token }}"
    name: ml-runner-2
    docker_image: alpine:3.20
    clone_url: http://10.0.0.5:10080
    docker_pull_policy: [if-not-present]
    docker_extra_hosts: ["mlreef.example.com:10.0.0.5"]
    feature_flags:
      FF_NETWORK_PER_BUILD: true
  no_log: true
"""

RETURN = r"""
registered:
  description: Whether C(gitlab-runner register) was (or in check mode would be) run.
  returned: always
  type: bool
  sample: false
deleted_on_gitlab:
  description: IDs of the runners deleted (or that would be) on GitLab through the API with O(api_token).
  returned: always
  type: list
  elements: int
  sample: [42]
unregistered:
  description: The names of the entries that were (or would be) unregistered or removed.
  returned: always
  type: list
  elements: str
  sample: []
changed_keys:
  description:
    - Keys of the runner's entry that the module set (or would set) as data, as dotted paths
      (C(docker.gpus), C(kubernetes.pod_spec[mlstack-gpus])), and C(concurrent) for the global one.
      After a registration, the keys gitlab-runner did not already write from the template.
  returned: always
  type: list
  elements: str
  sample: [docker.gpus, concurrent]
runner:
  description:
    - The runner's C([[runners]]) entry after the run, with C(token) and any other secret masked
      (C(********)); empty with O(state=absent).
  returned: always
  type: dict
  sample: {"name": "gpu-host-1", "url": "https://gitlab.example.com", "id": 42, "token": "********",
           "executor": "docker", "docker": {"image": "nvidia/cuda:12.4.1-base-ubuntu22.04", "gpus": "all"}}
"""

import contextlib
import copy
import os
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._gitlab_api import REGISTRATION_DISABLED_HINT, GitlabApi
from ansible_collections.mlstack.platform.plugins.module_utils._gitlab_runners import (
    RunnerTokenError,
    delete_runner,
    runner_id_of_token,
)
from ansible_collections.mlstack.platform.plugins.module_utils._runner_config import (
    RunnerConfigError,
    apply_runner_settings,
    find_runners,
    masked_text,
    public_runner,
    read_config,
    runners,
    write_atomic,
)
from ansible_collections.mlstack.platform.plugins.module_utils._runner_register import (
    CREATED_RUNNER_TOKEN_PREFIX,
    build_settings,
    register_argv,
    template_document,
    unregister_argv,
)
from ansible_collections.mlstack.platform.plugins.module_utils._runner_toml import dumps

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    url=dict(type="str", required=True),
    token=dict(type="str", no_log=True),
    registration_token=dict(type="str", no_log=True),
    name=dict(type="str", required=True),
    config_path=dict(type="path", default="/etc/gitlab-runner/config.toml"),
    container=dict(type="str"),
    container_config_path=dict(type="str", default="/etc/gitlab-runner/config.toml"),
    gitlab_runner_path=dict(type="path"),
    docker_path=dict(type="path"),
    executor=dict(type="str", choices=["docker", "shell", "kubernetes"], default="docker"),
    docker_image=dict(type="str"),
    docker_privileged=dict(type="bool", default=False),
    docker_volumes=dict(type="list", elements="str"),
    docker_devices=dict(type="list", elements="str"),
    docker_gpus=dict(type="str"),
    kubernetes_namespace=dict(type="str"),
    kubernetes_image=dict(type="str"),
    kubernetes_node_selector=dict(type="dict"),
    kubernetes_gpus=dict(type="int"),
    limit=dict(type="int"),
    concurrent=dict(type="int"),
    environment=dict(type="dict"),
    settings=dict(type="dict"),
    tag_list=dict(type="list", elements="str"),
    run_untagged=dict(type="bool"),
    locked=dict(type="bool"),
    access_level=dict(type="str", choices=["not_protected", "ref_protected"]),
    clone_url=dict(type="str"),
    feature_flags=dict(type="dict"),
    docker_pull_policy=dict(type="list", elements="str"),
    docker_extra_hosts=dict(type="list", elements="str"),
    api_url=dict(type="str"),
    api_token=dict(type="str", no_log=True),
    api_token_type=dict(type="str", choices=["private", "oauth"], default="private"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    force_remove=dict(type="bool", default=False),
)


class RunnerRegistration:
    """One run of the module: plan from config.toml, register or unregister through
    gitlab-runner, then bring the entry's settings to what is asked."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.path = self.params["config_path"]
        self.before_text, self.document = self.read()
        self.before = copy.deepcopy(self.document)
        self.result: t.Dict[str, t.Any] = dict(changed=False, registered=False, unregistered=[], changed_keys=[],
                                               runner={}, deleted_on_gitlab=[])

    def read(self) -> t.Tuple[str, t.Dict[str, t.Any]]:
        try:
            return read_config(self.path)
        except RunnerConfigError as exc:
            self.module.fail_json(msg=str(exc))
            raise

    # -- gitlab-runner ------------------------------------------------------------
    def cli_prefix(self, required: bool = True) -> t.Optional[t.List[str]]:
        if self.params["container"]:
            docker = self.params["docker_path"] or self.module.get_bin_path("docker", required=required)
            return [docker, "exec", self.params["container"], "gitlab-runner"] if docker else None
        binary = self.params["gitlab_runner_path"] or self.module.get_bin_path("gitlab-runner", required=required)
        return [binary] if binary else None

    def cli_config_path(self) -> str:
        return self.params["container_config_path"] if self.params["container"] else self.path

    def run(self, argv: t.List[str]) -> t.Tuple[int, str]:
        rc, out, err = self.module.run_command(argv)
        output = "\n".join(part.strip() for part in (out, err) if part and part.strip())
        return rc, output

    @contextlib.contextmanager
    def template(self, settings: t.Dict[str, t.Any]) -> t.Iterator[str]:
        """The template config, written next to config.toml so a container sees it through the
        same bind mount; yields its path as gitlab-runner sees it."""
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        handle, path = tempfile.mkstemp(prefix=".mlstack-template-", suffix=".toml", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(dumps(template_document(settings)))
            name = os.path.basename(path)
            yield os.path.join(os.path.dirname(self.cli_config_path()), name) if self.params["container"] else path
        finally:
            os.unlink(path)

    # -- present ------------------------------------------------------------------
    def locate(self) -> t.List[int]:
        if self.params["token"]:
            return find_runners(self.document, self.params["url"], token=self.params["token"])
        return find_runners(self.document, self.params["url"], name=self.params["name"])

    def register(self, settings: t.Dict[str, t.Any]) -> int:
        self.result["registered"] = True
        if self.module.check_mode:
            entry = {"name": self.params["name"], "url": self.params["url"],
                     "token": self.params["token"] or "(issued at registration)"}
            self.document.setdefault("runners", []).append(entry)
            return len(self.document["runners"]) - 1
        with self.template(settings) as template:
            rc, output = self.run(register_argv(self.cli_prefix(), self.cli_config_path(), template, self.params))
        if rc != 0:
            hint = ("; " + REGISTRATION_DISABLED_HINT) if "410" in output else ""
            self.module.fail_json(msg="gitlab-runner register failed (rc=%d): %s%s" % (rc, output[-1500:], hint))
        self.document = self.read()[1]
        found = self.locate()
        if self.params["registration_token"]:
            found = found[-1:]  # the entry register appended
        if not found:
            self.module.fail_json(msg="gitlab-runner register succeeded but %s has no entry for %s named %s; "
                                      "is config_path the file gitlab-runner writes (container_config_path inside "
                                      "the container)?" % (self.path, self.params["url"], self.params["name"]))
        return found[0]

    def remove_stale(self, keep: int) -> None:
        """Entries with the same URL and name but another token: replaced by this registration."""
        if not self.params["token"]:
            return
        entries = runners(self.document)
        kept_entry = entries[keep]
        stale = [entries[index] for index in find_runners(self.document, self.params["url"], name=self.params["name"])
                 if entries[index] is not kept_entry]
        if stale:
            self.document["runners"] = [entry for entry in entries if not any(entry is old for old in stale)]
            self.result["unregistered"] = ["%s (id %s)" % (old.get("name"), old.get("id")) for old in stale]

    def present(self) -> None:
        try:
            settings = build_settings(self.params)
        except RunnerConfigError as exc:
            self.module.fail_json(msg=str(exc))
        found = self.locate()
        if len(found) > 1:
            self.module.fail_json(msg="%s has %d entries for %s named %s; remove the extra ones (gitlab-runner "
                                      "unregister) so the runner can be identified"
                                      % (self.path, len(found), self.params["url"], self.params["name"]))
        index = found[0] if found else self.register(settings)
        registered_text = dumps(self.document)
        try:
            changed = apply_runner_settings(self.document, index, settings, self.params["concurrent"])
        except RunnerConfigError as exc:
            self.module.fail_json(msg=str(exc))
        entry = runners(self.document)[index]
        self.remove_stale(index)
        self.result["changed_keys"] = changed
        self.result["runner"] = public_runner(entry)
        if dumps(self.document) != registered_text:
            self.write()
        self.result["changed"] = self.result["registered"] or bool(changed) or bool(self.result["unregistered"])

    # -- absent -------------------------------------------------------------------
    def absent(self) -> None:
        found = self.locate()
        entries = [runners(self.document)[index] for index in found]
        if not entries:
            return
        self.result["changed"] = True
        self.result["unregistered"] = [entry.get("name") for entry in entries]
        remaining = [entry for entry in runners(self.document) if not any(entry is gone for gone in entries)]
        api = self.api()
        if self.module.check_mode:
            self.document["runners"] = remaining
            if api is not None:
                self.result["deleted_on_gitlab"] = [entry["id"] for entry in entries if isinstance(entry.get("id"), int)]
            return
        prefix = self.cli_prefix(required=not self.params["force_remove"])
        failures = []
        for entry in entries:
            if prefix is None:
                failures.append("gitlab-runner is not installed")
                continue
            rc, output = self.run(unregister_argv(prefix, self.cli_config_path(), entry.get("url", ""),
                                                  entry.get("token", "")))
            if rc != 0:
                failures.append("gitlab-runner unregister of %s failed (rc=%d): %s" % (entry.get("name"), rc, output[-800:]))
        if failures and not self.params["force_remove"]:
            self.module.fail_json(msg="; ".join(failures) + "; set force_remove=true to remove the entry from "
                                  "config.toml anyway (the runner then stays on GitLab)", **self.result)
        for failure in failures:
            self.module.warn(failure + ("; removed the entry from config.toml" if api is not None else
                                        "; removed the entry from config.toml only: delete the runner on GitLab"))
        self.delete_on_gitlab(api, entries)
        current = self.read()[1]
        tokens = set(entry.get("token") for entry in entries)
        left = [entry for entry in runners(current) if entry.get("token") not in tokens]
        if len(left) != len(runners(current)):
            current["runners"] = left
            self.document = current
            self.write()
        else:
            self.document = current

    def api(self) -> t.Optional[GitlabApi]:
        if not self.params["api_token"]:
            return None
        return GitlabApi(self.params["api_url"] or self.params["url"], self.params["api_token"],
                         self.params["api_token_type"], validate_certs=self.params["validate_certs"],
                         ca_path=self.params["ca_path"])

    def delete_on_gitlab(self, api: t.Optional[GitlabApi], entries: t.List[t.Dict[str, t.Any]]) -> None:
        """Delete each runner itself (gitlab-runner's unregister of a glrt- token deleted only this
        host's manager); one already gone (a legacy runner unregister deleted) is not reported."""
        created = [entry for entry in entries if str(entry.get("token", "")).startswith(CREATED_RUNNER_TOKEN_PREFIX)]
        if api is None:
            if created:
                self.module.warn("%s stay(s) on GitLab: gitlab-runner unregister deletes only this host's runner "
                                 "manager for a glrt- token; give api_token to delete the runner too, or delete it "
                                 "on GitLab" % ", ".join(str(entry.get("name")) for entry in created))
            return
        for entry in entries:
            runner_id = entry.get("id") if isinstance(entry.get("id"), int) else None
            try:
                if runner_id is None and entry.get("token"):
                    runner_id = runner_id_of_token(api, entry["token"])
                if runner_id is not None and delete_runner(api, runner_id):
                    self.result["deleted_on_gitlab"].append(runner_id)
            except RunnerTokenError as exc:
                self.module.fail_json(msg="deleting runner %s (id %s) on GitLab failed: %s; its entry in %s was "
                                          "unregistered" % (entry.get("name"), runner_id, exc, self.path),
                                      **self.result)

    def write(self) -> None:
        if self.module.check_mode:
            return
        try:
            write_atomic(self.path, dumps(self.document))
        except RunnerConfigError as exc:
            self.module.fail_json(msg=str(exc))

    def finish(self) -> None:
        if self.module._diff:
            self.result["diff"] = dict(before=masked_text(self.before), after=masked_text(self.document),
                                       before_header=self.path, after_header=self.path)
        self.module.exit_json(**self.result)


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("token", "registration_token")],
        required_if=[("state", "present", ("token", "registration_token"), True)],
    )
    registration = RunnerRegistration(module)
    if module.params["state"] == "present":
        registration.present()
    else:
        registration.absent()
    registration.finish()


if __name__ == "__main__":
    main()
