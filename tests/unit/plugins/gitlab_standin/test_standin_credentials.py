# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The lab's Nautilus stand-in behaves like MLReef's image for its credentials (a stand-in:
tests/lab/images/gitlab-standin/entrypoint and tests/lab/standins/gitlab-standin, not MLReef):
root's password seeded once, GITLAB_ADMIN_TOKEN made root's only token on every start,
DB_PASS kept from the first start, the image's defaults the same as MLReef's Dockerfile and
the ones the nautilus role refuses; gitlab-standin's root login and GET /user; and the
nautilus role's root password script carried out by the stand-in's gitlab-rails."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import pathlib
import re
import subprocess
import sys
import threading
import time
import typing as t
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
IMAGE_DIR = ROOT / "tests" / "lab" / "images" / "gitlab-standin"
STANDIN = ROOT / "tests" / "lab" / "standins" / "gitlab-standin"
API = ROOT / "tests" / "unit" / "plugins" / "gitlab_standin" / "api.py"


def load(name: str, path: pathlib.Path) -> t.Any:
    """Import a script that has no .py suffix by its path."""
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@pytest.fixture
def entrypoint(tmp_path, monkeypatch):
    module = load("nautilus_standin_entrypoint", IMAGE_DIR / "entrypoint")
    monkeypatch.setattr(module, "STATE_DIR", str(tmp_path / "gitlab"))
    monkeypatch.setattr(module, "MLREEF_STATE_DIR", str(tmp_path / "mlreef"))
    return module


def read(path: pathlib.Path) -> t.Any:
    return json.loads(path.read_text(encoding="utf-8"))


def env(**values: str) -> t.Dict[str, str]:
    base = {"GITLAB_ROOT_PASSWORD": "first-root-password", "GITLAB_ADMIN_TOKEN": "first-admin-token-0123456789",
            "DB_USER": "mlreef", "DB_PASS": "first-db-password",
            "GITLAB_SECRETS_SECRET_KEY_BASE": "k1", "GITLAB_SECRETS_OTP_KEY_BASE": "k2", "GITLAB_SECRETS_DB_KEY_BASE": "k3"}
    base.update(values)
    return base


def test_root_password_is_seeded_on_the_first_start_only(entrypoint, tmp_path):
    entrypoint.nautilus_credentials(env())
    entrypoint.nautilus_credentials(env(GITLAB_ROOT_PASSWORD="second-root-password"))
    assert (tmp_path / "gitlab" / "root_password.sha256").read_text().strip() == sha256("first-root-password")


def test_admin_token_replaces_all_of_roots_tokens_on_every_start(entrypoint, tmp_path):
    tokens = tmp_path / "gitlab" / "personal_access_tokens.json"
    entrypoint.nautilus_credentials(env())
    store = read(tokens)
    store["tokens"].append({"id": 9, "digest": sha256("someone-elses"), "user": "alice", "admin": False,
                            "revoked": False, "scopes": ["api"], "name": "alice"})
    store["tokens"].append({"id": 10, "digest": sha256("root-by-hand"), "user": "root", "admin": True,
                            "revoked": False, "scopes": ["api"], "name": "by hand"})
    tokens.write_text(json.dumps(store))
    entrypoint.nautilus_credentials(env(GITLAB_ADMIN_TOKEN="second-admin-token-0123456789"))
    store = read(tokens)
    roots = [entry for entry in store["tokens"] if entry["user"] == "root"]
    assert [entry["digest"] for entry in roots] == [sha256("second-admin-token-0123456789")]
    assert roots[0]["scopes"] == ["api", "sudo"] and roots[0]["admin"] is True
    assert [entry["user"] for entry in store["tokens"]].count("alice") == 1
    assert len({entry["id"] for entry in store["tokens"]}) == len(store["tokens"])


def test_database_password_is_kept_from_the_first_start(entrypoint, tmp_path):
    entrypoint.nautilus_credentials(env())
    entrypoint.nautilus_credentials(env(DB_PASS="second-db-password"))
    assert read(tmp_path / "mlreef" / "database_user.json") == {"user": "mlreef",
                                                                "password_sha256": sha256("first-db-password")}


def test_key_bases_are_recorded_as_given_on_every_start(entrypoint, tmp_path):
    entrypoint.nautilus_credentials(env())
    entrypoint.nautilus_credentials(env(GITLAB_SECRETS_OTP_KEY_BASE="k2-new"))
    assert read(tmp_path / "gitlab" / "secrets_key_bases.json") == {
        "GITLAB_SECRETS_SECRET_KEY_BASE": sha256("k1"), "GITLAB_SECRETS_OTP_KEY_BASE": sha256("k2-new"),
        "GITLAB_SECRETS_DB_KEY_BASE": sha256("k3")}


