#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: gitlab_runner_token
short_description: Obtain a token to register a GitLab runner with, idempotently
version_added: 0.1.0
description:
  - V(mode=create) (the default; GitLab 15.10 and later, and the only way from GitLab 17.0
    unless an administrator re-enables registration tokens) creates a runner through the
    REST API (C(POST /api/v4/user/runners)) and returns its authentication token, which
    C(gitlab-runner register --token) takes (see M(mlstack.platform.gitlab_runner_register)).
  - The runner is identified by its O(description) within its scope (the instance, a group or
    a project). When it exists already, its settings are brought to what is asked in place
    (C(PUT /api/v4/runners/:id)) and RV(updated_keys) names what changed.
  - GitLab shows a runner's token only once, when it is created. For an existing runner the
    module needs the token where it was stored (for example the C(token) of the runner's entry
    in the host's C(config.toml)), passed as O(token); it checks it with
    C(POST /api/v4/runners/verify). If no valid token is known the task fails, or with
    O(rotate_if_unknown=true) resets the token
    (C(POST /api/v4/runners/:id/reset_authentication_token)) and returns the new one.
  - V(mode=registration_token) (legacy; MLReef Nautilus and GitLab before 15.10) reads a
    registration token, which C(gitlab-runner register --registration-token) takes. The
    instance's token is read through the Rails console in the GitLab container, as the
    MLReef documentation does it
    (C(docker exec <container> gitlab-rails runner -e production "puts ...runners_registration_token"));
    a group's or project's token can be read over the API (C(runners_token) of the group or project).
  - Requests that fail with a 5xx answer or a connection error are retried O(retries) times,
    waiting O(retry_delay) seconds and twice as long after each attempt.
  - The token's format is not checked; GitLab instances can configure a token prefix other
    than C(glrt-). gitlab-runner, however, decides by the prefix C(glrt-) alone whether a token
    is an authentication token of a runner made through the API (gitlab-runner v18.5.0
    C(network/gitlab.go), C(TokenIsCreatedRunnerToken)); with another prefix it treats the token
    as a legacy one, for example C(unregister) then deletes the whole runner instead of this
    host's runner manager, and C(register --token) runs the legacy checks.
  - A runner is found by its O(description) among the scope's own runners. GitLab's listing of
    a group also holds its ancestor groups' runners and a project's listing the runners of other
    projects assigned to it, so each candidate's C(groups) and C(projects) (C(GET /runners/:id))
    are compared with O(group_id) or O(project_id).
author:
  - mlstack.platform developers (@mlstack)
options:
  mode:
    description:
      - V(create) creates (or finds) a runner and returns its authentication token.
      - V(registration_token) returns the legacy registration token of the instance, a group or a project.
    type: str
    choices: [create, registration_token]
    default: create
  api_url:
    description:
      - GitLab's address, for example C(https://gitlab.example.com) (without C(/api/v4)).
      - Required for V(mode=create) and for O(registration_token_source=api).
    type: str
  api_token:
    description:
      - An access token. V(mode=create) lists runners (C(GET /runners/all), C(/groups/:id/runners),
        C(/projects/:id/runners)) and reads them (C(GET /runners/:id)), which needs the C(api) or
        C(read_api) scope (a token with C(create_runner) alone gets 403 there), creates runners
        (C(create_runner) or C(api)) and updates or resets them (C(api), or C(manage_runner)).
        So C(api) alone, or C(read_api) with C(create_runner) and C(manage_runner), will do.
        Reading a group's or project's registration token needs C(api) or C(read_api).
      - An instance runner needs an administrator's token; a group or project runner a token of
        an Owner or Maintainer.
    type: str
  api_token_type:
    description:
      - V(private) sends O(api_token) as C(PRIVATE-TOKEN) (personal, group and project access
        tokens); V(oauth) in an C(Authorization) header as a C(Bearer) token.
    type: str
    choices: [private, oauth]
    default: private
  validate_certs:
    description:
      - Verify GitLab's TLS certificate. Keep this on and give a private CA as O(ca_path).
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates that sign GitLab's certificate.
    type: path
  timeout:
    description:
      - Seconds to wait for each answer.
    type: int
    default: 30
  retries:
    description:
      - How many times a request is repeated after a 5xx answer or a connection error.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds to wait before the first retry; each further retry waits twice as long.
    type: float
    default: 1.0
  runner_type:
    description:
      - The runner's scope. V(instance_type) needs an administrator's token and lists runners
        with C(GET /api/v4/runners/all).
    type: str
    choices: [instance_type, group_type, project_type]
    default: instance_type
  group_id:
    description:
      - The group's ID or full path, for V(runner_type=group_type).
    type: str
  project_id:
    description:
      - The project's ID or full path (C(group/project)), for V(runner_type=project_type).
    type: str
  description:
    description:
      - The runner's description, which identifies it within its scope. Required for V(mode=create).
    type: str
  tag_list:
    description:
      - The runner's tags. Not set means "as GitLab has them" (none for a new runner).
    type: list
    elements: str
  run_untagged:
    description:
      - Whether the runner takes jobs without tags. Not set means "as GitLab has it".
    type: bool
  locked:
    description:
      - Whether the runner is locked to its current projects. Not set means "as GitLab has it".
    type: bool
  paused:
    description:
      - Whether the runner is paused (takes no jobs). Not set means "as GitLab has it".
    type: bool
  access_level:
    description:
      - V(ref_protected) runs only jobs of protected branches and tags. Not set means "as GitLab has it".
    type: str
    choices: [not_protected, ref_protected]
  maximum_timeout:
    description:
      - Longest job the runner takes, in seconds (at least 600). Not set means "as GitLab has it".
    type: int
  token:
    description:
      - The existing runner's authentication token as it was stored (usually the C(token) of
        its entry in C(config.toml)). Checked with C(POST /api/v4/runners/verify).
    type: str
  system_id:
    description:
      - The system ID of the gitlab-runner that uses O(token) (C(s_) or C(r_) and 12 letters or
        digits), sent with C(POST /api/v4/runners/verify). GitLab makes or heartbeats the runner
        manager of that ID on every verify, and without one a manager named C(<legacy>) with the
        address of the host the module runs on (gitlabhq C(lib/api/ci/helpers/runner.rb)), which
        then shows on the runner's page as a second, phantom machine.
      - Mutually exclusive with O(system_id_file).
    type: str
  system_id_file:
    description:
      - The file gitlab-runner keeps its system ID in, C(.runner_system_id) beside its
        C(config.toml) (for example C(/etc/gitlab-runner/.runner_system_id)); read for
        O(system_id). When it is missing or holds no valid ID, a new one is made the way
        gitlab-runner makes it (C(s_) and 12 hex digits of an HMAC of the machine ID, else C(r_)
        and 12 random characters) and written there with mode C(0600), so gitlab-runner, which
        reads that file first, registers and runs with the same ID. In check mode the file is
        not written.
    type: path
  rotate_if_unknown:
    description:
      - When the runner exists and O(token) is not given or not valid, reset its token and
        return the new one instead of failing. A gitlab-runner that still uses the old token
        stops working until it is registered with the new one.
    type: bool
    default: false
  registration_token_source:
    description:
      - Where V(mode=registration_token) reads the token from.
      - V(container) runs the Rails console in O(container) (the instance's token; takes about a minute).
      - V(api) reads C(runners_token) of O(group_id) or O(project_id).
    type: str
    choices: [container, api]
    default: container
  container:
    description:
      - The GitLab (or MLReef Nautilus) container, for O(registration_token_source=container).
    type: str
    default: gitlab
  docker_path:
    description:
      - Path of the C(docker) CLI. Looked up on E(PATH) if not set.
    type: path
attributes:
  check_mode:
    support: full
    description: Reports whether the runner would be created, which settings would be updated and
      whether its token would be reset, without doing it (RV(token) is then null). Reads
      (listing, verifying, the registration token) are done.
  diff_mode:
    support: none
    description: Nothing on the host changes; RV(updated_keys) names the settings changed on GitLab.
  idempotent:
    support: full
    description: A second run with the same options and the token returned by the first finds the
      runner, verifies the token and reports C(changed=false).
notes:
  - RV(token) is a secret. Register the result with C(no_log=true) on the task, store the token
    where it belongs (the runner's C(config.toml), through M(mlstack.platform.gitlab_runner_register))
    and pass it back as O(token) on later runs.
  - A value passed as O(token) is masked in the module's output by Ansible, so it is not
    returned again; RV(token) is only set when GitLab issued a new token.
seealso:
  - module: mlstack.platform.gitlab_runner_register
  - module: community.general.gitlab_runner
    description: Manages runners with python-gitlab; this module needs no library on the host.
  - name: GitLab runners API
    description: The REST API the module uses.
    link: https://docs.gitlab.com/api/runners/
"""

EXAMPLES = r"""
- name: Create the GPU runner of the instance and get its token
  mlstack.platform.gitlab_runner_token:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_admin_token }}"
    description: gpu-host-1
    tag_list: [gpu, docker]
    run_untagged: false
    token: "{{ stored_runner_token | default(omit) }}"
  register: runner_token
  no_log: true

