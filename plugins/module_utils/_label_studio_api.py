# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A small client for Label Studio's web API as its own pages use it: the administrator logs
in like a browser (Django session + CSRF token; Label Studio 1.23 refuses legacy API tokens
unless the organization enables them), then JSON calls carry the session cookie, the CSRF
token and a Referer. Plus what the role sends to create a project's S3 storages.

Facts relied on (Label Studio 1.23, label_studio/users/views.py user_login and
label_studio/projects/api.py, io_storages/s3/api.py; exercised by molecule/label_studio):
- GET /user/login/ sets the ``csrftoken`` cookie; POST /user/login/ with the form fields
  email, password and csrfmiddlewaretoken answers 302 and sets ``sessionid`` on success, and
  200 (the form again) on a wrong password.
- GET /api/projects/?title=T is a page {count, next, previous, results} of projects whose
  title *contains* T; POST /api/projects/ answers 201 with the project ({"id": ...}).
- GET /api/storages/s3?project=ID and /api/storages/export/s3?project=ID are plain lists;
  POST to the same paths answers 201, or 400 with {"validation_errors": ...} when Label Studio
  cannot reach the bucket with the key (it never echoes the key).
"""

from __future__ import annotations

import json
import typing as t

from ansible.module_utils.six.moves import http_cookiejar
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

STORAGE_KINDS = ("import", "export")
# The API path of each kind of S3 storage, below /api/storages/.
STORAGE_PATHS = {"import": "s3", "export": "export/s3"}

LOGIN_REFUSED = (
    "Label Studio refused the login of {email} (label_studio_admin_email) with the password in "
    "{credentials} (or label_studio_admin_password). Label Studio creates the administrator only once, "
    "at its first start: a password changed since is not applied (see README.md, \"Rotating the "
    "administrator's password\")")


class LabelStudioError(Exception):
    """An answer Label Studio gave (``status`` is set) or a failure to reach it (``status`` None)."""

    def __init__(self, message: str, status: t.Optional[int] = None, body: t.Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _as_bool(value: t.Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "y", "t"):
        return True
    if text in ("0", "false", "no", "off", "n", "f", ""):
        return False
    raise ValueError("%s must be a boolean, got %r" % (name, value))


def storage_title(project_title: str, kind: str, spec: t.Optional[t.Mapping[str, t.Any]]) -> str:
    """The storage's title: ``spec.title``, else '<project title> <kind>'."""
    spec = spec or {}
    return str(spec.get("title") or "%s %s" % (project_title, kind))


def storage_body(spec: t.Optional[t.Mapping[str, t.Any]], kind: str, project_id: t.Any, title: str,
                 default_bucket: str, region: str, keys: t.Mapping[str, str]) -> t.Dict[str, t.Any]:
    """What is sent to create a project's S3 import or export storage: the project's
    ``s3_<kind>`` settings (``spec``) with their defaults (the role's bucket, no prefix, the
    import's flags) and the consumer's keys. SECRET: holds the keys. ValueError on bad input."""
    if kind not in STORAGE_KINDS:
        raise ValueError("kind must be import or export, got %r" % (kind,))
    spec = spec or {}
    if not isinstance(spec, dict):
        raise ValueError("s3_%s of project %r must be a dict" % (kind, title))
    if not title:
        raise ValueError("the %s storage needs a title" % kind)
    if not isinstance(keys, dict) or not keys.get("s3_access_key") or not keys.get("s3_secret_key"):
        raise ValueError("the S3 keys (s3_access_key, s3_secret_key) are missing")
    try:
        project_id = int(project_id)
    except (TypeError, ValueError):
        raise ValueError("the project id must be a number, got %r" % (project_id,)) from None
    body = {
        "project": project_id,
        "title": str(title),
        "bucket": spec.get("bucket") or default_bucket,
        "prefix": spec.get("prefix", "") or "",
        "region_name": region,
        "aws_access_key_id": keys["s3_access_key"],
        "aws_secret_access_key": keys["s3_secret_key"],
    }
    if kind == "import":
        body.update(regex_filter=spec.get("regex_filter", "") or "",
                    use_blob_urls=_as_bool(spec.get("use_blob_urls", False), "s3_import.use_blob_urls"),
                    presign=_as_bool(spec.get("presign", True), "s3_import.presign"),
                    recursive_scan=_as_bool(spec.get("recursive_scan", False), "s3_import.recursive_scan"))
    else:
        body.update(can_delete_objects=_as_bool(spec.get("can_delete_objects", False), "s3_export.can_delete_objects"))
    return body


