"""Fixtures of the offline_registry scenario: what the controller made, read directly."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

REGISTRY = "offline-registry-host:5000"
PROBE_NAMES = {
    # tag in the bundle's archive -> repository path in the site registry
    "mlstack-lab/offline-registry-probe:1": "mlstack-lab/offline-registry-probe:1",
    "quay.io/mlstack/offline-registry-probe:2": "mlstack/offline-registry-probe:2",
    "offline-registry-probe:3": "library/offline-registry-probe:3",
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
    """The probe image's config digest, as the bundle's archive names it."""
    with tarfile.open(scenario_dir / "bundle" / "images" / "probe.tar") as archive:
        member = archive.extractfile("manifest.json")
        assert member is not None
        manifest = json.load(member)
    assert len(manifest) == 1
    assert sorted(manifest[0]["RepoTags"]) == sorted(PROBE_NAMES)
    return "sha256:" + Path(manifest[0]["Config"]).name.removesuffix(".json")
