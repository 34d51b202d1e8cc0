"""Fixtures of the postgres scenario: the four lab hosts by role, and the passwords.

The tests address hosts by name (server, client, outsider, offline) rather than through
testinfra's per-host `host` fixture, because most checks involve two hosts at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from testinfra.host import Host

from pg import Consumer

SCENARIO_DIR = Path(__file__).resolve().parents[1]
EPHEMERAL_DIR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
INVENTORY_DIR = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent


def lab_host(name: str) -> Host:
    """A lab host of the scenario, reached like molecule reaches it."""
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(INVENTORY_DIR))


def scenario_group_vars(group: str) -> dict[str, Any]:
    """The raw group_vars molecule.yml gives a group (templates not rendered)."""
    config = yaml.safe_load((SCENARIO_DIR / "molecule.yml").read_text(encoding="utf-8"))
    return config["provisioner"]["inventory"]["group_vars"][group]


@pytest.fixture(scope="session")
def server() -> Host:
    return lab_host("postgres-server")


@pytest.fixture(scope="session")
def client() -> Host:
    return lab_host("postgres-client")


@pytest.fixture(scope="session")
def outsider() -> Host:
    return lab_host("postgres-outsider")


@pytest.fixture(scope="session")
def offline() -> Host:
    return lab_host("postgres-offline")


@pytest.fixture(scope="session")
def server_address(server: Host) -> str:
    return server.check_output("hostname -I").split()[0]


@pytest.fixture(scope="session")
def credentials_dir() -> Path:
    """Where the role generated the passwords on the controller (mlstack_credentials_dir)."""
    return EPHEMERAL_DIR / "credentials" / "postgres"


@pytest.fixture(scope="session")
def consumers(credentials_dir: Path, server_address: str) -> dict[str, Consumer]:
    """Every database of postgres_databases, with its owner and generated password."""
    result = {}
    for entry in scenario_group_vars("postgres")["postgres_databases"]:
        owner = entry.get("owner") or entry["name"]
        password = (credentials_dir / owner).read_text(encoding="ascii").strip()
        result[entry["name"]] = Consumer(
            server=server_address,
            database=entry["name"],
            user=owner,
            password=password,
            extensions=tuple(entry.get("extensions", [])),
        )
    return result
