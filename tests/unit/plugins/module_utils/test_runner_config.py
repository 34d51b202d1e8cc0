# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""config.toml as data (find, merge, mask, atomic write) and the register command lines."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils._runner_config import (
    GPU_POD_SPEC_NAME,
    MASK,
    RunnerConfigError,
    apply_runner_settings,
    find_runners,
    mask_secrets,
    masked_text,
    read_config,
    write_atomic,
)
from ansible_collections.mlstack.platform.plugins.module_utils._runner_register import (
    build_settings,
    register_argv,
    template_document,
    unregister_argv,
)
from ansible_collections.mlstack.platform.plugins.module_utils._runner_toml import TomlDateTime, loads

CONFIG = '''\
concurrent = 1
check_interval = 0

[[runners]]
  name = "a"
  url = "https://gitlab.example.com/"
  id = 1
  token = "tok-a"
  token_obtained_at = 2024-05-01T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  output_limit = 8192
  environment = ["KEEP=1", "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=false"]
  [runners.docker]
    image = "alpine"
    privileged = false
    volumes = ["/cache"]
    shm_size = 0
  [runners.kubernetes]
    [[runners.kubernetes.pod_spec]]
      name = "theirs"
      patch = "x"

[[runners]]
  name = "b"
  url = "https://gitlab.example.com"
  id = 2
  token = "tok-b"
  executor = "shell"
'''


def params(**overrides):
    base = dict(executor="docker", url="https://gitlab.example.com", name="a", token="tok-a", registration_token=None,
                docker_image=None, docker_privileged=False, docker_volumes=None, docker_devices=None, docker_gpus=None,
                kubernetes_namespace=None, kubernetes_image=None, kubernetes_node_selector=None, kubernetes_gpus=None,
                limit=None, environment=None, settings=None, tag_list=None, run_untagged=None, locked=None,
                access_level=None)
    base.update(overrides)
    return base


def test_find_by_url_and_token_or_name():
    document = loads(CONFIG)
    assert find_runners(document, "https://gitlab.example.com", token="tok-a") == [0]
    assert find_runners(document, "https://gitlab.example.com/", token="tok-b") == [1]
    assert find_runners(document, "https://gitlab.example.com", name="b") == [1]
    assert find_runners(document, "https://other.example.com", token="tok-a") == []
    assert find_runners(document, "https://gitlab.example.com", token="tok-a", name="b") == []


def test_apply_changes_only_what_differs_and_keeps_the_rest():
    document = loads(CONFIG)
    settings = build_settings(params(docker_image="nvidia/cuda:12.4.1-base-ubuntu22.04", docker_gpus="all",
                                     docker_devices=["/dev/nvidia0"], limit=2))
    changed = apply_runner_settings(document, 0, settings, concurrent=4)
    assert changed == ["concurrent", "limit", "docker.image", "docker.devices", "docker.gpus"]
    entry = document["runners"][0]
    assert (entry["id"], entry["token"], entry["token_obtained_at"]) == (1, "tok-a", TomlDateTime("2024-05-01T10:00:00Z"))
    assert entry["output_limit"] == 8192 and entry["docker"]["shm_size"] == 0 and entry["docker"]["volumes"] == ["/cache"]
    assert document["runners"][1] == loads(CONFIG)["runners"][1]
    assert apply_runner_settings(document, 0, settings, concurrent=4) == []


def test_bool_and_int_are_not_confused():
    document = loads(CONFIG)
    document["runners"][0]["docker"]["privileged"] = 0
    assert apply_runner_settings(document, 0, build_settings(params()), None) == ["docker.privileged"]
    assert document["runners"][0]["docker"]["privileged"] is False


def test_kubernetes_gpus_add_a_named_pod_spec_and_the_feature_flag():
    document = loads(CONFIG)
    settings = build_settings(params(executor="kubernetes", kubernetes_namespace="ci", kubernetes_gpus=2,
                                     kubernetes_node_selector={"nvidia.com/gpu.present": "true"}))
    changed = apply_runner_settings(document, 0, settings)
    entry = document["runners"][0]
    assert [spec["name"] for spec in entry["kubernetes"]["pod_spec"]] == ["theirs", GPU_POD_SPEC_NAME]
    assert "nvidia.com/gpu: 2" in entry["kubernetes"]["pod_spec"][1]["patch"]
    assert entry["environment"] == ["KEEP=1", "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=true"]
    assert entry["kubernetes"]["node_selector"] == {"nvidia.com/gpu.present": "true"}
    assert "kubernetes.pod_spec[%s]" % GPU_POD_SPEC_NAME in changed and "environment" in changed
    assert apply_runner_settings(document, 0, settings) == []
    settings = build_settings(params(executor="kubernetes", kubernetes_gpus=1))
    assert apply_runner_settings(document, 0, settings) == ["kubernetes.pod_spec[%s].patch" % GPU_POD_SPEC_NAME]


