"""Label Studio as the role left it: real Label Studio 1.23 from its PyPI package on a lab host,
its data in PostgreSQL on another lab host."""

from __future__ import annotations

import secrets
import stat

import pytest
import requests
from testinfra.host import Host

from conftest import CREDENTIALS_DIR, labeling_vars
from ls_client import LabelStudio, LoginRefused

ENV_FILE = "/etc/mlstack/label-studio/label-studio.env"
VENV = "/opt/mlstack/label-studio/venv"
DATA_DIR = "/var/lib/mlstack/label-studio"
LABEL_CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="sentiment" toName="text"><Choice value="positive"/><Choice value="negative"/></Choices></View>'
)


def psql(db: Host, sql: str) -> str:
    """SQL in Label Studio's database, as postgres on the database host."""
    return db.check_output("runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -At -d labelstudio -c %s", sql)


# --- installation and service -------------------------------------------------------------


def test_pinned_label_studio_is_installed_in_the_venv(app: Host) -> None:
    version = app.check_output(
        f"{VENV}/bin/python -c %s", "import importlib.metadata as m; print(m.version('label-studio'))"
    )
    assert version == "1.23.2"


def test_installed_from_the_wheelhouse_only(app: Host) -> None:
    # The lab host cannot reach PyPI; the wheelhouse copied there is what pip used.
    assert app.file("/var/lib/mlstack/wheels/label_studio").is_directory
    wheels = app.check_output("ls /var/lib/mlstack/wheels/label_studio").split()
    assert any(name.startswith("label_studio-1.23.2-") for name in wheels)
    assert len([name for name in wheels if name.endswith(".whl")]) > 100


def test_service_runs_as_its_own_user(app: Host) -> None:
    service = app.service("label-studio")
    assert service.is_running
    assert service.is_enabled
    user = app.check_output("systemctl show -P MainPID label-studio | xargs ps -o user= -p")
    assert user == "label-studio"


def test_listens_only_on_the_address_the_inventory_gave(app: Host, app_address: str) -> None:
    port = labeling_vars()["label_studio_port"]
    listening = app.check_output("ss -Hltn sport = :%s", str(port))
    assert f"{app_address}:{port}" in listening
    assert f"0.0.0.0:{port}" not in listening and f"*:{port}" not in listening
    assert app.run("curl -sf -o /dev/null http://127.0.0.1:%s/health/", str(port)).rc != 0


def test_answers_on_its_port(base_url: str) -> None:
    response = requests.get(f"{base_url}/health/", timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "UP"
    version = requests.get(f"{base_url}/api/version/", timeout=30)
    assert version.json()["release"] == "1.23.2"


# --- secrets -----------------------------------------------------------------------------------


def test_env_file_is_private_and_says_what_the_inventory_asked(app: Host) -> None:
    env_file = app.file(ENV_FILE)
    assert env_file.user == "root" and env_file.mode == 0o600
    content = app.check_output("cat %s", ENV_FILE)
    settings = dict(line.split("=", 1) for line in content.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["DJANGO_DB"] == "default"
    assert settings["POSTGRE_NAME"] == "labelstudio" and settings["POSTGRE_USER"] == "labelstudio"
    assert settings["LABEL_STUDIO_USERNAME"] == labeling_vars()["label_studio_admin_email"]
    assert settings["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    assert settings["SENTRY_DSN"] == "" and settings["LATEST_VERSION_CHECK"] == "false"
    assert settings["LOG_LEVEL"] == "INFO"
    db_password = (CREDENTIALS_DIR / "postgres" / "labelstudio").read_text(encoding="ascii").strip()
    assert settings["POSTGRE_PASSWORD"] == db_password


def test_no_secret_on_a_command_line_or_in_the_unit(app: Host, admin_password: str) -> None:
    db_password = (CREDENTIALS_DIR / "postgres" / "labelstudio").read_text(encoding="ascii").strip()
    command_lines = app.check_output("ps -eo args")
    unit = app.check_output("systemctl cat label-studio")
    for secret in (admin_password, db_password):
        assert secret not in command_lines
        assert secret not in unit


def test_generated_secrets_are_private_on_the_controller() -> None:
    for path in (CREDENTIALS_DIR / "label-studio" / "admin_password", CREDENTIALS_DIR / "label-studio" / "secret_key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert len(path.read_text(encoding="ascii").strip()) >= 32


# --- the administrator, projects, PostgreSQL ----------------------------------------------


def test_admin_logs_in_and_creates_a_project_stored_in_postgres(admin: LabelStudio, db: Host) -> None:
    title = f"verify-{secrets.token_hex(4)}"
    response = admin.post("/api/projects/", {"title": title, "label_config": LABEL_CONFIG})
    assert response.status_code == 201, response.text
    project_id = response.json()["id"]
    assert admin.get(f"/api/projects/{project_id}/").json()["title"] == title
    # The row is in PostgreSQL's table of projects, owned by the administrator.
    row = psql(
        db,
        f"SELECT p.title, u.email FROM project p JOIN htx_user u ON u.id = p.created_by_id WHERE p.id = {project_id}",
    )
    assert row == f"{title}|{labeling_vars()['label_studio_admin_email']}"
    assert admin.delete(f"/api/projects/{project_id}/").status_code == 204


def test_data_is_in_postgres_not_sqlite(app: Host, db: Host) -> None:
    assert int(psql(db, "SELECT count(*) FROM django_migrations")) > 100
    assert app.run("find / -xdev -name '*.sqlite3' -path '*label*' -print -quit").stdout.strip() == ""
    assert not app.file(f"{DATA_DIR}/label_studio.sqlite3").exists


def test_admin_is_the_only_user_and_a_superuser(db: Host, admin_email: str) -> None:
    assert psql(db, "SELECT email, is_superuser FROM htx_user ORDER BY id") == f"{admin_email}|t"


def test_inventory_project_was_created_once(admin: LabelStudio, db: Host) -> None:
    expected = labeling_vars()["label_studio_projects"][0]
    projects = admin.get("/api/projects/", page_size=100).json()["results"]
    matching = [p for p in projects if p["title"] == expected["title"]]
    assert len(matching) == 1
    assert "RectangleLabels" in matching[0]["label_config"]
    assert psql(db, f"SELECT count(*) FROM project WHERE title = '{expected['title']}'") == "1"


def test_wrong_password_is_refused(base_url: str, admin_email: str) -> None:
    with pytest.raises(LoginRefused):
        LabelStudio(base_url).login(admin_email, "not-the-password-" + secrets.token_hex(4))


def test_api_refuses_anonymous_requests(base_url: str) -> None:
    assert requests.get(f"{base_url}/api/projects/", timeout=30).status_code in (401, 403)


def test_anonymous_signup_is_refused(base_url: str, db: Host) -> None:
    email = f"intruder-{secrets.token_hex(4)}@example.invalid"
    response = LabelStudio(base_url).signup(email, "Intruder-password-" + secrets.token_hex(8))
    assert response.status_code == 403
    assert psql(db, f"SELECT count(*) FROM htx_user WHERE email = '{email}'") == "0"
