"""Fixtures of the minio scenario: the two lab hosts, the endpoint and the generated keys."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import testinfra
from testinfra.host import Host

from s3_client import S3Client

STORE = "minio-store"
CLIENT = "minio-client"
CONTAINER = "mlstack-object-store"
CLIENT_CA = "/root/mlstack-site-ca.crt"


def scenario_dir() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def lab_host(name: str) -> Host:
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="session")
def store() -> Host:
    return lab_host(STORE)


@pytest.fixture(scope="session")
def client() -> Host:
    return lab_host(CLIENT)


@pytest.fixture(scope="session")
def endpoint() -> dict[str, Any]:
    """What converge.yml recorded from the role's published facts."""
    return json.loads((scenario_dir() / "endpoint.json").read_text())


@pytest.fixture(scope="session")
def store_vars(store: Host) -> dict[str, Any]:
    return store.ansible.get_variables()


@pytest.fixture(scope="session")
def buckets(store_vars: dict[str, Any]) -> list[dict[str, Any]]:
    return store_vars["minio_buckets"]


@pytest.fixture(scope="session")
def credentials(endpoint: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """(access key, secret key) per consumer and for root, read from the credentials dir."""
    path = Path(endpoint["credentials_path"])

    def read(name: str) -> str:
        return (path / name).read_text().split()[0]

    names = ["root", *endpoint["consumers"]]
    return {name: (read(f"{name}.access_key"), read(f"{name}.secret_key")) for name in names}


@pytest.fixture(scope="session")
def s3(client: Host, endpoint: dict[str, Any]) -> S3Client:
    return S3Client(client, endpoint["endpoint_url"], CLIENT_CA)
