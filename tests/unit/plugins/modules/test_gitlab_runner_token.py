# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""gitlab_runner_token end to end (AnsibleModule, argument spec, exit_json) against
gitlab-api-standin, the local stand-in for GitLab's REST API (tests/unit/plugins/gitlab_standin/api.py)."""

from __future__ import annotations

import json
import os
import stat
import typing as t

import pytest

from ansible.module_utils.testing import patch_module_args

from gitlab_standin.api import GitlabApiStandin

from ansible_collections.mlstack.platform.plugins.modules import gitlab_runner_token


@pytest.fixture
def standin() -> t.Iterator[GitlabApiStandin]:
    server = GitlabApiStandin().start()
    yield server
    server.stop()


def run_module(capsys: t.Any, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            gitlab_runner_token.main()
    return json.loads(capsys.readouterr().out)


def base(standin: GitlabApiStandin, **extra: t.Any) -> t.Dict[str, t.Any]:
    args = {"api_url": standin.url, "api_token": "admin-pat", "description": "gpu-host-1", "retry_delay": 0.01}
    args.update(extra)
    return args


def test_create_then_second_run_is_unchanged(capsys, standin):
    first = run_module(capsys, base(standin, tag_list=["gpu", "docker"], run_untagged=False))
    assert first["changed"] is True and first["created"] is True
    runner = standin.runners[first["runner"]["id"]]
    assert first["token"] == runner["token"]
    assert runner["tag_list"] == ["gpu", "docker"] and runner["run_untagged"] is False
    second = run_module(capsys, base(standin, tag_list=["docker", "gpu"], run_untagged=False, token=first["token"]))
    assert second["changed"] is False
    assert second["token_status"] == "verified"
    assert second["token"] is None
    assert runner["token"] not in json.dumps(second)
    assert len(standin.runners) == 1


def test_settings_drift_is_updated_and_reported(capsys, standin):
    existing = standin.add_runner("gpu-host-1", tag_list=["gpu"], locked=True, access_level="not_protected")
    result = run_module(capsys, base(standin, token=existing["token"], locked=False, access_level="ref_protected"))
    assert result["changed"] is True
    assert result["updated_keys"] == ["access_level", "locked"]
    assert (existing["locked"], existing["access_level"]) == (False, "ref_protected")


def test_check_mode_reports_creation_without_it(capsys, standin):
    result = run_module(capsys, base(standin, _ansible_check_mode=True))
    assert (result["changed"], result["created"], result["token"]) == (True, True, None)
    assert standin.runners == {}


def test_unknown_token_fails_and_rotate_resets(capsys, standin):
    existing = standin.add_runner("gpu-host-1")
    failed = run_module(capsys, base(standin, token="stale-token"))
    assert failed["failed"] is True
    assert "rotate_if_unknown" in failed["msg"] and "stale-token" not in failed["msg"]
    rotated = run_module(capsys, base(standin, token="stale-token", rotate_if_unknown=True))
    assert rotated["changed"] is True and rotated["token_status"] == "reset"
    assert rotated["token"] == existing["token"]


def test_5xx_answers_are_retried(capsys, standin):
    standin.fail_next = [502, 500]
    result = run_module(capsys, base(standin))
    assert result["created"] is True
    assert len(standin.calls()) == 4  # 2 failed attempts, the list, the create


def test_server_errors_beyond_the_retries_fail_with_the_status(capsys, standin):
    standin.fail_next = [503] * 3
    result = run_module(capsys, base(standin, retries=2))
    assert result["failed"] is True and "HTTP 503" in result["msg"]


def test_401_and_403_fail_with_a_message_about_the_token(capsys, standin):
    result = run_module(capsys, base(standin, api_token="pat-of-nobody"))
    assert result["failed"] is True and "missing, expired or revoked" in result["msg"]
    result = run_module(capsys, base(standin, api_token="user-pat"))
    assert result["failed"] is True and "administrator" in result["msg"]


def test_tokens_are_not_echoed(capsys, standin):
    existing = standin.add_runner("gpu-host-1")
    result = run_module(capsys, base(standin, api_token="admin-pat", token=existing["token"], _ansible_verbosity=3))
    assert result["changed"] is False
    text = json.dumps(result)
    assert "admin-pat" not in text and existing["token"] not in text


def test_group_runner_by_path(capsys, standin):
    result = run_module(capsys, base(standin, runner_type="group_type", group_id="ml", description="ml-gpu",
                                     api_token="user-pat"))
    assert result["created"] is True
    assert standin.runners[result["runner"]["id"]]["group_id"] == 7


def test_group_type_needs_group_id(capsys, standin):
    result = run_module(capsys, base(standin, runner_type="group_type"))
    assert result["failed"] is True and "group_id" in result["msg"]


def test_registration_token_from_the_rails_console(capsys, tmp_path):
    """The container's Rails console is replaced by a script that prints what
    `gitlab-rails runner` prints (with the \\r the MLReef docs strip) and records its arguments."""
    log = tmp_path / "argv"
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\nprintf '%%s\\n' \"$@\" > %s\nprintf 'GR1348941xyz\\r\\n'\n" % log)
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    result = run_module(capsys, {"mode": "registration_token", "container": "mlreef", "docker_path": str(docker)})
    assert result["changed"] is False
    assert result["token"] == "GR1348941xyz"
    assert log.read_text().splitlines()[:5] == ["exec", "mlreef", "gitlab-rails", "runner", "-e"]


def test_registration_token_container_failure_is_explained(capsys, tmp_path):
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 'Error: No such container: gitlab' >&2\nexit 1\n")
    docker.chmod(0o755)
    result = run_module(capsys, {"mode": "registration_token", "docker_path": str(docker)})
    assert result["failed"] is True
    assert "No such container" in result["msg"] and "takes minutes to boot" in result["msg"]


def test_registration_token_over_the_api(capsys, standin):
    result = run_module(capsys, {"mode": "registration_token", "registration_token_source": "api",
                                 "api_url": standin.url, "api_token": "admin-pat",
                                 "runner_type": "project_type", "project_id": "ml/models"})
    assert result["token"] == "GR1348941prj"
    standin.allow_registration_token = False
    result = run_module(capsys, {"mode": "registration_token", "registration_token_source": "api",
                                 "api_url": standin.url, "api_token": "admin-pat",
                                 "runner_type": "project_type", "project_id": "12"})
    assert result["failed"] is True and "Admin area > Settings > CI/CD > Runners" in result["msg"]


def test_module_file_runs_as_a_script(tmp_path):
    """The module's file is what Ansible ships to a host; it must at least be valid Python there."""
    path = gitlab_runner_token.__file__
    assert os.access(path, os.R_OK)
    compile(open(path, encoding="utf-8").read(), path, "exec")