def test_free_settings_merge_but_cannot_touch_what_gitlab_owns():
    document = loads(CONFIG)
    settings = build_settings(params(settings={"docker": {"shm_size": 1024}, "request_concurrency": 2}))
    assert apply_runner_settings(document, 0, settings) == ["docker.shm_size", "request_concurrency"]
    with pytest.raises(RunnerConfigError, match="token belong to GitLab"):
        build_settings(params(settings={"token": "x"}))


def test_masking_hides_tokens_and_secret_keys():
    document = loads(CONFIG)
    document["runners"][0]["cache"] = {"s3": {"AccessKey": "ak", "SecretKey": "sk", "BucketName": "b"}}
    masked = mask_secrets(document)
    assert masked["runners"][0]["token"] == MASK and masked["runners"][0]["cache"]["s3"]["SecretKey"] == MASK
    assert masked["runners"][0]["cache"]["s3"]["BucketName"] == "b"
    text = masked_text(document)
    assert "tok-a" not in text and '"sk"' not in text and '"ak"' not in text and "token_obtained_at = 2024" in text
    assert document["runners"][0]["token"] == "tok-a"


def test_read_config_missing_and_invalid(tmp_path):
    assert read_config(str(tmp_path / "absent.toml")) == ("", {})
    bad = tmp_path / "bad.toml"
    bad.write_text("[[runners]]\nname = \n")
    with pytest.raises(RunnerConfigError, match="bad.toml is not valid TOML \\(line 2"):
        read_config(str(bad))


def test_write_atomic_keeps_mode_and_new_files_are_private(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("old")
    os.chmod(str(path), 0o640)
    write_atomic(str(path), "new = 1\n")
    assert path.read_text() == "new = 1\n"
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o640
    fresh = tmp_path / "sub" / "config.toml"
    write_atomic(str(fresh), "a = 1\n")
    assert stat.S_IMODE(os.stat(str(fresh)).st_mode) == 0o600
    assert sorted(os.listdir(str(tmp_path))) == ["config.toml", "sub"]


def test_write_atomic_failure_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "config.toml"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(RunnerConfigError, match="cannot write .*config.toml"):
        write_atomic(str(target), "new = 1\n")
    assert sorted(os.listdir(str(tmp_path))) == ["config.toml"]
    assert (target / "keep").read_text() == "x"


def test_template_and_command_lines():
    settings = build_settings(params(docker_image="alpine:3.20", docker_volumes=["/cache"], environment={"A": "1"}))
    template = template_document(settings)
    assert template == {"runners": [{"executor": "docker", "environment": ["A=1"],
                                     "docker": {"privileged": False, "image": "alpine:3.20", "volumes": ["/cache"]}}]}
    argv = register_argv(["gitlab-runner"], "/etc/gitlab-runner/config.toml", "/tmp/t.toml",
                         params(docker_image="alpine:3.20"))
    assert argv[:2] == ["gitlab-runner", "register"] and argv[-2:] == ["--token", "tok-a"]
    assert "--template-config" in argv and "--registration-token" not in argv
    legacy = register_argv(["docker", "exec", "runner", "gitlab-runner"], "/etc/gitlab-runner/config.toml", "/t",
                           params(token=None, registration_token="GR1", tag_list=["docker", "gpu"], run_untagged=True,
                                  locked=False, access_level="not_protected"))
    assert legacy[:4] == ["docker", "exec", "runner", "gitlab-runner"]
    tail = legacy[legacy.index("--registration-token"):]
    assert tail == ["--registration-token", "GR1", "--tag-list", "docker,gpu", "--run-untagged=true", "--locked=false",
                    "--access-level", "not_protected"]
    assert unregister_argv(["gitlab-runner"], "/c.toml", "https://g", "tok") == [
        "gitlab-runner", "unregister", "--config", "/c.toml", "--url", "https://g", "--token", "tok"]
