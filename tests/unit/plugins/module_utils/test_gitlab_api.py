# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The GitLab API client and the runner-token logic against gitlab-api-standin, a local
HTTP server written from GitLab's API documentation (tests/unit/plugins/gitlab_standin/api.py)."""

from __future__ import annotations

import typing as t

import pytest

from gitlab_standin.api import GitlabApiStandin

from ansible_collections.mlstack.platform.plugins.module_utils._gitlab_api import GitlabApi, GitlabApiError
from ansible_collections.mlstack.platform.plugins.module_utils._gitlab_runners import (
    RunnerSpec,
    RunnerTokenError,
    RunnerTokens,
    rails_command,
    registration_token_from_api,
    token_from_rails_output,
)


@pytest.fixture
def standin() -> t.Iterator[GitlabApiStandin]:
    server = GitlabApiStandin().start()
    yield server
    server.stop()


def client(standin: GitlabApiStandin, token: str = "admin-pat", **kwargs: t.Any) -> GitlabApi:
    waits: t.List[float] = []
    api = GitlabApi(standin.url, token, sleep=waits.append, **kwargs)
    api.waits = waits  # type: ignore[attr-defined]
    return api


def test_paginate_follows_next_page_until_the_last(standin):
    for number in range(7):
        standin.add_runner("runner-%d" % number)
    standin.add_runner("group-runner", "group_type", group_id=7)
    runners = client(standin).paginate("/runners/all", query={"type": "instance_type"}, per_page=3)
    assert [runner["description"] for runner in runners] == ["runner-%d" % number for number in range(7)]
    assert len(standin.calls("GET")) == 3


def test_retries_5xx_with_doubling_waits_then_succeeds(standin):
    standin.add_runner("a")
    standin.fail_next = [502, 503, "drop"]
    api = client(standin, retries=3, backoff=0.5)
    assert [runner["description"] for runner in api.paginate("/runners/all")] == ["a"]
    assert api.waits == [0.5, 1.0, 2.0]


def test_gives_up_after_the_retries_with_the_last_status(standin):
    standin.fail_next = [500, 500, 500]
    api = client(standin, retries=2)
    with pytest.raises(GitlabApiError) as caught:
        api.get("/runners/all")
    assert caught.value.status == 500
    assert "HTTP 500" in str(caught.value)
    assert len(api.waits) == 2


def test_4xx_is_not_retried_and_names_gitlabs_message(standin):
    api = client(standin, token="nobody")
    with pytest.raises(GitlabApiError) as caught:
        api.get("/runners/all")
    assert caught.value.status == 401
    assert "401 Unauthorized" in str(caught.value)
    assert api.waits == [] and len(standin.requests) == 1


def test_unreachable_gitlab_is_retried_then_reported():
    api = GitlabApi("http://127.0.0.1:9", "x", retries=1, sleep=lambda seconds: None, timeout=2)
    with pytest.raises(GitlabApiError) as caught:
        api.get("/version")
    assert caught.value.status is None
    assert "cannot reach GitLab" in str(caught.value) and "2 attempts" in str(caught.value)


def test_oauth_token_is_sent_as_bearer(standin):
    assert client(standin, token_type="oauth").paginate("/runners/all") == []


def spec(**settings: t.Any) -> RunnerSpec:
    return RunnerSpec("instance_type", "gpu-1", settings=settings)


def test_creates_then_verifies_without_change(standin):
    tokens = RunnerTokens(client(standin))
    first = tokens.ensure(spec(tag_list=["gpu"], run_untagged=False), None, False)
    assert first["created"] is True and first["changed"] is True
    runner = standin.runners[first["runner"]["id"]]
    assert first["token"] == runner["token"]
    assert runner["tag_list"] == ["gpu"] and runner["run_untagged"] is False
    second = tokens.ensure(spec(tag_list=["gpu"], run_untagged=False), first["token"], False)
    assert (second["changed"], second["token_status"], second["token"], second["updated_keys"]) == (
        False, "verified", None, [])
    assert len(standin.runners) == 1


def test_updates_changed_settings_in_place_and_names_them(standin):
    existing = standin.add_runner("gpu-1", tag_list=["cpu"], paused=False, maximum_timeout=3600)
    result = RunnerTokens(client(standin)).ensure(spec(tag_list=["gpu", "cuda"], paused=True,
                                                       maximum_timeout=3600), existing["token"], False)
    assert result["changed"] is True
    assert result["updated_keys"] == ["paused", "tag_list"]
    assert existing["tag_list"] == ["gpu", "cuda"] and existing["paused"] is True
    assert result["runner"]["tag_list"] == ["gpu", "cuda"]


def test_tag_order_is_not_a_change(standin):
    existing = standin.add_runner("gpu-1", tag_list=["b", "a"])
    assert RunnerTokens(client(standin)).ensure(spec(tag_list=["a", "b"]), existing["token"], False)["changed"] is False
    assert standin.calls("PUT") == []


