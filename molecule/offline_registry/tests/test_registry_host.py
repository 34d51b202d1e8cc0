"""The registry host: configuration, users, storage, and what the controller holds."""

from __future__ import annotations

import json
import stat

import yaml
from testinfra.host import Host

testinfra_hosts = ["ansible://offline-registry-host"]


def read_yaml(host: Host, path: str) -> dict:
    return yaml.safe_load(host.file(path).content_string)


def test_endpoints_run_and_share_one_storage(host: Host) -> None:
    for name, mode in (("mlstack-registry", "ro"), ("mlstack-registry-push", "rw")):
        mounts = host.check_output(
            "docker inspect --format '{{range .Mounts}}{{.Destination}}={{.RW}} {{end}}' %s", name
        )
        assert f"/var/lib/registry={'false' if mode == 'ro' else 'true'}" in mounts
        assert host.check_output("docker inspect --format '{{.State.Running}}' %s", name) == "true"


def test_pull_endpoint_is_read_only_and_delete_is_off(host: Host) -> None:
    pull = read_yaml(host, "/etc/mlstack/registry/pull.yml")
    push = read_yaml(host, "/etc/mlstack/registry/push.yml")
    assert pull["storage"]["maintenance"]["readonly"]["enabled"] is True
    assert push["storage"]["maintenance"]["readonly"]["enabled"] is False
    assert pull["storage"]["delete"]["enabled"] is False
    assert push["storage"]["delete"]["enabled"] is False


def test_htpasswd_files_hold_bcrypt_entries_of_the_right_users(host: Host) -> None:
    pull = host.file("/etc/mlstack/registry/htpasswd-pull")
    push = host.file("/etc/mlstack/registry/htpasswd-push")
    assert pull.mode == 0o600 and push.mode == 0o600
    pull_entries = dict(line.split(":", 1) for line in pull.content_string.splitlines())
    push_entries = dict(line.split(":", 1) for line in push.content_string.splitlines())
    assert sorted(pull_entries) == ["pull", "push"]
    assert sorted(push_entries) == ["push"]
    assert all(value.startswith("$2") for value in [*pull_entries.values(), *push_entries.values()])


def test_pushed_layers_are_on_the_host_path(host: Host) -> None:
    repos = host.check_output("ls /var/lib/mlstack/registry/docker/registry/v2/repositories/mlstack-lab")
    assert "offline-registry-probe" in repos.split()


def test_listens_on_the_site_address_not_everywhere(host: Host) -> None:
    listening = host.check_output("docker port mlstack-registry")
    assert "0.0.0.0" not in listening
    assert host.check_output("docker port mlstack-registry-push").strip() == "5000/tcp -> 127.0.0.1:5001"


def test_only_blobs_of_the_bundle_layout_are_on_the_host(host: Host) -> None:
    # The images' blobs wait in the host's layout, named by digest (no archive copies).
    assert host.file("/var/lib/mlstack/images/oci/index.json").exists
    assert not host.file("/var/lib/mlstack/registry-import").exists


def test_credentials_are_private_on_the_controller(credentials) -> None:
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
    for name in ("pull-password", "push-password", "ca.key", "server.key"):
        assert stat.S_IMODE((credentials / name).stat().st_mode) == 0o600, name
    assert (credentials / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_push_endpoint_knows_only_the_push_user(host: Host, pull_password: str, push_password: str) -> None:
    url = "https://127.0.0.1:5001/v2/"
    ca = "/etc/mlstack/registry/certs/ca.crt"
    as_pull = host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --cacert %s -u %s %s", ca, f"pull:{pull_password}", url
    )
    as_push = host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --cacert %s -u %s %s", ca, f"push:{push_password}", url
    )
    assert (as_pull, as_push) == ("401", "200")


def test_service_images_were_loaded_from_the_bundle_and_pushed(host: Host, push_password: str) -> None:
    for repository, tag in (("mlstack-lab/registry", "2.8"), ("mlstack-lab/pypiserver", "2.4.2")):
        assert host.run("docker image inspect %s", f"{repository}:{tag}").rc == 0
        tags = host.check_output(
            "curl -sS --cacert /etc/mlstack/registry/certs/ca.crt -u %s %s",
            f"push:{push_password}",
            f"https://127.0.0.1:5001/v2/{repository}/tags/list",
        )
        assert json.loads(tags) == {"name": repository, "tags": [tag]}
