# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The Nautilus stand-in's emulation of MLReef's wrapper (MLReef/mlreef nautilus/assets/
mlreef-wrapper, mlreefdb-setup; stand-ins, not MLReef): a new "Packaged Runner" on every
start, MLReef's database "started" only after it, and the psql stand-in carrying out the
nautilus role's ALTER USER block against the recorded database user."""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import sys
import typing as t

import pytest
import yaml

from gitlab_standin.api import GitlabApiStandin
from gitlab_standin.test_standin_credentials import load

ROOT = pathlib.Path(__file__).resolve().parents[4]
IMAGE_DIR = ROOT / "tests" / "lab" / "images" / "gitlab-standin"
PSQL = IMAGE_DIR / "psql_standin"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def role_sql(password: str) -> str:
    """The nautilus role's block (roles/nautilus/vars/main.yml), rendered by hand for a password."""
    template = yaml.safe_load((ROOT / "roles" / "nautilus" / "vars" / "main.yml").read_text())["_nautilus_db_password_sql"]
    return (template.replace("{{ _nautilus_db_user }}", "mlreef")
            .replace("{{ _nautilus_secrets.DB_PASS }}", password))


def psql(state: pathlib.Path, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PSQL), "-p", "6000", "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=sql,
                          capture_output=True, text=True, check=False, env={"MLREEF_STANDIN_STATE_DIR": str(state)})


def test_psql_fails_until_the_database_runs_then_sets_a_differing_password_once(tmp_path):
    state = tmp_path / "mlreef"
    state.mkdir()
    (state / "database_user.json").write_text(json.dumps({"user": "mlreef", "password_sha256": sha256("password")}))
    assert psql(state, role_sql("generated-db-password")).returncode == 2  # not started yet
    (state / "cluster.running").write_text("")
    first = psql(state, role_sql("generated-db-password"))
    assert first.returncode == 0 and "mlstack: database password set" in first.stderr
    assert json.loads((state / "database_user.json").read_text())["password_sha256"] == sha256("generated-db-password")
    again = psql(state, role_sql("generated-db-password"))
    assert again.returncode == 0 and "mlstack: database password set" not in again.stderr
    assert psql(state, "SELECT 1;").returncode == 3


@pytest.fixture
def entrypoint(tmp_path, monkeypatch) -> t.Any:
    module = load("nautilus_standin_entrypoint_runners", IMAGE_DIR / "entrypoint")
    monkeypatch.setattr(module, "STATE_DIR", str(tmp_path / "gitlab"))
    monkeypatch.setattr(module, "DATABASE_RUNNING", str(tmp_path / "cluster.running"))
    monkeypatch.setattr(module, "PACKAGED_RUNNER_CONFIG", str(tmp_path / "gitlab-runner" / "config.toml"))
    (tmp_path / "gitlab").mkdir()
    return module


def test_every_start_registers_one_more_packaged_runner(entrypoint, tmp_path):
    api = GitlabApiStandin().start()
    try:
        (tmp_path / "gitlab" / "registration_token").write_text(api.registration_token + "\n")
        port = int(api.url.rsplit(":", 1)[1])
        for _start in range(2):
            entrypoint.register_packaged_runner(port, lock=str(tmp_path / "configuration.lock"))
        packaged = [runner for runner in api.runners.values() if runner["description"] == "Packaged Runner"]
        assert len(packaged) == 2 and {runner["runner_type"] for runner in packaged} == {"instance_type"}
        assert not (tmp_path / "configuration.lock").exists() and (tmp_path / "cluster.running").exists()
        config = (tmp_path / "gitlab-runner" / "config.toml").read_text()
        assert max(packaged, key=lambda runner: runner["id"])["token"] in config
    finally:
        api.stop()
