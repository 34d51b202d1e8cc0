"""The web server Label Studio runs under: uWSGI as Label Studio's image sets it up (not
Django's development server), with the processes and threads of the inventory, serving the
API to a personal access token and the login page's static files."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests
from testinfra.host import Host

from conftest import labeling_vars
from ls_client import LabelStudio

TIMEOUT = 30
UWSGI_INI = "/opt/mlstack/label-studio/label-studio-uwsgi.ini"


class _Stylesheets(HTMLParser):
    """The href of every <link rel="stylesheet"> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and "stylesheet" in (values.get("rel") or "").split() and values.get("href"):
            self.hrefs.append(values["href"] or "")


def test_the_service_is_uwsgi_not_the_development_server(app: Host) -> None:
    exec_start = app.check_output("systemctl show -P ExecStart label-studio")
    assert "path=/opt/mlstack/label-studio/venv/bin/uwsgi" in exec_start, exec_start
    assert f"--ini {UWSGI_INI}" in exec_start, exec_start
    pid = app.check_output("systemctl show -P MainPID label-studio")
    assert app.check_output("ps -o args= -p %s", pid).endswith(f"/venv/bin/uwsgi --ini {UWSGI_INI}")
    assert "DJANGO_SETTINGS_MODULE=core.settings.label_studio" in app.check_output(
        "systemctl show -P Environment label-studio"
    )
    everything = app.check_output("ps -eo args")
    assert "runserver" not in everything and "label-studio start" not in everything
    unit = app.check_output("systemctl cat label-studio")
    assert "ExecStartPre=/opt/mlstack/label-studio/venv/bin/label-studio init" in unit


def test_workers_and_threads_are_the_inventorys(app: Host) -> None:
    wanted = labeling_vars()
    settings = dict(
        line.split(" = ", 1) for line in app.file(UWSGI_INI).content_string.splitlines() if " = " in line
    )
    assert settings["processes"] == str(wanted["label_studio_uwsgi_processes"])
    assert settings["threads"] == str(wanted["label_studio_uwsgi_threads"])
    assert settings["module"] == "core.wsgi:application"
    # The master's children: the workers and uWSGI's HTTP router; the workers say so in the log.
    pid = app.check_output("systemctl show -P MainPID label-studio")
    children = app.check_output("ps -o pid= --ppid %s", pid).split()
    assert len(children) == int(wanted["label_studio_uwsgi_processes"]) + 1, children
    log = app.check_output("journalctl -u label-studio -o cat --no-pager _PID=%s", pid)
    spawned = set(re.findall(r"spawned uWSGI worker \d+ \(pid: (\d+), cores: (\d+)\)", log))
    assert len(spawned) == int(wanted["label_studio_uwsgi_processes"]), log[-2000:]
    assert {worker for worker, _cores in spawned} <= set(children)
    assert {cores for _worker, cores in spawned} == {str(wanted["label_studio_uwsgi_threads"])}
    # The settings file holds no secret and is the only file the service reads outside the env file.
    assert app.file(UWSGI_INI).mode == 0o644 and "PASSWORD" not in app.file(UWSGI_INI).content_string


def test_api_answers_a_personal_access_token(admin: LabelStudio, base_url: str) -> None:
    created = admin.post("/api/token/", {})
    if created.status_code == 409:  # one token per user: revoke the earlier one (its list shows it truncated)
        for token in admin.get("/api/token/").json():
            assert admin.post("/api/token/blacklist/", {"refresh": token["token"]}).status_code in (200, 204)
        created = admin.post("/api/token/", {})
    assert created.status_code == 201, created.text
    refresh = created.json()["token"]
    access = requests.post(f"{base_url}/api/token/refresh/", json={"refresh": refresh}, timeout=TIMEOUT)
    assert access.status_code == 200, access.text
    headers = {"Authorization": f"Bearer {access.json()['access']}"}
    projects = requests.get(f"{base_url}/api/projects/", headers=headers, timeout=TIMEOUT)
    assert projects.status_code == 200, projects.text
    titles = [project["title"] for project in projects.json()["results"]]
    assert labeling_vars()["label_studio_projects"][0]["title"] in titles
    wrong = {"Authorization": f"Bearer {access.json()['access'][:-4]}AAAA"}
    assert requests.get(f"{base_url}/api/projects/", headers=wrong, timeout=TIMEOUT).status_code in (401, 403)


def test_login_page_stylesheets_are_served(base_url: str) -> None:
    page = requests.get(f"{base_url}/user/login/", timeout=TIMEOUT)
    assert page.status_code == 200
    parser = _Stylesheets()
    parser.feed(page.text)
    assert parser.hrefs, page.text[:2000]
    for href in parser.hrefs:
        url = urljoin(f"{base_url}/user/login/", href)
        response = requests.get(url, timeout=TIMEOUT)
        assert response.status_code == 200, url
        assert response.headers["Content-Type"].startswith("text/css"), (url, response.headers["Content-Type"])
        assert len(response.content) > 0, url
