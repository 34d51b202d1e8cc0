"""Fixtures of the docker_host_proxy_mirror scenario."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testinfra.host import Host

# The busybox test image is shared with the docker_host scenario.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docker_host" / "tests"))

from lab_image import build_image  # noqa: E402


@pytest.fixture(scope="module")
def scenario_vars(host: Host) -> dict[str, Any]:
    """The inventory variables molecule.yml gave the host."""
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def registry_ca_pem() -> str:
    """The CA prepare.yml made on the controller."""
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "registry-ca.pem"
    return path.read_text(encoding="ascii")


@pytest.fixture(scope="module")
def engine_info(host: Host) -> dict[str, Any]:
    """`docker info` as JSON."""
    return json.loads(host.check_output("docker info --format %s", "{{json .}}"))


@pytest.fixture(scope="module")
def test_image(host: Host) -> Iterator[str]:
    """The busybox image, imported into the host's engine."""
    image = build_image(host)
    yield image
    host.run("docker rmi -f %s", image)
