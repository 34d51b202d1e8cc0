# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""gitlab_runner_register and gitlab_runner_token against behaviours read from upstream's
sources (issue 17), with the stand-ins that reproduce them: gitlab-runner-standin
(tests/lab/standins/; gitlab-runner v18.5.0 commands/unregister.go, network/gitlab.go,
commands/internal/configfile/system_id_state.go) and gitlab-api-standin
(tests/unit/plugins/gitlab_standin/api.py; gitlabhq lib/api/ci/runner.rb, runners.rb,
helpers/runner.rb). GitLab and gitlab-runner themselves cannot be had on these machines."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import typing as t

import pytest

from ansible.module_utils.testing import patch_module_args

from gitlab_standin.api import GitlabApiStandin

from ansible_collections.mlstack.platform.plugins.modules import gitlab_runner_register, gitlab_runner_token

tomllib = pytest.importorskip("tomllib")

STANDIN = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "lab", "standins",
                                       "gitlab-runner-standin"))


class Lab:
    """gitlab-api-standin, gitlab-runner-standin on PATH as `gitlab-runner`, a config dir."""

    def __init__(self, tmp_path: t.Any, monkeypatch: t.Any, capsys: t.Any) -> None:
        self.api = GitlabApiStandin().start()
        self.capsys = capsys
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        runner = bin_dir / "gitlab-runner"
        runner.write_text("#!/bin/sh\nexec %s %s \"$@\"\n" % (sys.executable, STANDIN))
        runner.chmod(0o755)
        monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ.get("PATH", "")))
        self.config_dir = tmp_path / "etc-gitlab-runner"
        self.config = self.config_dir / "config.toml"
        self.system_id_file = self.config_dir / ".runner_system_id"

    def module(self, module: t.Any, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(self.capsys.readouterr().out)

    def register(self, **args: t.Any) -> t.Dict[str, t.Any]:
        args.setdefault("url", self.api.url)
        args.setdefault("config_path", str(self.config))
        return self.module(gitlab_runner_register, args)

    def token(self, **args: t.Any) -> t.Dict[str, t.Any]:
        args.setdefault("api_url", self.api.url)
        args.setdefault("api_token", "admin-pat")
        args.setdefault("retry_delay", 0.01)
        return self.module(gitlab_runner_token, args)

    def read(self) -> t.Dict[str, t.Any]:
        with open(str(self.config), "rb") as stream:
            return tomllib.load(stream)


@pytest.fixture
def lab(tmp_path, monkeypatch, capsys) -> t.Iterator[Lab]:
    environment = Lab(tmp_path, monkeypatch, capsys)
    yield environment
    environment.api.stop()


# -- 1. state: absent deletes the runner, not only this host's manager ----------------------
def test_standin_unregister_of_a_glrt_token_deletes_only_the_manager(lab):
    """As gitlab-runner v18.5.0 commands/unregister.go: a glrt- token calls
    DELETE /runners/managers with the system ID; the runner stays on GitLab."""
    runner = lab.api.add_runner("r1")
    assert lab.register(token=runner["token"], name="r1", docker_image="alpine")["registered"] is True
    system_id = lab.system_id_file.read_text()
    assert re.match(r"^[sr]_[0-9a-zA-Z]{12}$", system_id)
    assert set(runner["managers"]) == {system_id}
    done = subprocess.run([sys.executable, STANDIN, "unregister", "-c", str(lab.config), "--name", "r1"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "runner manager" in done.stderr
    assert runner["id"] in lab.api.runners and runner["managers"] == {}
    assert ("DELETE", "/api/v4/runners/managers") in lab.api.requests


def test_absent_with_an_api_token_deletes_the_runner_on_gitlab(lab):
    keep = lab.api.add_runner("keep")
    gone = lab.api.add_runner("gone")
    lab.register(token=keep["token"], name="keep", docker_image="alpine")
    lab.register(token=gone["token"], name="gone", docker_image="alpine")
    check = lab.register(state="absent", name="gone", api_token="admin-pat", _ansible_check_mode=True)
    assert check["changed"] is True and check["deleted_on_gitlab"] == [gone["id"]]
    assert gone["id"] in lab.api.runners
    result = lab.register(state="absent", name="gone", api_token="admin-pat")
    assert result["changed"] is True and result["deleted_on_gitlab"] == [gone["id"]]
    assert gone["id"] not in lab.api.runners and keep["id"] in lab.api.runners
    assert ("DELETE", "/api/v4/runners/%d" % gone["id"]) in lab.api.requests
    assert [entry["name"] for entry in lab.read()["runners"]] == ["keep"]
    assert "admin-pat" not in json.dumps(result)
    assert lab.register(state="absent", name="gone", api_token="admin-pat")["changed"] is False


def test_absent_without_an_api_token_leaves_the_runner_and_says_so(lab):
    runner = lab.api.add_runner("r2")
    lab.register(token=runner["token"], name="r2", docker_image="alpine")
    result = lab.register(state="absent", name="r2")
    assert result["changed"] is True and result["deleted_on_gitlab"] == []
    assert runner["id"] in lab.api.runners
    assert "api_token" in json.dumps(result.get("warnings", []))


def test_absent_forced_after_a_failed_unregister_still_deletes_through_the_api(lab):
    runner = lab.api.add_runner("r3")
    lab.register(token=runner["token"], name="r3", docker_image="alpine")
    runner["token"] = "glrt-rotated-elsewhere"  # gitlab-runner's token no longer valid
    result = lab.register(state="absent", name="r3", api_token="admin-pat", force_remove=True)
    assert result["changed"] is True and result["deleted_on_gitlab"] == [runner["id"]]
    assert runner["id"] not in lab.api.runners and lab.read().get("runners", []) == []


# -- 2. verify sends the runner's system_id -------------------------------------------------
def test_verify_without_system_id_makes_a_legacy_manager_in_the_standin(lab):
    """gitlabhq lib/api/ci/helpers/runner.rb: no system_id means the manager '<legacy>'."""
    runner = lab.api.add_runner("gpu-host-1")
    assert lab.token(description="gpu-host-1", token=runner["token"])["token_status"] == "verified"
    assert "<legacy>" in runner["managers"]


def test_verify_sends_the_system_id_of_the_runner_system_id_file(lab):
    runner = lab.api.add_runner("gpu-host-1")
    lab.config_dir.mkdir()
    lab.system_id_file.write_text("s_0123456789ab")
    result = lab.token(description="gpu-host-1", token=runner["token"], system_id_file=str(lab.system_id_file))
    assert result["token_status"] == "verified" and result["system_id"] == "s_0123456789ab"
    assert set(runner["managers"]) == {"s_0123456789ab"}


def test_a_missing_system_id_file_is_made_as_gitlab_runner_makes_it(lab):
    runner = lab.api.add_runner("gpu-host-1")
    result = lab.token(description="gpu-host-1", token=runner["token"], system_id_file=str(lab.system_id_file))
    made = lab.system_id_file.read_text()
    assert re.match(r"^[sr]_[0-9a-zA-Z]{12}$", made) and result["system_id"] == made
    assert stat.S_IMODE(os.stat(str(lab.system_id_file)).st_mode) == 0o600
    assert set(runner["managers"]) == {made}
    # gitlab-runner then registers with the same ID: one manager, no '<legacy>'.
    lab.register(token=runner["token"], name="gpu-host-1", docker_image="alpine")
    assert set(runner["managers"]) == {made}


def test_check_mode_does_not_write_the_system_id_file(lab):
    runner = lab.api.add_runner("gpu-host-1")
    result = lab.token(description="gpu-host-1", token=runner["token"], system_id_file=str(lab.system_id_file),
                       _ansible_check_mode=True)
    assert result["token_status"] == "verified" and not lab.system_id_file.exists()
    assert "<legacy>" not in runner["managers"]


# -- 5. lookups match the scope's own runners ------------------------------------------------
def test_group_scope_ignores_a_same_named_runner_of_an_ancestor_group(lab):
    parent = lab.api.add_runner("ci", "group_type", group_id=7)
    result = lab.token(description="ci", runner_type="group_type", group_id="ml/vision")
    assert result["created"] is True and result["runner"]["id"] != parent["id"]
    assert lab.api.runners[result["runner"]["id"]]["group_id"] == 8
    again = lab.token(description="ci", runner_type="group_type", group_id="ml/vision", token=result["token"])
    assert again["token_status"] == "verified" and again["runner"]["id"] == result["runner"]["id"]


def test_project_scope_prefers_its_own_runner_over_one_assigned_from_another_project(lab):
    lab.api.projects["13"] = {"id": 13, "path_with_namespace": "ml/data", "namespace_id": 7,
                              "runners_token": "GR1348941prj13"}
    lab.api.add_runner("ci", "group_type", group_id=7)
    lab.api.add_runner("ci", "project_type", project_id=13, assigned_projects=[12])
    own = lab.api.add_runner("ci", "project_type", project_id=12)
    result = lab.token(description="ci", runner_type="project_type", project_id="ml/models", token=own["token"])
    assert result["token_status"] == "verified" and result["runner"]["id"] == own["id"]


def test_listing_with_only_create_runner_scope_explains_the_scopes(lab):
    result = lab.token(description="gpu-host-1", api_token="create-only-pat")
    assert result["failed"] is True
    assert "read_api" in result["msg"] and "create_runner alone" in result["msg"]


# -- extras: clone_url, feature flags, pull_policy, extra_hosts ---------------------------------
def test_clone_url_feature_flags_pull_policy_and_extra_hosts_are_written(lab):
    runner = lab.api.add_runner("gpu-host-1")
    args = dict(token=runner["token"], name="gpu-host-1", docker_image="alpine", clone_url="http://10.0.0.5:10080",
                feature_flags={"FF_NETWORK_PER_BUILD": True}, docker_pull_policy=["if-not-present", "always"],
                docker_extra_hosts=["mlreef:10.0.0.5"])
    first = lab.register(**args)
    assert first["registered"] is True
    entry = lab.read()["runners"][0]
    assert entry["clone_url"] == "http://10.0.0.5:10080"
    assert entry["feature_flags"] == {"FF_NETWORK_PER_BUILD": True}
    assert entry["docker"]["pull_policy"] == ["if-not-present", "always"]
    assert entry["docker"]["extra_hosts"] == ["mlreef:10.0.0.5"]
    assert lab.register(**args)["changed"] is False
    changed = lab.register(**dict(args, feature_flags={"FF_NETWORK_PER_BUILD": "false"}))
    assert changed["changed_keys"] == ["feature_flags.FF_NETWORK_PER_BUILD"]
    assert lab.read()["runners"][0]["feature_flags"] == {"FF_NETWORK_PER_BUILD": False}
    # One policy is a string, which gitlab-runner 12.7 (Nautilus) reads as well as 18.5.
    lab.register(**dict(args, docker_pull_policy=["if-not-present"]))
    assert lab.read()["runners"][0]["docker"]["pull_policy"] == "if-not-present"


def test_bad_pull_policy_is_refused_before_anything_changes(lab):
    result = lab.register(token="glrt-x", name="x", docker_image="alpine", docker_pull_policy=["sometimes"])
    assert result["failed"] is True and "docker_pull_policy" in result["msg"]
    assert not lab.config.exists()