def _decode(raw: bytes) -> t.Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:300]


class LabelStudioSession:
    """A logged-in session with Label Studio at ``url`` (``http://127.0.0.1:8090``)."""

    def __init__(self, url: str, timeout: float = 30, validate_certs: bool = True,
                 opener: t.Callable[..., t.Any] = open_url) -> None:
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.cookies = http_cookiejar.CookieJar()
        self._open = opener

    def _cookie(self, name: str) -> str:
        for cookie in self.cookies:
            if cookie.name == name:
                return cookie.value or ""
        return ""

    def _request(self, method: str, path: str, data: t.Optional[bytes] = None,
                 headers: t.Optional[t.Dict[str, str]] = None, follow_redirects: str = "safe") -> t.Tuple[int, t.Any]:
        """(status, decoded body); an HTTP error status is returned, not raised."""
        try:
            response = self._open(self.base + path, data=data, headers=headers or {}, method=method,
                                  timeout=self.timeout, validate_certs=self.validate_certs,
                                  cookies=self.cookies, follow_redirects=follow_redirects)
            return response.getcode(), _decode(response.read())
        except HTTPError as exc:
            try:
                raw = exc.read()
            except Exception:  # pylint: disable=broad-except
                raw = b""
            return exc.code, _decode(raw)
        except (URLError, UrlsConnectionError, SSLValidationError, OSError) as exc:
            raise LabelStudioError("cannot reach Label Studio at %s: %s" % (self.base, getattr(exc, "reason", exc))) from None

    def login(self, email: str, password: str) -> bool:
        """Log in as a browser does; True when Label Studio accepted the password."""
        status, _body = self._request("GET", "/user/login/")
        if status != 200:
            raise LabelStudioError("Label Studio's login page %s/user/login/ answered HTTP %s" % (self.base, status), status)
        csrf = self._cookie("csrftoken")
        if not csrf:
            raise LabelStudioError("Label Studio's login page set no csrftoken cookie", status)
        form = urlencode({"email": email, "password": password, "csrfmiddlewaretoken": csrf}).encode("ascii")
        status, _body = self._request("POST", "/user/login/", data=form, follow_redirects="none", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + "/user/login/"})
        return status == 302 and bool(self._cookie("sessionid"))

    def api(self, method: str, path: str, body: t.Any = None, expect: t.Sequence[int] = (200,)) -> t.Any:
        """A JSON call below /api/; LabelStudioError (with Label Studio's answer) on another status."""
        headers = {"Accept": "application/json", "X-CSRFToken": self._cookie("csrftoken"), "Referer": self.base + "/"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        status, answer = self._request(method, "/api/" + path, data=data, headers=headers)
        if status not in expect:
            raise LabelStudioError("%s /api/%s answered HTTP %s" % (method, path.split("?")[0], status), status, answer)
        return answer

    def projects_titled(self, title: str) -> t.List[t.Dict[str, t.Any]]:
        """Projects whose title is exactly ``title`` (the API's title filter means 'contains'),
        following the pages."""
        found = []
        page = 1
        while True:
            answer = self.api("GET", "projects/?page_size=100&page=%d&title=%s" % (page, quote(title, safe="")))
            results = answer.get("results", []) if isinstance(answer, dict) else (answer or [])
            found.extend(p for p in results if isinstance(p, dict) and p.get("title") == title)
            if not (isinstance(answer, dict) and answer.get("next")) or page >= 100:
                return found
            page += 1

    def storages(self, kind: str, project_id: int) -> t.List[t.Dict[str, t.Any]]:
        answer = self.api("GET", "storages/%s?project=%d" % (STORAGE_PATHS[kind], project_id))
        return [s for s in (answer or []) if isinstance(s, dict)]
