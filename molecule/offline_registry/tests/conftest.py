"""Fixtures of the offline_registry scenario: what the controller made, read directly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REGISTRY = "offline-registry-host:5000"
PROBE_NAMES = {
    # name in the bundle's OCI layout -> repository path in the site registry
    "docker.io/mlstack-lab/offline-registry-probe:1": "mlstack-lab/offline-registry-probe:1",
    "quay.io/mlstack/offline-registry-probe:2": "mlstack/offline-registry-probe:2",
    "docker.io/library/offline-registry-probe:3": "library/offline-registry-probe:3",
}


@pytest.fixture(scope="session")
def scenario_dir() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


@pytest.fixture(scope="session")
def credentials(scenario_dir: Path) -> Path:
    return scenario_dir / "credentials" / "offline_registry"


@pytest.fixture(scope="session")
def pull_password(credentials: Path) -> str:
    return (credentials / "pull-password").read_text().split()[0]


@pytest.fixture(scope="session")
def push_password(credentials: Path) -> str:
    return (credentials / "push-password").read_text().split()[0]


@pytest.fixture(scope="session")
def probe_image_id(scenario_dir: Path) -> str:
    """The probe image's config digest (its ID), as the bundle's OCI layout names it."""
    layout = scenario_dir / "bundle" / "images" / "oci"
    index = json.loads((layout / "index.json").read_text())
    configs = set()
    names = []
    for entry in index["manifests"]:
        name = entry["annotations"]["org.opencontainers.image.ref.name"]
        if "offline-registry-probe" not in name:
            continue
        names.append(name)
        manifest = json.loads((layout / "blobs" / "sha256" / entry["digest"].split(":", 1)[1]).read_text())
        configs.add(manifest["config"]["digest"])
    assert sorted(names) == sorted(PROBE_NAMES)
    assert len(configs) == 1
    return configs.pop()
