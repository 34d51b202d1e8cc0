# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""gitlab-api-standin: the part of GitLab's REST API (v4) that runner tokens and runner
registration use, written from GitLab's API documentation (docs.gitlab.com/api/runners/,
/api/users/#create-a-runner-linked-to-a-user, /api/groups/, /api/projects/) because GitLab
itself cannot be had on these machines. It is a stand-in, not GitLab: a threaded
``http.server`` on 127.0.0.1 with a random port, all state in memory.

What it emulates:
  * authentication with ``PRIVATE-TOKEN`` or ``Authorization: Bearer``: 401 without a known
    token; 403 when the token's user may not do it (a non-administrator listing instance
    runners or creating an instance runner; a token without ``create_runner`` scope creating
    any runner);
  * ``POST /user/runners`` (201 ``{id, token, token_expires_at}``);
  * ``GET /runners/all``, ``/groups/:id/runners``, ``/projects/:id/runners`` with ``type``
    filter and offset pagination (``page``, ``per_page``; ``X-Page``, ``X-Next-Page``,
    ``X-Total``, ``X-Per-Page`` and ``Link`` headers); ``GET /runners/:id``; ``PUT /runners/:id``;
  * ``POST /runners/verify`` (200 ``{id, token, token_expires_at}``; 403 for an unknown token);
  * ``POST /runners/:id/reset_authentication_token`` (201 ``{token, token_expires_at}``);
  * ``POST /runners`` (legacy registration with a registration token; 403 for a wrong token,
    410 Gone when registration tokens are disallowed) and ``DELETE /runners`` (a runner
    removing itself with its token, 204);
  * ``GET /groups/:id`` and ``/projects/:id`` with ``runners_token``;
  * injected failures: the next requests answer with given 5xx statuses, or the connection is
    closed without an answer, to test retries.

Behaviours that follow GitLab's own code (gitlabhq, lib/api/ci/runners.rb, lib/api/ci/runner.rb and
lib/api/ci/helpers/runner.rb on master, read 2026-12):
  * runner managers: every runner API call authenticated with a runner's token (``POST
    /runners/verify`` here) makes or heartbeats the manager named by ``system_id``, and without
    ``system_id`` the manager ``<legacy>`` (helpers/runner.rb ``current_runner_manager``,
    ``LEGACY_SYSTEM_XID``), with the caller's address; ``GET /runners/:id/managers`` lists them;
  * ``DELETE /runners/managers`` (token and system_id; 204, 404 "Runner manager not found",
    403 for an unknown token) deletes one manager and leaves the runner (runner.rb), which is
    what gitlab-runner 16+ ``unregister`` calls for a ``glrt-`` token;
  * ``DELETE /runners/:id`` (runners.rb; 204) deletes the runner with an access token;
  * listings: ``GET /groups/:id/runners`` returns the group's runners, its ancestor groups'
    and the instance's (``Ci::Runner.group_or_instance_wide``), ``GET /projects/:id/runners``
    the project's, its groups' and the instance's (``owned_or_instance_wide``), then the
    ``type`` filter (``apply_filter``); ``GET /runners/:id`` (``Entities::Ci::RunnerDetails``)
    names the runner's ``groups`` and ``projects``;
  * scopes: listings and ``GET /runners/:id`` need ``api`` or ``read_api`` (a token with only
    ``create_runner`` gets 403); ``PUT``/``DELETE /runners/:id`` and the token reset need ``api``,
    or ``manage_runner`` on ``/runners/:id`` paths (``allow_access_with_scope :manage_runner``).

It is not GitLab: no database, no users beyond the tokens given, no permissions beyond those
above, and only the fields of runner objects the modules read.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LEGACY_SYSTEM_XID = "<legacy>"  # gitlabhq lib/api/ci/helpers/runner.rb
RUNNER_FIELDS = ("id", "description", "runner_type", "paused", "locked", "run_untagged", "tag_list",
                 "access_level", "maximum_timeout")


