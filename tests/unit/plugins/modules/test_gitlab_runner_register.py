# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""gitlab_runner_register end to end. The gitlab-runner binary and GitLab cannot be had on
these machines, so the module runs `gitlab-runner-standin` (tests/lab/standins/; put on
PATH as `gitlab-runner`), which registers against `gitlab-api-standin`
(tests/unit/plugins/gitlab_standin/api.py) over HTTP on 127.0.0.1 and writes config.toml the
way gitlab-runner does. The config.toml it writes is read with Python's tomllib as well,
an implementation independent of the module's own reader."""

from __future__ import annotations

import json
import os
import stat
import sys
import typing as t

import pytest

from ansible.module_utils.testing import patch_module_args

from gitlab_standin.api import GitlabApiStandin

from ansible_collections.mlstack.platform.plugins.modules import gitlab_runner_register

tomllib = pytest.importorskip("tomllib")

STANDIN = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "lab", "standins",
                                       "gitlab-runner-standin"))


class Lab:
    """A gitlab-api-standin, a bin directory with gitlab-runner-standin as `gitlab-runner`,
    and the path config.toml lives at."""

    def __init__(self, tmp_path: t.Any, monkeypatch: t.Any, capsys: t.Any) -> None:
        self.api = GitlabApiStandin().start()
        self.capsys = capsys
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.script("gitlab-runner", "#!/bin/sh\nexec %s %s \"$@\"\n" % (sys.executable, STANDIN))
        monkeypatch.setenv("PATH", "%s:%s" % (self.bin, os.environ.get("PATH", "")))
        self.config_dir = tmp_path / "etc-gitlab-runner"
        self.config = self.config_dir / "config.toml"

    def script(self, name: str, text: str) -> str:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)
        return str(path)

    def run(self, **args: t.Any) -> t.Dict[str, t.Any]:
        args.setdefault("url", self.api.url)
        args.setdefault("config_path", str(self.config))
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                gitlab_runner_register.main()
        return json.loads(self.capsys.readouterr().out)

    def read(self) -> t.Dict[str, t.Any]:
        with open(str(self.config), "rb") as stream:
            return tomllib.load(stream)


@pytest.fixture
def lab(tmp_path, monkeypatch, capsys) -> t.Iterator[Lab]:
    environment = Lab(tmp_path, monkeypatch, capsys)
    yield environment
    environment.api.stop()


GPU_RUNNER = dict(name="gpu-host-1", docker_image="nvidia/cuda:12.4.1-base-ubuntu22.04", docker_gpus="all",
                  docker_volumes=["/cache"], docker_devices=["/dev/nvidia0"], concurrent=2)


def test_registers_once_with_gpu_settings_then_changes_nothing(lab):
    server_runner = lab.api.add_runner("gpu-host-1")
    first = lab.run(token=server_runner["token"], **GPU_RUNNER)
    assert first["changed"] is True and first["registered"] is True
    config = lab.read()
    assert config["concurrent"] == 2
    entry = config["runners"][0]
    assert (entry["id"], entry["token"], entry["url"], entry["executor"]) == (
        server_runner["id"], server_runner["token"], lab.api.url, "docker")
    assert entry["docker"]["gpus"] == "all" and entry["docker"]["privileged"] is False
    assert entry["docker"]["image"] == GPU_RUNNER["docker_image"] and entry["docker"]["devices"] == ["/dev/nvidia0"]
    assert entry["token_obtained_at"].year >= 2024  # a real TOML date-time, kept as written
    assert stat.S_IMODE(os.stat(str(lab.config)).st_mode) == 0o600
    assert first["runner"]["token"] == "********" and server_runner["token"] not in json.dumps(first)
    verifications = len(lab.api.calls("POST"))
    text = lab.config.read_text()
    second = lab.run(token=server_runner["token"], **GPU_RUNNER)
    assert (second["changed"], second["registered"], second["changed_keys"]) == (False, False, [])
    assert len(lab.api.calls("POST")) == verifications
    assert lab.config.read_text() == text


