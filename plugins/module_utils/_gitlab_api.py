# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A small client for GitLab's REST API (v4) over ``ansible.module_utils.urls``: JSON in
and out, pagination, retries with backoff on 5xx answers and connection errors."""

from __future__ import annotations

import json
import socket
import time
import typing as t

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

REGISTRATION_DISABLED_HINT = (
    "runner registration tokens are disabled on this GitLab (it answered 410 Gone; GitLab 17.0 and "
    "later disable them by default). Use mode=create with an access token that has the create_runner "
    "scope, or re-enable them: Admin area > Settings > CI/CD > Runners > 'Allow runner registration "
    "token' (the application setting allow_runner_registration_token; for a group: its Settings > "
    "CI/CD > Runners)")


class GitlabApiError(Exception):
    """An answer GitLab gave (``status`` is set) or a failure to reach it (``status`` is None)."""

    def __init__(self, message: str, status: t.Optional[int] = None, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path


def _message(body: bytes) -> str:
    """GitLab's error text out of a JSON body such as {"message": ...} or {"error": ...}."""
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300]
    if isinstance(data, dict):
        for key in ("message", "error", "error_description"):
            if data.get(key):
                return json.dumps(data[key]) if not isinstance(data[key], str) else data[key]
    return json.dumps(data)[:300]


class GitlabApi:
    """``url`` is GitLab's address (``https://gitlab.example.com``); calls take paths below
    ``/api/v4``. ``token`` is sent as ``PRIVATE-TOKEN`` (personal, group, project access
    tokens) or, with ``token_type='oauth'``, as ``Authorization: Bearer``."""

    def __init__(self, url: str, token: t.Optional[str] = None, token_type: str = "private",
                 validate_certs: bool = True, ca_path: t.Optional[str] = None, timeout: float = 30,
                 retries: int = 3, backoff: float = 1.0,
                 opener: t.Callable[..., t.Any] = open_url,
                 sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.base = url.rstrip("/") + "/api/v4"
        self.token = token
        self.token_type = token_type
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._open = opener
        self._sleep = sleep

    def _headers(self, authenticated: bool, has_body: bool) -> t.Dict[str, str]:
        headers = {"Accept": "application/json"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if authenticated and self.token:
            if self.token_type == "oauth":
                headers["Authorization"] = "Bearer " + self.token
            else:
                headers["PRIVATE-TOKEN"] = self.token
        return headers

    def request(self, method: str, path: str, body: t.Optional[t.Dict[str, t.Any]] = None,
                query: t.Optional[t.Dict[str, t.Any]] = None,
                authenticated: bool = True) -> t.Tuple[t.Any, t.Dict[str, str]]:
        """The decoded JSON answer (None when empty) and the answer's headers."""
        url = self.base + path + ("?" + urlencode(query) if query else "")
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = self._headers(authenticated, data is not None)
        attempt = 0
        while True:
            try:
                response = self._open(url, data=data, headers=headers, method=method, timeout=self.timeout,
                                      validate_certs=self.validate_certs, ca_path=self.ca_path,
                                      follow_redirects="safe", use_proxy=True)
                raw = response.read()
                answer_headers = {key.lower(): value for key, value in response.headers.items()}
                return (json.loads(raw.decode("utf-8")) if raw.strip() else None), answer_headers
            except HTTPError as exc:
                if exc.code < 500 or attempt >= self.retries:
                    raise GitlabApiError("%s %s: HTTP %d %s" % (method, path, exc.code, _message(exc.read() or b"")),
                                         status=exc.code, method=method, path=path)
            except SSLValidationError as exc:
                raise GitlabApiError("%s %s: the TLS certificate of %s could not be verified (%s); give the CA "
                                     "that signed it as ca_path" % (method, path, self.base, exc),
                                     method=method, path=path)
            except (URLError, UrlsConnectionError, socket.error, socket.timeout) as exc:
                if attempt >= self.retries:
                    raise GitlabApiError("%s %s: cannot reach GitLab at %s after %d attempts: %s"
                                         % (method, path, self.base, attempt + 1, exc), method=method, path=path)
            except ValueError as exc:
                raise GitlabApiError("%s %s: the answer is not JSON (%s); is %s a GitLab?"
                                     % (method, path, exc, self.base), method=method, path=path)
            self._sleep(self.backoff * (2 ** attempt))
            attempt += 1

    def get(self, path: str, query: t.Optional[t.Dict[str, t.Any]] = None) -> t.Any:
        return self.request("GET", path, query=query)[0]

    def paginate(self, path: str, query: t.Optional[t.Dict[str, t.Any]] = None,
                 per_page: int = 100) -> t.List[t.Any]:
        """Every item of a list endpoint, following ``X-Next-Page`` (offset pagination)."""
        items: t.List[t.Any] = []
        page: t.Optional[str] = "1"
        while page:
            answer, headers = self.request("GET", path, query=dict(query or {}, per_page=per_page, page=page))
            if not isinstance(answer, list):
                raise GitlabApiError("GET %s: expected a list, got %s" % (path, type(answer).__name__),
                                     method="GET", path=path)
            items.extend(answer)
            following = (headers.get("x-next-page") or "").strip()
            page = following if following and following != page else None
        return items


def path_id(value: t.Union[int, str]) -> str:
    """A group or project ID, or a full path (``group/project``) encoded for a URL."""
    return quote(str(value), safe="")
