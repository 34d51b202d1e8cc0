"""The registry and the package mirror, seen from another docker host."""

from __future__ import annotations

import uuid

import pytest
from testinfra.host import Host

from conftest import PROBE_NAMES, REGISTRY

testinfra_hosts = ["ansible://offline-registry-client"]

CA_PATH = f"/etc/docker/certs.d/{REGISTRY}/ca.crt"


def remove_image(host: Host, ref: str) -> None:
    host.run("docker rmi -f %s", ref)


@pytest.fixture()
def empty_docker_config(host: Host):
    """A docker client configuration directory without any login."""
    path = f"/tmp/docker-config-{uuid.uuid4().hex[:8]}"
    host.run_expect([0], "mkdir -p %s", path)
    yield path
    host.run("rm -rf %s", path)


@pytest.fixture()
def pull_login(host: Host, pull_password: str, empty_docker_config: str) -> str:
    """A fresh docker client configuration logged in with the pull user."""
    result = host.run(
        "printf %s %s | docker --config %s login --username pull --password-stdin %s",
        "%s",
        pull_password,
        empty_docker_config,
        REGISTRY,
    )
    assert result.rc == 0, result.stderr
    return empty_docker_config


@pytest.mark.parametrize("source", sorted(PROBE_NAMES))
def test_pull_user_pulls_every_pushed_image(host: Host, pull_login: str, probe_image_id: str, source: str) -> None:
    ref = f"{REGISTRY}/{PROBE_NAMES[source]}"
    remove_image(host, ref)
    try:
        result = host.run("docker --config %s pull %s", pull_login, ref)
        assert result.rc == 0, result.stderr
        image_id = host.check_output("docker image inspect --format '{{.Id}}' %s", ref)
        assert image_id == probe_image_id
    finally:
        remove_image(host, ref)


def test_root_was_logged_in_by_the_client_entry_point(host: Host, probe_image_id: str) -> None:
    ref = f"{REGISTRY}/{PROBE_NAMES['docker.io/mlstack-lab/offline-registry-probe:1']}"
    remove_image(host, ref)
    try:
        result = host.run("docker pull %s", ref)
        assert result.rc == 0, result.stderr
        assert host.check_output("docker image inspect --format '{{.Id}}' %s", ref) == probe_image_id
    finally:
        remove_image(host, ref)


def test_anonymous_pull_is_refused(host: Host, empty_docker_config: str) -> None:
    ref = f"{REGISTRY}/{PROBE_NAMES['docker.io/mlstack-lab/offline-registry-probe:1']}"
    result = host.run("docker --config %s pull %s", empty_docker_config, ref)
    assert result.rc != 0
    assert "no basic auth credentials" in result.stderr or "unauthorized" in result.stderr
    assert not host.run("docker image inspect %s", ref).rc == 0


def test_anonymous_api_request_is_refused(host: Host) -> None:
    status = host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --cacert %s https://%s/v2/_catalog", CA_PATH, REGISTRY
    )
    assert status == "401"


def test_pull_without_the_ca_is_refused(host: Host, pull_login: str) -> None:
    ref = f"{REGISTRY}/{PROBE_NAMES['docker.io/mlstack-lab/offline-registry-probe:1']}"
    remove_image(host, ref)
    host.run_expect([0], "mv %s %s.moved", CA_PATH, CA_PATH)
    try:
        result = host.run("docker --config %s pull %s", pull_login, ref)
    finally:
        host.run_expect([0], "mv %s.moved %s", CA_PATH, CA_PATH)
        remove_image(host, ref)
    assert result.rc != 0
    assert "x509" in result.stderr or "certificate" in result.stderr
    # and the same for any TLS client that does not know the site CA
    assert host.run("curl -sS -o /dev/null https://%s/v2/", REGISTRY).rc == 60


def test_pull_user_cannot_push(host: Host, pull_login: str) -> None:
    name = f"{REGISTRY}/mlstack-lab/pushed-by-pull:{uuid.uuid4().hex[:8]}"
    host.run_expect([0], "bash -c %s", f"echo x > /tmp/f && tar -C /tmp -c f | docker import - {name}")
    try:
        result = host.run("docker --config %s push %s", pull_login, name)
    finally:
        remove_image(host, name)
    assert result.rc != 0, result.stdout
    assert "405" in result.stderr  # the site endpoint is read-only: Method not allowed


def test_push_user_cannot_push_through_the_site_endpoint(
    host: Host, push_password: str, empty_docker_config: str
) -> None:
    host.run_expect(
        [0],
        "printf %s %s | docker --config %s login --username push --password-stdin %s",
        "%s",
        push_password,
        empty_docker_config,
        REGISTRY,
    )
    name = f"{REGISTRY}/mlstack-lab/pushed-by-push:{uuid.uuid4().hex[:8]}"
    host.run_expect([0], "bash -c %s", f"echo y > /tmp/g && tar -C /tmp -c g | docker import - {name}")
    try:
        result = host.run("docker --config %s push %s", empty_docker_config, name)
    finally:
        remove_image(host, name)
    assert result.rc != 0
    assert "405" in result.stderr  # read-only whoever logs in: Method not allowed


def test_push_endpoint_is_not_reachable_from_other_hosts(host: Host) -> None:
    result = host.run("curl -sS --max-time 5 -k -o /dev/null https://offline-registry-host:5001/v2/")
    assert result.rc == 7  # could not connect: published on the registry host's 127.0.0.1 only


def test_pip_installs_a_wheel_from_the_mirror(host: Host) -> None:
    venv = f"/tmp/venv-{uuid.uuid4().hex[:8]}"
    host.run_expect([0], "python3 -m venv %s", venv)
    try:
        result = host.run(
            "%s/bin/pip install --disable-pip-version-check --index-url %s --trusted-host %s mlstack-probe==1.0.0",
            venv,
            "http://offline-registry-host:8080/simple/",
            "offline-registry-host",
        )
        assert result.rc == 0, result.stdout + result.stderr
        message = host.check_output("%s/bin/python -c %s", venv, "import mlstack_probe; print(mlstack_probe.MESSAGE)")
        assert message == "served by the offline_registry package mirror"
    finally:
        host.run("rm -rf %s", venv)


def test_mirror_does_not_fall_back_to_pypi(host: Host) -> None:
    status = host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' %s", "http://offline-registry-host:8080/simple/requests/"
    )
    assert status == "404"