def test_settings_drift_is_corrected_and_unknown_keys_pass_through(lab):
    server_runner = lab.api.add_runner("gpu-host-1")
    lab.run(token=server_runner["token"], **GPU_RUNNER)
    text = lab.config.read_text()
    text = text.replace('gpus = "all"', 'gpus = "0"').replace('executor = "docker"\n',
                                                              'executor = "docker"\n  output_limit = 8192\n')
    lab.config.write_text(text)
    os.chmod(str(lab.config), 0o640)
    before = lab.read()["runners"][0]
    result = lab.run(token=server_runner["token"], _ansible_diff=True, **GPU_RUNNER)
    assert result["changed"] is True and result["changed_keys"] == ["docker.gpus"]
    after = lab.read()["runners"][0]
    assert after["docker"]["gpus"] == "all" and after["output_limit"] == 8192
    for key in ("id", "token", "token_obtained_at", "token_expires_at"):
        assert after[key] == before[key]
    assert after["cache"] == before["cache"]
    assert stat.S_IMODE(os.stat(str(lab.config)).st_mode) == 0o640
    assert 'gpus = "0"' in result["diff"]["before"] and 'gpus = "all"' in result["diff"]["after"]
    assert server_runner["token"] not in json.dumps(result["diff"])


def test_check_mode_registers_nothing_and_diff_masks_the_token(lab):
    server_runner = lab.api.add_runner("gpu-host-1")
    result = lab.run(token=server_runner["token"], _ansible_check_mode=True, _ansible_diff=True, **GPU_RUNNER)
    assert (result["changed"], result["registered"]) == (True, True)
    assert not lab.config.exists()
    assert lab.api.calls("POST") == []
    assert result["diff"]["before"] == ""
    assert 'gpus = "all"' in result["diff"]["after"] and server_runner["token"] not in result["diff"]["after"]


def test_legacy_registration_token_then_identified_by_name(lab):
    args = dict(registration_token=lab.api.registration_token, name="ml-runner", docker_image="alpine:3.20",
                tag_list=["docker", "local-docker"], run_untagged=True, locked=False, access_level="not_protected")
    first = lab.run(**args)
    assert first["registered"] is True
    server_runner = next(iter(lab.api.runners.values()))
    assert server_runner["tag_list"] == ["docker", "local-docker"] and server_runner["description"] == "ml-runner"
    assert lab.read()["runners"][0]["token"] == server_runner["token"]
    second = lab.run(**args)
    assert second["changed"] is False
    assert len(lab.api.runners) == 1


def test_registration_tokens_disabled_410_is_explained(lab):
    lab.api.allow_registration_token = False
    result = lab.run(registration_token=lab.api.registration_token, name="ml-runner", docker_image="alpine")
    assert result["failed"] is True
    assert "410 Gone" in result["msg"] and "Allow runner registration token" in result["msg"]
    assert not lab.config.exists()


def test_unknown_token_fails_with_gitlab_runners_answer(lab):
    result = lab.run(token="not-a-runner-token", name="x", docker_image="alpine")
    assert result["failed"] is True
    assert "403 Forbidden" in result["msg"] and "not-a-runner-token" not in result["msg"]


def test_a_new_token_for_the_same_name_replaces_the_stale_entry(lab):
    old = lab.api.add_runner("gpu-host-1")
    lab.run(token=old["token"], **GPU_RUNNER)
    new = lab.api.add_runner("gpu-host-1-again")
    result = lab.run(token=new["token"], **GPU_RUNNER)
    assert result["registered"] is True and result["unregistered"] == ["gpu-host-1 (id %d)" % old["id"]]
    assert [entry["token"] for entry in lab.read()["runners"]] == [new["token"]]


def test_absent_unregisters_on_gitlab_and_in_config(lab):
    keep = lab.api.add_runner("keep")
    gone = lab.api.add_runner("gone")
    lab.run(token=keep["token"], name="keep", docker_image="alpine")
    lab.run(token=gone["token"], name="gone", docker_image="alpine")
    check = lab.run(state="absent", name="gone", _ansible_check_mode=True)
    assert check["changed"] is True and len(lab.read()["runners"]) == 2
    # gitlab-runner deletes only this host's manager of a glrt- runner; api_token deletes the runner.
    result = lab.run(state="absent", name="gone", api_token="admin-pat")
    assert result["changed"] is True and result["unregistered"] == ["gone"]
    assert [entry["name"] for entry in lab.read()["runners"]] == ["keep"]
    assert gone["id"] not in lab.api.runners and keep["id"] in lab.api.runners
    assert lab.run(state="absent", name="gone")["changed"] is False