def test_unknown_token_fails_with_what_to_do(standin):
    existing = standin.add_runner("gpu-1")
    with pytest.raises(RunnerTokenError) as caught:
        RunnerTokens(client(standin)).ensure(spec(), "not-the-token", False)
    message = str(caught.value)
    assert "id %d" % existing["id"] in message and "rotate_if_unknown" in message and "config.toml" in message
    with pytest.raises(RunnerTokenError, match="no token was given"):
        RunnerTokens(client(standin)).ensure(spec(), None, False)


def test_rotate_if_unknown_resets_the_token(standin):
    existing = standin.add_runner("gpu-1")
    old = existing["token"]
    result = RunnerTokens(client(standin)).ensure(spec(), None, True)
    assert result["token_status"] == "reset" and result["changed"] is True
    assert result["token"] == existing["token"] != old


def test_token_of_another_runner_is_refused(standin):
    standin.add_runner("gpu-1")
    other = standin.add_runner("gpu-2")
    with pytest.raises(RunnerTokenError, match="belongs to runner %d" % other["id"]):
        RunnerTokens(client(standin)).ensure(spec(), other["token"], False)


def test_check_mode_changes_nothing(standin):
    tokens = RunnerTokens(client(standin), check_mode=True)
    result = tokens.ensure(spec(tag_list=["gpu"]), None, False)
    assert (result["changed"], result["created"], result["token"]) == (True, True, None)
    existing = standin.add_runner("gpu-1", tag_list=["cpu"])
    old = existing["token"]
    result = tokens.ensure(spec(tag_list=["gpu"]), None, True)
    assert (result["changed"], result["token_status"], result["updated_keys"]) == (True, "reset", ["tag_list"])
    assert existing["token"] == old and existing["tag_list"] == ["cpu"]
    assert standin.calls("POST") == [] and standin.calls("PUT") == []


def test_two_runners_with_one_description_is_an_error(standin):
    standin.add_runner("gpu-1")
    standin.add_runner("gpu-1")
    with pytest.raises(RunnerTokenError, match="2 runners of the instance"):
        RunnerTokens(client(standin)).ensure(spec(), None, False)


def test_group_and_project_scopes_list_their_own_runners(standin):
    standin.add_runner("shared", "instance_type")
    group_runner = standin.add_runner("shared", "group_type", group_id=7)
    tokens = RunnerTokens(client(standin, token="user-pat"))
    result = tokens.ensure(RunnerSpec("group_type", "shared", group_id="ml"), group_runner["token"], False)
    assert result["token_status"] == "verified" and result["runner"]["id"] == group_runner["id"]
    created = tokens.ensure(RunnerSpec("project_type", "models", project_id="12"), None, False)
    assert standin.runners[created["runner"]["id"]]["project_id"] == 12
    assert ("GET", "/api/v4/projects/12/runners") in standin.requests


def test_forbidden_and_unauthorized_explain_the_token(standin):
    with pytest.raises(RunnerTokenError, match="administrator"):
        RunnerTokens(client(standin, token="user-pat")).ensure(spec(), None, False)
    with pytest.raises(RunnerTokenError, match="missing, expired or revoked"):
        RunnerTokens(client(standin, token="wrong")).ensure(spec(), None, False)
    with pytest.raises(RunnerTokenError, match="create_runner"):
        RunnerTokens(client(standin, token="read-pat")).ensure(spec(), None, False)


def test_other_token_prefixes_are_accepted():
    standin = GitlabApiStandin(token_prefix="acme-").start()
    try:
        result = RunnerTokens(client(standin)).ensure(spec(), None, False)
        assert result["token"].startswith("acme-")
        again = RunnerTokens(client(standin)).ensure(spec(), result["token"], False)
        assert again["token_status"] == "verified"
    finally:
        standin.stop()


def test_registration_token_over_the_api_and_when_disabled(standin):
    api = client(standin)
    assert registration_token_from_api(api, "group_type", "ml", None) == "GR1348941grp"
    assert registration_token_from_api(api, "project_type", None, "ml/models") == "GR1348941prj"
    with pytest.raises(RunnerTokenError, match="no API"):
        registration_token_from_api(api, "instance_type", None, None)
    standin.allow_registration_token = False
    with pytest.raises(RunnerTokenError, match="allow_runner_registration_token"):
        registration_token_from_api(api, "group_type", "7", None)


def test_rails_output_and_command():
    assert token_from_rails_output("GR1348941abc\r\n") == "GR1348941abc"
    assert token_from_rails_output("warning: something deprecated\nGR1348941abc\r\n") == "GR1348941abc"
    for empty in ("", "\r\n", "nil\n"):
        with pytest.raises(RunnerTokenError, match="Allow runner registration token"):
            token_from_rails_output(empty)
    assert rails_command("docker", "mlreef") == [
        "docker", "exec", "mlreef", "gitlab-rails", "runner", "-e", "production",
        "puts Gitlab::CurrentSettings.current_application_settings.runners_registration_token"]