- name: Create a project runner, resetting its token if the stored one was lost
  mlstack.platform.gitlab_runner_token:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_admin_token }}"
    runner_type: project_type
    project_id: ml/models
    description: models-runner
    rotate_if_unknown: true
    ca_path: /etc/ssl/certs/site-ca.pem
  register: project_runner
  no_log: true

- name: Read MLReef Nautilus' instance registration token through its Rails console
  mlstack.platform.gitlab_runner_token:
    mode: registration_token
    container: mlreef
  register: nautilus_token
  no_log: true
"""

RETURN = r"""
token:
  description:
    - SECRET. The new authentication token (V(mode=create)) when the runner was created or its token
      reset, or the registration token (V(mode=registration_token)). Null when the token given as
      O(token) was verified, and in check mode.
  returned: always
  type: str
  sample: glrt-t1_EXAMPLE0000000000000
token_expires_at:
  description: When the new authentication token expires, if GitLab sets an expiry.
  returned: always
  type: str
  sample: "2026-01-01T00:00:00.000Z"
token_status:
  description:
    - V(created) (a new runner), V(verified) (the token given is valid), V(reset) (the token was reset),
      or V(read) (V(mode=registration_token)). In check mode what would be done.
  returned: always
  type: str
  sample: verified
created:
  description: Whether the runner was (or in check mode would be) created.
  returned: always
  type: bool
  sample: false
