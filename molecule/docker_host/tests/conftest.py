"""Fixtures of the docker_host scenario."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from testinfra.host import Host

from lab_image import build_image


def read_json(host: Host, path: str) -> dict[str, Any]:
    """Parse a JSON file on the host."""
    content = host.file(path).content_string
    return json.loads(content)


@pytest.fixture(scope="module")
def scenario_vars(host: Host) -> dict[str, Any]:
    """The inventory variables molecule.yml gave the host."""
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def daemon_json(host: Host) -> dict[str, Any]:
    """The engine's /etc/docker/daemon.json, parsed."""
    return read_json(host, "/etc/docker/daemon.json")


@pytest.fixture(scope="module")
def test_image(host: Host) -> Iterator[str]:
    """The busybox httpd image, imported into the host's engine."""
    image = build_image(host)
    yield image
    host.run("docker rmi -f %s", image)