def test_absent_when_gitlab_refuses_fails_unless_forced(lab):
    server_runner = lab.api.add_runner("r")
    lab.run(token=server_runner["token"], name="r", docker_image="alpine")
    del lab.api.runners[server_runner["id"]]  # deleted on GitLab behind the runner's back
    failed = lab.run(state="absent", name="r")
    assert failed["failed"] is True and "force_remove" in failed["msg"]
    assert len(lab.read()["runners"]) == 1
    forced = lab.run(state="absent", name="r", force_remove=True)
    assert forced["changed"] is True and lab.read().get("runners", []) == []
    assert "delete the runner on GitLab" in json.dumps(forced["warnings"])


def test_inside_a_container_through_docker_exec(lab, tmp_path):
    """`docker` here is a stand-in for `docker exec` into a gitlab-runner container whose
    /etc/gitlab-runner is a bind mount of the host's config directory: it maps that path
    and runs gitlab-runner-standin."""
    log = tmp_path / "docker.log"
    lab.script("docker", "#!%s\nimport os, sys\nargs = sys.argv[1:]\nopen(%r, 'a').write(' '.join(args[:3]) + '\\n')\n"
                         "assert args[:3] == ['exec', 'ml-runner', 'gitlab-runner'], args\n"
                         "mapped = [a.replace('/etc/gitlab-runner', %r) for a in args[3:]]\n"
                         "os.execv(sys.executable, [sys.executable, %r] + mapped)\n"
               % (sys.executable, str(log), str(lab.config_dir), STANDIN))
    server_runner = lab.api.add_runner("ml-runner")
    result = lab.run(token=server_runner["token"], name="ml-runner", container="ml-runner", docker_image="alpine")
    assert result["registered"] is True
    assert lab.read()["runners"][0]["id"] == server_runner["id"]
    assert log.read_text().splitlines() == ["exec ml-runner gitlab-runner"]
    # No template left behind; .runner_system_id is gitlab-runner's own (configfile.go).
    assert [name for name in os.listdir(str(lab.config_dir)) if name != "config.toml"] == [".runner_system_id"]


def test_kubernetes_executor_with_gpu_requests(lab):
    server_runner = lab.api.add_runner("k8s-gpu")
    args = dict(token=server_runner["token"], name="k8s-gpu", executor="kubernetes", kubernetes_namespace="gitlab-ci",
                kubernetes_gpus=1, kubernetes_node_selector={"nvidia.com/gpu.present": "true"})
    assert lab.run(**args)["registered"] is True
    entry = lab.read()["runners"][0]
    assert entry["executor"] == "kubernetes" and entry["kubernetes"]["namespace"] == "gitlab-ci"
    assert entry["kubernetes"]["node_selector"] == {"nvidia.com/gpu.present": "true"}
    assert "nvidia.com/gpu: 1" in entry["kubernetes"]["pod_spec"][0]["patch"]
    assert "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=true" in entry["environment"]
    assert lab.run(**args)["changed"] is False


def test_owned_keys_cannot_be_set(lab):
    result = lab.run(token="token-not-registered", name="x", settings={"id": 5})
    assert result["failed"] is True and "belong to GitLab" in result["msg"]


def test_invalid_config_toml_fails_with_the_line(lab):
    lab.config_dir.mkdir()
    lab.config.write_text("concurrent = 1\n[[runners]\n")
    result = lab.run(token="token-not-registered", name="x", docker_image="alpine")
    assert result["failed"] is True and "not valid TOML (line 2" in result["msg"]


def test_standin_verify_and_list(lab, tmp_path):
    """gitlab-runner-standin's own verify/list commands, as the molecule scenarios use them."""
    import subprocess

    good = lab.api.add_runner("good")
    bad = lab.api.add_runner("bad")
    lab.run(token=good["token"], name="good", docker_image="alpine")
    lab.run(token=bad["token"], name="bad", docker_image="alpine")
    del lab.api.runners[bad["id"]]
    gitlab_runner = [sys.executable, STANDIN]
    listed = subprocess.run(gitlab_runner + ["list", "--config", str(lab.config)], capture_output=True, text=True,
                            check=False)
    assert listed.returncode == 0 and "good" in listed.stderr and "bad" in listed.stderr
    verified = subprocess.run(gitlab_runner + ["verify", "--delete", "-c", str(lab.config)], capture_output=True,
                              text=True, check=False)
    assert verified.returncode == 0 and "is removed" in verified.stderr
    assert [entry["name"] for entry in lab.read()["runners"]] == ["good"]