def nautilus_stage_env() -> t.Dict[str, str]:
    """The ENV of the Dockerfile's nautilus stage."""
    text = (IMAGE_DIR / "Dockerfile").read_text(encoding="utf-8")
    stage = text.split("FROM common AS nautilus", 1)[1]
    block = re.search(r"^ENV (.*?)(?<!\\)$", stage, re.M | re.S).group(1)
    return dict(re.findall(r'([A-Z_]+)="([^"]*)"', block))


def test_the_stand_ins_defaults_are_the_ones_the_role_refuses():
    """MLReef's Dockerfile (MLReef/mlreef, stage NAUTILUS) values, in the stand-in and in the role."""
    defaults = nautilus_stage_env()
    role_vars = yaml.safe_load((ROOT / "roles" / "nautilus" / "vars" / "main.yml").read_text(encoding="utf-8"))
    key_base = role_vars["_nautilus_upstream_key_base"]
    refused = {item["env"]: item["upstream"].replace("{{ _nautilus_upstream_key_base }}", key_base)
               for item in role_vars["_nautilus_credentials"]}
    assert refused == {name: defaults[name] for name in refused}
    assert refused["GITLAB_ROOT_PASSWORD"] == "password" and refused["GITLAB_ADMIN_TOKEN"] == "token"
    assert defaults["INSTANCE_HOST"] == "localhost"


@pytest.fixture
def server(tmp_path):
    module = load("gitlab_standin_server", STANDIN)
    server_class = module.make_server_class(module.load_api(str(API)))
    standin = server_class("http://localhost", str(tmp_path), None)
    standin.tokens = {}
    (tmp_path / "root_password.sha256").write_text(sha256("generated-root-password") + "\n")
    (tmp_path / "personal_access_tokens.json").write_text(json.dumps({"tokens": [
        {"id": 1, "digest": sha256("generated-admin-token"), "user": "root", "admin": True, "revoked": False,
         "scopes": ["api", "sudo"], "expires_at": None, "name": "mlreef-backend-api-token"}]}))
    thread = threading.Thread(target=standin.serve, args=("127.0.0.1", 0), daemon=True)
    thread.start()
    for _attempt in range(100):
        if getattr(standin, "server", None) is not None:
            break
        time.sleep(0.02)
    yield "http://127.0.0.1:%d" % standin.server.server_address[1]
    standin.server.shutdown()
    standin.server.server_close()


def call(url: str, data: t.Optional[t.Dict[str, str]] = None, headers: t.Optional[t.Dict[str, str]] = None):
    body = urllib.parse.urlencode(data).encode("ascii") if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.parametrize("username, password, status", [
    ("root", "generated-root-password", 200),
    ("root", "password", 400),
    ("admin", "generated-root-password", 400),
])
def test_root_login_takes_only_the_seeded_password(server, username, password, status):
    code, answer = call(server + "/oauth/token", {"grant_type": "password", "username": username, "password": password})
    assert code == status
    assert ("access_token" in answer) if status == 200 else answer["error"] == "invalid_grant"


def test_user_answers_for_the_stored_admin_token_only(server):
    assert call(server + "/api/v4/user", headers={"PRIVATE-TOKEN": "generated-admin-token"}) == (
        200, {"id": 1, "username": "root", "is_admin": True})
    assert call(server + "/api/v4/user", headers={"PRIVATE-TOKEN": "token"})[0] == 401


def rails(state_dir: pathlib.Path, script: str, stdin: str) -> subprocess.CompletedProcess:
    """gitlab-rails runner SCRIPT of the stand-in, with stdin."""
    return subprocess.run([sys.executable, str(IMAGE_DIR / "gitlab_rails_standin"), "runner", "-e", "production", script],
                          input=stdin, capture_output=True, text=True, env={"GITLAB_STANDIN_STATE_DIR": str(state_dir)},
                          check=False)


def test_the_roles_root_password_script_sets_what_the_login_checks(tmp_path):
    script = yaml.safe_load((ROOT / "roles" / "nautilus" / "vars" / "main.yml").read_text(encoding="utf-8"))[
        "_nautilus_root_password_script"]
    (tmp_path / "root_password.sha256").write_text(sha256("password") + "\n")
    done = rails(tmp_path, script, "generated-root-password\n")
    assert done.returncode == 0 and "mlstack: root password set" in done.stdout
    assert (tmp_path / "root_password.sha256").read_text().strip() == sha256("generated-root-password")
    short = rails(tmp_path, script, "short\n")
    assert short.returncode == 1 and "too short" in short.stderr
    assert (tmp_path / "root_password.sha256").read_text().strip() == sha256("generated-root-password")
