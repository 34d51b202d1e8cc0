# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""label_studio_projects against label-studio-api-standin: an HTTP server in a thread
(http.server) that emulates the parts of Label Studio 1.23's web API the module uses, as
plugins/module_utils/_label_studio_api.py's docstring lists them: the login page setting
csrftoken, the login form answering 302 + sessionid (200 on a wrong password), the CSRF check
of API writes, /api/projects/ (title filter meaning "contains", pages of 2 here to exercise the
paging) and the S3 import/export storage lists and creation (400 + validation_errors for a bucket
it "cannot reach"). It is not Label Studio: molecule/label_studio runs the module against the
real one (projects and storages read back through Label Studio's API and the object store)."""

from __future__ import annotations

import http.cookies
import http.server
import json
import threading
import typing as t
import urllib.parse

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.module_utils._label_studio_api import storage_body
from ansible_collections.mlstack.platform.plugins.modules import label_studio_projects

PASSWORD = "adm1n-pa55-never-shown"
SECRET_KEY = "s3-secret-never-shown"
KEYS = {"s3_access_key": "LSKEY", "s3_secret_key": SECRET_KEY}


class LabelStudioStandin:
    """label-studio-api-standin (see the module docstring)."""

    def __init__(self) -> None:
        self.projects: t.List[t.Dict[str, t.Any]] = []
        self.storages: t.Dict[str, t.List[t.Dict[str, t.Any]]] = {"s3": [], "export/s3": []}
        self.unreachable_buckets: t.Set[str] = set()
        self.requests: t.List[t.Tuple[str, str]] = []
        self.bodies: t.List[t.Any] = []
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _cookies(self) -> t.Dict[str, str]:
                jar = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
                return {k: v.value for k, v in jar.items()}

            def _send(self, status: int, body: t.Any = None, headers: t.Sequence[t.Tuple[str, str]] = ()) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self, write: bool) -> bool:
                cookies = self._cookies()
                if cookies.get("sessionid") != "sess-1":
                    return False
                return not write or (self.headers.get("X-CSRFToken") == cookies.get("csrftoken") == "csrf-1"
                                     and bool(self.headers.get("Referer")))

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                standin.requests.append(("GET", self.path))
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/user/login/":
                    self._send(200, None, [("Set-Cookie", "csrftoken=csrf-1; Path=/")])
                    return
                if not self._authorized(write=False):
                    self._send(401, {"detail": "Authentication credentials were not provided."})
                    return
                if url.path == "/api/projects/":
                    matching = [p for p in standin.projects if query.get("title", "") in p["title"]]
                    page, size = int(query.get("page", 1)), 2
                    chunk = matching[(page - 1) * size:page * size]
                    more = page * size < len(matching)
                    self._send(200, {"count": len(matching), "next": "p%d" % (page + 1) if more else None,
                                     "previous": None, "results": chunk})
                    return
                for path, stored in standin.storages.items():
                    if url.path == "/api/storages/" + path:
                        self._send(200, [s for s in stored if s["project"] == int(query["project"])])
                        return
                self._send(404, {"detail": "Not found."})

            def do_POST(self) -> None:  # noqa: N802
                standin.requests.append(("POST", self.path))
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/user/login/":
                    form = dict(urllib.parse.parse_qsl(raw.decode()))
                    if form.get("csrfmiddlewaretoken") != "csrf-1" or self._cookies().get("csrftoken") != "csrf-1":
                        self._send(403)
                    elif form.get("email") == "admin@example.org" and form.get("password") == PASSWORD:
                        self._send(302, None, [("Location", "/"), ("Set-Cookie", "sessionid=sess-1; HttpOnly; Path=/")])
                    else:
                        self._send(200)
                    return
                if not self._authorized(write=True):
                    self._send(403, {"detail": "CSRF Failed"})
                    return
                body = json.loads(raw)
                standin.bodies.append(body)
                if self.path == "/api/projects/":
                    project = dict(body, id=len(standin.projects) + 1)
                    standin.projects.append(project)
                    self._send(201, project)
                    return
                path = self.path[len("/api/storages/"):]
                if path in standin.storages:
                    if body["bucket"] in standin.unreachable_buckets:
                        self._send(400, {"validation_errors": {"non_field_errors": [
                            "Validation error: bucket %s: An error occurred (NoSuchBucket)" % body["bucket"]]}})
                        return
                    storage = dict(body, id=100 + sum(len(v) for v in standin.storages.values()))
                    standin.storages[path].append(storage)
                    self._send(201, storage)
                    return
                self._send(404)

            def log_message(self, *args: t.Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def writes(self) -> t.List[t.Tuple[str, str]]:
        return [r for r in self.requests if r[0] == "POST" and r[1] != "/user/login/"]


@pytest.fixture()
def standin() -> t.Iterator[LabelStudioStandin]:
    server = LabelStudioStandin()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def run(capsys: t.Any, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            label_studio_projects.main()
    return json.loads(capsys.readouterr().out)


LAB_PROJECTS = [
    {"title": "Lab images", "description": "probe", "label_config": "<View/>",
     "s3_import": {"prefix": "lab/images", "regex_filter": ".*jpg"}, "s3_export": {"prefix": "lab/annotations"}},
    {"title": "Plain"},
]


def args(url: str, **extra: t.Any) -> t.Dict[str, t.Any]:
    base = {"url": url, "email": "admin@example.org", "password": PASSWORD, "projects": LAB_PROJECTS,
            "s3_bucket": "label-studio", "s3_region": "us-east-1", "s3_access_key": "LSKEY",
            "s3_secret_key": SECRET_KEY, "credentials_hint": "/creds/label-studio/admin_password"}
    base.update(extra)
    return base


def test_creates_what_is_missing_then_changes_nothing(capsys, standin):
    result = run(capsys, args(standin.url))
    assert result["changed"] is True, result
    assert [(p["title"], p["created"]) for p in result["projects"]] == [("Lab images", True), ("Plain", True)]
    lab = result["projects"][0]
    assert [(s["kind"], s["title"], s["created"]) for s in lab["storages"]] == [
        ("import", "Lab images import", True), ("export", "Lab images export", True)]
    assert all(s["id"] > 0 for s in lab["storages"])
    assert standin.projects[0]["label_config"] == "<View/>" and "label_config" not in standin.projects[1]
    imported = standin.storages["s3"][0]
    assert (imported["project"], imported["bucket"], imported["prefix"], imported["regex_filter"], imported["presign"]) == (
        lab["id"], "label-studio", "lab/images", ".*jpg", True)
    assert standin.storages["export/s3"][0]["can_delete_objects"] is False
    out = json.dumps(result)
    assert PASSWORD not in out and SECRET_KEY not in out

    writes = len(standin.writes())
    again = run(capsys, args(standin.url))
    assert again["changed"] is False, again
    assert [p["id"] for p in again["projects"]] == [p["id"] for p in result["projects"]]
    assert len(standin.writes()) == writes


def test_a_title_that_only_contains_another_is_not_a_match(capsys, standin):
    standin.projects += [{"id": 1, "title": "Lab images 2"}, {"id": 2, "title": "Old Lab images"},
                         {"id": 3, "title": "Lab images (copy)"}]
    result = run(capsys, args(standin.url, projects=[{"title": "Lab images"}]))
    assert result["changed"] is True and result["projects"][0]["id"] == 4
    # Found on the second page of the API's answer (pages of 2 in the stand-in).
    again = run(capsys, args(standin.url, projects=[{"title": "Lab images"}]))
    assert again["changed"] is False and again["projects"][0]["id"] == 4
    assert ("GET", "/api/projects/?page_size=100&page=2&title=Lab%20images") in standin.requests


def test_check_mode_reports_and_creates_nothing(capsys, standin):
    standin.projects.append({"id": 1, "title": "Plain"})
    result = run(capsys, args(standin.url, _ansible_check_mode=True))
    assert result["changed"] is True
    assert [(p["title"], p["id"], p["created"]) for p in result["projects"]] == [("Lab images", 0, True), ("Plain", 1, False)]
    assert [s["created"] for s in result["projects"][0]["storages"]] == [True, True]
    assert standin.writes() == []


def test_a_refused_login_fails_naming_the_email_and_where_the_password_comes_from(capsys, standin):
    result = run(capsys, args(standin.url, password="wrong"))
    assert result["failed"] is True
    assert "admin@example.org (label_studio_admin_email)" in result["msg"]
    assert "/creds/label-studio/admin_password" in result["msg"]
    assert standin.writes() == []


def test_a_refused_storage_fails_naming_project_storage_and_bucket_never_the_key(capsys, standin):
    standin.unreachable_buckets.add("missing")
    projects = [{"title": "Lab images", "s3_export": {"bucket": "missing"}}]
    result = run(capsys, args(standin.url, projects=projects))
    assert result["failed"] is True
    assert "export storage 'Lab images export' of project 'Lab images'" in result["msg"]
    assert "bucket missing: HTTP 400" in result["msg"] and "NoSuchBucket" in result["msg"]
    assert SECRET_KEY not in json.dumps(result)


@pytest.mark.parametrize("extra,message", [
    ({"projects": [{"title": "A"}, {"title": "A"}]}, "projects[1]: the title 'A' is given twice"),
    ({"projects": [{"title": " "}]}, "projects[0]: title is empty"),
    ({"projects": [{"title": "A", "s3_import": {}}], "s3_bucket": ""}, "s3_import names no bucket and s3_bucket is empty"),
    ({"projects": [{"title": "A", "s3_export": {}}], "s3_secret_key": ""}, "s3_access_key or s3_secret_key is empty"),
])
def test_bad_input_fails_before_any_request(capsys, standin, extra, message):
    result = run(capsys, args(standin.url, **extra))
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert standin.requests == []


def test_an_unreachable_label_studio_is_named(capsys):
    result = run(capsys, args("http://127.0.0.1:9"))
    assert result["failed"] is True
    assert result["msg"].startswith("label_studio_projects: cannot reach Label Studio at http://127.0.0.1:9")


def test_storage_body_of_an_import_with_its_flags():
    spec = {"bucket": "raw", "prefix": "in/", "regex_filter": ".*jpg", "presign": "no", "use_blob_urls": True}
    body = storage_body(spec, "import", 4, "Raw images", "label-studio", "eu-west-1", KEYS)
    assert {k: body[k] for k in ("bucket", "prefix", "regex_filter", "use_blob_urls", "presign", "recursive_scan")} == {
        "bucket": "raw", "prefix": "in/", "regex_filter": ".*jpg", "use_blob_urls": True, "presign": False,
        "recursive_scan": False}
    assert "can_delete_objects" not in body
    body = storage_body(None, "import", "4", "Raw images import", "label-studio", "eu-west-1", KEYS)
    assert (body["project"], body["bucket"], body["prefix"], body["presign"], body["use_blob_urls"]) == (
        4, "label-studio", "", True, False)
    body = storage_body({"prefix": "out/"}, "export", 3, "E", "label-studio", "us-east-1", KEYS)
    assert body == {"project": 3, "title": "E", "bucket": "label-studio", "prefix": "out/", "region_name": "us-east-1",
                    "aws_access_key_id": "LSKEY", "aws_secret_access_key": SECRET_KEY, "can_delete_objects": False}


@pytest.mark.parametrize("call,message", [
    (({}, "sync", 1, "t", "b", "r", KEYS), "kind must be import or export"),
    (("bucket", "import", 1, "t", "b", "r", KEYS), "must be a dict"),
    (({}, "import", 1, "", "b", "r", KEYS), "needs a title"),
    (({}, "import", 1, "t", "b", "r", {"s3_access_key": "k"}), "S3 keys"),
    (({}, "import", "three", "t", "b", "r", KEYS), "project id must be a number"),
    (({"presign": "maybe"}, "import", 1, "t", "b", "r", KEYS), "s3_import.presign must be a boolean"),
])
def test_storage_body_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")) as err:
        storage_body(*call)
    assert SECRET_KEY not in str(err.value)
