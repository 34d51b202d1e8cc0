"""Fixtures of the label_studio scenario: the two lab hosts, Label Studio's URL, secrets.

Label Studio is reached from the controller over the scenario's Docker network, on the
address and port the inventory gave the role (the lab host's address, port 8081).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from testinfra.host import Host

from ls_client import LabelStudio

SCENARIO_DIR = Path(__file__).resolve().parents[1]
EPHEMERAL_DIR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
INVENTORY_DIR = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
CREDENTIALS_DIR = EPHEMERAL_DIR / "credentials"


def lab_host(name: str) -> Host:
    """A lab host of the scenario, reached like molecule reaches it."""
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(INVENTORY_DIR))


def labeling_vars() -> dict[str, Any]:
    """The raw group_vars molecule.yml gives the labeling group (templates not rendered)."""
    config = yaml.safe_load((SCENARIO_DIR / "molecule.yml").read_text(encoding="utf-8"))
    return config["provisioner"]["inventory"]["group_vars"]["labeling"]


@pytest.fixture(scope="session")
def app() -> Host:
    return lab_host("label-studio-app")


@pytest.fixture(scope="session")
def db() -> Host:
    return lab_host("label-studio-db")


@pytest.fixture(scope="session")
def app_address(app: Host) -> str:
    return app.check_output("hostname -I").split()[0]


@pytest.fixture(scope="session")
def base_url(app_address: str) -> str:
    return f"http://{app_address}:{labeling_vars()['label_studio_port']}"


@pytest.fixture(scope="session")
def admin_email() -> str:
    return labeling_vars()["label_studio_admin_email"]


@pytest.fixture(scope="session")
def admin_password() -> str:
    """The password the role generated on the controller."""
    return (CREDENTIALS_DIR / "label-studio" / "admin_password").read_text(encoding="ascii").strip()


@pytest.fixture(scope="session")
def admin(base_url: str, admin_email: str, admin_password: str) -> LabelStudio:
    """A session logged in as the administrator with the generated credentials."""
    client = LabelStudio(base_url)
    client.login(admin_email, admin_password)
    return client
