"""Fixtures shared by the role tests: the seed's site rendered once per session."""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from role_render import APPS, _inventory, _run, _seed_credentials


@pytest.fixture(scope="session")
def seed_site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The three roles rendered twice for the seed's one-VM site (the second run must change
    nothing): the credentials made, both runs, the render directory and each app's values."""
    tmp = tmp_path_factory.mktemp("k8s-renders")
    creds = tmp / "credentials"
    made = _seed_credentials(creds)
    inventory = _inventory(tmp, creds)
    first = _run(tmp, inventory)
    assert first.returncode == 0, first.stdout + first.stderr
    second = _run(tmp, inventory)
    assert second.returncode == 0, second.stdout + second.stderr
    render = tmp / "render"
    return {
        "tmp": tmp, "creds": creds, "made": made, "inventory": inventory, "first": first, "second": second,
        "render": render,
        "values": {app: yaml.safe_load((render / app / "values.yml").read_text()) for app in APPS},
    }