class ApiAnswer(Exception):
    """Raised by a route to answer with ``status`` and ``body``."""

    def __init__(self, status: int, body: t.Any = None, headers: t.Optional[t.Dict[str, str]] = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class GitlabApiStandin:
    """gitlab-api-standin. ``tokens`` maps access tokens to ``{"admin": bool, "scopes": [...]}``."""

    def __init__(self, token_prefix: str = "glrt-") -> None:
        self.token_prefix = token_prefix
        self.tokens: t.Dict[str, t.Dict[str, t.Any]] = {
            "admin-pat": {"admin": True, "scopes": ["api", "create_runner"]},
            "user-pat": {"admin": False, "scopes": ["api", "create_runner"]},
            "read-pat": {"admin": True, "scopes": ["read_api"]},
            "create-only-pat": {"admin": True, "scopes": ["create_runner"]},
            "manage-pat": {"admin": True, "scopes": ["read_api", "create_runner", "manage_runner"]},
        }
        self.groups: t.Dict[str, t.Dict[str, t.Any]] = {
            "7": {"id": 7, "full_path": "ml", "parent_id": None, "runners_token": "GR1348941grp"},
            "8": {"id": 8, "full_path": "ml/vision", "parent_id": 7, "runners_token": "GR1348941sub"}}
        self.projects: t.Dict[str, t.Dict[str, t.Any]] = {
            "12": {"id": 12, "path_with_namespace": "ml/models", "namespace_id": 7, "runners_token": "GR1348941prj"}}
        self.registration_token = "GR1348941instance"
        self.allow_registration_token = True
        self.runners: t.Dict[int, t.Dict[str, t.Any]] = {}
        self.requests: t.List[t.Tuple[str, str]] = []
        self.fail_next: t.List[t.Any] = []  # statuses (int) or "drop" for a closed connection
        self._ids = itertools.count(100)
        self._lock = threading.RLock()
        self.server: t.Optional[ThreadingHTTPServer] = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> "GitlabApiStandin":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: t.Any) -> None:
                pass

            def do_GET(self) -> None:
                standin.handle(self, "GET")

            def do_POST(self) -> None:
                standin.handle(self, "POST")

            def do_PUT(self) -> None:
                standin.handle(self, "PUT")

            def do_DELETE(self) -> None:
                standin.handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    # -- state helpers for tests ------------------------------------------------
    def add_runner(self, description: str, runner_type: str = "instance_type", **fields: t.Any) -> t.Dict[str, t.Any]:
        with self._lock:
            runner = dict(id=next(self._ids), description=description, runner_type=runner_type, paused=False,
                          locked=False, run_untagged=True, tag_list=[], access_level="not_protected",
                          maximum_timeout=None, token=self.new_token(), token_expires_at=None,
                          group_id=None, project_id=None, managers={})
            runner.update(fields)
            self.runners[runner["id"]] = runner
            return runner

    def new_token(self) -> str:
        return self.token_prefix + secrets.token_urlsafe(15)

    def calls(self, method: t.Optional[str] = None) -> t.List[t.Tuple[str, str]]:
        return [call for call in self.requests if method is None or call[0] == method]

    # -- HTTP ------------------------------------------------------------------
    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        with self._lock:
            self.requests.append((method, parts.path))
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure == "drop":
            request.close_connection = True
            request.connection.close()
            return
        if failure is not None:
            self.respond(request, ApiAnswer(failure, {"message": "%d standin failure" % failure}))
            return
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body = self.decode(raw, request.headers.get("Content-Type", ""))
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            with self._lock:
                self.route(request, method, parts.path, query, body)
        except ApiAnswer as answer:
            self.respond(request, answer)

    @staticmethod
    def decode(raw: bytes, content_type: str) -> t.Dict[str, t.Any]:
        if not raw:
            return {}
        if "json" in content_type:
            return json.loads(raw.decode("utf-8"))
        form = parse_qs(raw.decode("utf-8"))
        return {key.rstrip("[]"): (values if key.endswith("[]") else values[-1]) for key, values in form.items()}

    @staticmethod
    def respond(request: BaseHTTPRequestHandler, answer: ApiAnswer) -> None:
        data = b"" if answer.body is None else json.dumps(answer.body).encode("utf-8")
        request.send_response(answer.status)
        for key, value in answer.headers.items():
            request.send_header(key, value)
        if data:
            request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def user(self, request: BaseHTTPRequestHandler) -> t.Dict[str, t.Any]:
        token = request.headers.get("PRIVATE-TOKEN")
        bearer = request.headers.get("Authorization", "")
        if not token and bearer.startswith("Bearer "):
            token = bearer[len("Bearer "):]
        if token not in self.tokens:
            raise ApiAnswer(401, {"message": "401 Unauthorized"})
        return self.tokens[token]

    def allowed(self, request: BaseHTTPRequestHandler, *scopes: str) -> t.Dict[str, t.Any]:
        """The token's user when the token has one of ``scopes`` (``api`` always counts); else
        403 insufficient_scope, as GitLab's APIGuard answers."""
        user = self.user(request)
        if not set(user["scopes"]) & set(("api",) + scopes):
            raise ApiAnswer(403, {"error": "insufficient_scope", "error_description":
                                  "The request requires higher privileges than provided by the access token.",
                                  "scope": " ".join(("api",) + scopes)})
        return user

    def route(self, request: BaseHTTPRequestHandler, method: str, path: str, query: t.Dict[str, str],
              body: t.Dict[str, t.Any]) -> None:
        segments = [unquote(part) for part in path.split("/")[3:]] if path.startswith("/api/v4/") else []
        key = (method, tuple("*" if index % 2 and name not in ("runners", "verify", "all") else name
                             for index, name in enumerate(segments)))
        routes = {
            ("POST", ("user", "runners")): self.create_runner,
            ("GET", ("runners", "all")): self.list_instance,
            ("GET", ("groups", "*", "runners")): self.list_group,
            ("GET", ("projects", "*", "runners")): self.list_project,
            ("GET", ("groups", "*")): self.show_group,
            ("GET", ("projects", "*")): self.show_project,
            ("POST", ("runners", "verify")): self.verify,
            ("POST", ("runners",)): self.register_legacy,
            ("DELETE", ("runners",)): self.delete_self,
            ("GET", ("runners", "*")): self.show_runner,
            ("GET", ("runners", "*", "managers")): self.list_managers,
            ("PUT", ("runners", "*")): self.update_runner,
            ("DELETE", ("runners", "*")): self.delete_runner,
            ("POST", ("runners", "*", "reset_authentication_token")): self.reset_token,
        }
        handler = routes.get(key)
        if handler is None:
            raise ApiAnswer(404, {"error": "404 Not Found"})
        handler(request, segments, query, body)

    # -- routes ----------------------------------------------------------------
    def runner_view(self, runner: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        view = {key: runner[key] for key in RUNNER_FIELDS}
        view.update(active=not runner["paused"], is_shared=runner["runner_type"] == "instance_type",
                    name="gitlab-runner", online=None, status="never_contacted")
        return view

    def runner_details(self, runner: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        """As Entities::Ci::RunnerDetails: the list view plus the owning ``groups`` (id, name,
        web_url) and the ``projects`` the runner is assigned to (id, path_with_namespace)."""
        view = self.runner_view(runner)
        group = self.groups.get(str(runner.get("group_id"))) if runner["runner_type"] == "group_type" else None
        view["groups"] = ([{"id": group["id"], "name": group["full_path"].rsplit("/", 1)[-1],
                            "web_url": "%s/groups/%s" % (self.url, group["full_path"])}] if group else [])
        view["projects"] = [{"id": project["id"], "path_with_namespace": project["path_with_namespace"]}
                            for project in self.projects.values() if project["id"] in self.assigned_projects(runner)]
        return view

    @staticmethod
    def assigned_projects(runner: t.Dict[str, t.Any]) -> t.List[int]:
        if runner["runner_type"] != "project_type" or runner.get("project_id") is None:
            return []
        return [int(runner["project_id"])] + [int(extra) for extra in runner.get("assigned_projects", [])]

    def ancestors(self, group_id: t.Any) -> t.List[int]:
        """The group and its ancestors, nearest first."""
        found: t.List[int] = []
        group = self.groups.get(str(group_id))
        while group is not None and group["id"] not in found:
            found.append(group["id"])
            group = self.groups.get(str(group.get("parent_id")))
        return found

    def create_runner(self, request: BaseHTTPRequestHandler, segments: t.List[str], query: t.Dict[str, str],
                      body: t.Dict[str, t.Any]) -> None:
        user = self.user(request)
        if "create_runner" not in user["scopes"]:
            raise ApiAnswer(403, {"message": "403 Forbidden - insufficient_scope"})
        runner_type = body.get("runner_type")
        if runner_type not in ("instance_type", "group_type", "project_type"):
            raise ApiAnswer(400, {"error": "runner_type does not have a valid value"})
        if runner_type == "instance_type" and not user["admin"]:
            raise ApiAnswer(403, {"message": "403 Forbidden"})
        if runner_type == "group_type" and str(body.get("group_id")) not in self.groups:
            raise ApiAnswer(403, {"message": "403 Forbidden"})
        if runner_type == "project_type" and str(body.get("project_id")) not in self.projects:
            raise ApiAnswer(403, {"message": "403 Forbidden"})
        fields = {key: body[key] for key in RUNNER_FIELDS[3:] if key in body}
        if isinstance(fields.get("tag_list"), str):
            fields["tag_list"] = [tag.strip() for tag in fields["tag_list"].split(",") if tag.strip()]
        runner = self.add_runner(body.get("description", ""), runner_type, group_id=body.get("group_id"),
                                 project_id=body.get("project_id"), **fields)
        raise ApiAnswer(201, {"id": runner["id"], "token": runner["token"], "token_expires_at": None})

    def page(self, items: t.List[t.Dict[str, t.Any]], query: t.Dict[str, str], path: str) -> None:
        per_page = min(int(query.get("per_page", 20)), 100)
        number = int(query.get("page", 1))
        chunk = items[(number - 1) * per_page:number * per_page]
        last = max((len(items) + per_page - 1) // per_page, 1)
        headers = {"X-Page": str(number), "X-Per-Page": str(per_page), "X-Total": str(len(items)),
                   "X-Total-Pages": str(last), "X-Next-Page": str(number + 1) if number < last else ""}
        if number < last:
            headers["Link"] = '<%s%s?page=%d&per_page=%d>; rel="next"' % (self.url, path, number + 1, per_page)
        raise ApiAnswer(200, [self.runner_view(runner) for runner in chunk], headers)

    def filtered(self, query: t.Dict[str, str], **owner: t.Any) -> t.List[t.Dict[str, t.Any]]:
        found = []
        for runner in sorted(self.runners.values(), key=lambda item: item["id"]):
            if "type" in query and runner["runner_type"] != query["type"]:
                continue
            if any(str(runner.get(key)) != str(value) for key, value in owner.items()):
                continue
            found.append(runner)
        return found

    def list_instance(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        if not self.allowed(request, "read_api")["admin"]:
            raise ApiAnswer(403, {"message": "403 Forbidden"})
        self.page(self.filtered(query), query, "/api/v4/runners/all")

    def lookup(self, table: t.Dict[str, t.Dict[str, t.Any]], key: str, path_key: str) -> t.Dict[str, t.Any]:
        for item in table.values():
            if str(item["id"]) == key or item[path_key] == key:
                return item
        raise ApiAnswer(404, {"message": "404 Not found"})

    def available(self, query: t.Dict[str, str], groups: t.List[int],
                  project_id: t.Optional[int] = None) -> t.List[t.Dict[str, t.Any]]:
        """Runners of ``groups`` (the scope's group and its ancestors), instance runners, and the
        project runners assigned to ``project_id``, then the ``type`` filter: GitLab's
        ``group_or_instance_wide`` / ``owned_or_instance_wide`` followed by ``apply_filter``
        (gitlabhq lib/api/ci/runners.rb)."""
        found = []
        for runner in self.filtered(query):
            kind = runner["runner_type"]
            if (kind == "instance_type"
                    or (kind == "group_type" and runner.get("group_id") is not None
                        and int(runner["group_id"]) in groups)
                    or (kind == "project_type" and project_id is not None
                        and project_id in self.assigned_projects(runner))):
                found.append(runner)
        return found

    def list_group(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        self.allowed(request, "read_api")
        group = self.lookup(self.groups, segments[1], "full_path")
        self.page(self.available(query, self.ancestors(group["id"])), query,
                  "/api/v4/groups/%s/runners" % group["id"])

    def list_project(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        self.allowed(request, "read_api")
        project = self.lookup(self.projects, segments[1], "path_with_namespace")
        self.page(self.available(query, self.ancestors(project.get("namespace_id")), project["id"]), query,
                  "/api/v4/projects/%s/runners" % project["id"])

    def show_group(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        self.user(request)
        group = dict(self.lookup(self.groups, segments[1], "full_path"))
        if not self.allow_registration_token:
            group.pop("runners_token")
        raise ApiAnswer(200, group)

    def show_project(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        self.user(request)
        project = dict(self.lookup(self.projects, segments[1], "path_with_namespace"))
        if not self.allow_registration_token:
            project.pop("runners_token")
        raise ApiAnswer(200, project)

    def runner(self, segments: t.List[str]) -> t.Dict[str, t.Any]:
        runner = self.runners.get(int(segments[1])) if segments[1].isdigit() else None
        if runner is None:
            raise ApiAnswer(404, {"message": "404 Runner Not Found"})
        return runner

    def show_runner(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        self.allowed(request, "read_api", "manage_runner")
        raise ApiAnswer(200, self.runner_details(self.runner(segments)))

    def list_managers(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        self.allowed(request, "read_api", "manage_runner")
        runner = self.runner(segments)
        raise ApiAnswer(200, [dict(manager, system_id=system_id)
                              for system_id, manager in runner.setdefault("managers", {}).items()])

    def delete_runner(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        if segments[1] == "managers":
            self.delete_manager(request, body or query)
        self.allowed(request, "manage_runner")
        runner = self.runner(segments)
        del self.runners[runner["id"]]
        raise ApiAnswer(204)

    def delete_manager(self, request: BaseHTTPRequestHandler, body: t.Dict[str, t.Any]) -> None:
        """DELETE /runners/managers (lib/api/ci/runner.rb): one manager of the runner whose
        token is given; the runner itself stays."""
        runner = self.by_token(body.get("token"))
        if runner is None:
            raise ApiAnswer(403, {"message": "403 Forbidden"})
        if not body.get("system_id"):
            raise ApiAnswer(400, {"error": "system_id is missing"})
        if runner.setdefault("managers", {}).pop(str(body["system_id"]), None) is None:
            raise ApiAnswer(404, {"message": "404 Runner manager not found"})
        raise ApiAnswer(204)

    def heartbeat(self, request: BaseHTTPRequestHandler, runner: t.Dict[str, t.Any], body: t.Dict[str, t.Any]) -> None:
        """current_runner_manager of lib/api/ci/helpers/runner.rb: ``system_id`` or ``<legacy>``."""
        system_id = str(body.get("system_id") or LEGACY_SYSTEM_XID)
        runner.setdefault("managers", {})[system_id] = {"ip_address": request.client_address[0],
                                                        "contacted_at": "now"}

    def update_runner(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        self.allowed(request, "manage_runner")
        runner = self.runner(segments)
        for key in RUNNER_FIELDS[1:]:
            if key in body and key != "runner_type":
                runner[key] = body[key]
        raise ApiAnswer(200, self.runner_view(runner))

    def reset_token(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        self.allowed(request, "manage_runner")
        runner = self.runner(segments)
        runner["token"] = self.new_token()
        raise ApiAnswer(201, {"token": runner["token"], "token_expires_at": None})

    def by_token(self, token: t.Any) -> t.Optional[t.Dict[str, t.Any]]:
        return next((runner for runner in self.runners.values() if runner["token"] == token), None)

    def verify(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        runner = self.by_token(body.get("token"))
        if runner is None:
            raise ApiAnswer(403, {"message": "403 Forbidden"})
        self.heartbeat(request, runner, body)
        raise ApiAnswer(200, {"id": runner["id"], "token": runner["token"], "token_expires_at": None})

    def register_legacy(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        owners = {self.registration_token: ("instance_type", {})}
        owners.update({group["runners_token"]: ("group_type", {"group_id": group["id"]}) for group in self.groups.values()})
        owners.update({project["runners_token"]: ("project_type", {"project_id": project["id"]})
                       for project in self.projects.values()})
        if not self.allow_registration_token:
            raise ApiAnswer(410, {"message": "410 Gone"})
        if body.get("token") not in owners:
            raise ApiAnswer(403, {"message": "403 Forbidden"})
        runner_type, owner = owners[body["token"]]
        fields = {key: body[key] for key in ("locked", "run_untagged", "access_level", "maximum_timeout",
                                             "paused") if key in body}
        tags = body.get("tag_list") or []
        fields["tag_list"] = [tag.strip() for tag in tags.split(",")] if isinstance(tags, str) else list(tags)
        runner = self.add_runner(body.get("description", ""), runner_type, **dict(owner, **fields))
        raise ApiAnswer(201, {"id": runner["id"], "token": runner["token"], "token_expires_at": None})

    def delete_self(self, request, segments, query, body) -> None:  # type: ignore[no-untyped-def]
        runner = self.by_token(body.get("token") or query.get("token"))
        if runner is None:
            raise ApiAnswer(403, {"message": "403 Forbidden"})
        del self.runners[runner["id"]]
        raise ApiAnswer(204)