updated_keys:
  description: The settings of an existing runner that were (or would be) changed.
  returned: always
  type: list
  elements: str
  sample: [tag_list, paused]
system_id:
  description: The system ID sent with the verify call (from O(system_id) or O(system_id_file)); null without one.
  returned: always
  type: str
  sample: s_0123456789ab
runner:
  description: The runner as GitLab has it after the run (no token). Empty for V(mode=registration_token).
  returned: always
  type: dict
  sample: {"id": 42, "description": "gpu-host-1", "runner_type": "instance_type", "tag_list": ["gpu"],
           "paused": false, "locked": false, "run_untagged": false, "access_level": "not_protected"}
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._gitlab_api import GitlabApi
from ansible_collections.mlstack.platform.plugins.module_utils._runner_config import (
    SYSTEM_ID_PATTERN,
    RunnerConfigError,
    ensure_system_id,
)
from ansible_collections.mlstack.platform.plugins.module_utils._gitlab_runners import (
    RunnerSpec,
    RunnerTokenError,
    RunnerTokens,
    rails_command,
    registration_token_from_api,
    token_from_rails_output,
)

ARGUMENT_SPEC = dict(
    mode=dict(type="str", choices=["create", "registration_token"], default="create"),
    api_url=dict(type="str"),
    api_token=dict(type="str", no_log=True),
    api_token_type=dict(type="str", choices=["private", "oauth"], default="private"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    timeout=dict(type="int", default=30),
    retries=dict(type="int", default=3),
    retry_delay=dict(type="float", default=1.0),
    runner_type=dict(type="str", choices=["instance_type", "group_type", "project_type"], default="instance_type"),
    group_id=dict(type="str"),
    project_id=dict(type="str"),
    description=dict(type="str"),
    tag_list=dict(type="list", elements="str"),
    run_untagged=dict(type="bool"),
    locked=dict(type="bool"),
    paused=dict(type="bool"),
    access_level=dict(type="str", choices=["not_protected", "ref_protected"]),
    maximum_timeout=dict(type="int"),
    token=dict(type="str", no_log=True),
    system_id=dict(type="str"),
    system_id_file=dict(type="path"),
    rotate_if_unknown=dict(type="bool", default=False),
    registration_token_source=dict(type="str", choices=["container", "api"], default="container"),
    container=dict(type="str", default="gitlab"),
    docker_path=dict(type="path"),
)


def make_api(module: AnsibleModule) -> GitlabApi:
    params = module.params
    if not params["api_url"]:
        module.fail_json(msg="api_url is required for mode=%s%s" % (
            params["mode"], "" if params["mode"] == "create" else " with registration_token_source=api"))
    return GitlabApi(params["api_url"], params["api_token"], params["api_token_type"],
                     validate_certs=params["validate_certs"], ca_path=params["ca_path"], timeout=params["timeout"],
                     retries=params["retries"], backoff=params["retry_delay"])


def runner_system_id(module: AnsibleModule) -> t.Optional[str]:
    """The gitlab-runner system ID to verify with: given, read, or made into system_id_file."""
    params = module.params
    if params["system_id"]:
        if not SYSTEM_ID_PATTERN.match(params["system_id"]):
            module.fail_json(msg="system_id (%r) is not a gitlab-runner system ID (s_ or r_ and 12 letters or "
                                 "digits, as in .runner_system_id)" % params["system_id"])
        return params["system_id"]
    if not params["system_id_file"]:
        return None
    try:
        return ensure_system_id(params["system_id_file"], write=not module.check_mode)[0]
    except RunnerConfigError as exc:
        module.fail_json(msg="system_id_file: %s" % exc)
        raise


def create_token(module: AnsibleModule) -> t.Dict[str, t.Any]:
    params = module.params
    spec = RunnerSpec(params["runner_type"], params["description"], params["group_id"], params["project_id"],
                      settings={key: params[key] for key in ("paused", "locked", "run_untagged", "tag_list",
                                                             "access_level", "maximum_timeout")})
    api = make_api(module)
    system_id = runner_system_id(module) if params["token"] else None
    result = RunnerTokens(api, module.check_mode).ensure(spec, params["token"], params["rotate_if_unknown"],
                                                         system_id)
    result["system_id"] = system_id
    return result


def read_registration_token(module: AnsibleModule) -> t.Dict[str, t.Any]:
    params = module.params
    if params["registration_token_source"] == "api":
        token = registration_token_from_api(make_api(module), params["runner_type"], params["group_id"],
                                            params["project_id"])
    else:
        docker = params["docker_path"] or module.get_bin_path("docker", required=True)
        rc, out, err = module.run_command(rails_command(docker, params["container"]))
        if rc != 0:
            module.fail_json(msg="reading the registration token in container %s failed (rc=%d): %s; is GitLab "
                                 "up (it takes minutes to boot) and is the container's name right?"
                                 % (params["container"], rc, (err or out).strip()[-500:]))
        token = token_from_rails_output(out)
    return dict(changed=False, created=False, token=token, token_expires_at=None, token_status="read",
                updated_keys=[], runner={}, system_id=None)


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("system_id", "system_id_file")],
        required_if=[
            ("mode", "create", ("api_url", "api_token", "description")),
            ("runner_type", "group_type", ("group_id",)),
            ("runner_type", "project_type", ("project_id",)),
        ],
    )
    try:
        if module.params["mode"] == "create":
            result = create_token(module)
        else:
            result = read_registration_token(module)
    except RunnerTokenError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
