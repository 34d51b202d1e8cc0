# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Runners on the GitLab side: find a runner by description and scope, create it, check
a stored authentication token, reset it, and bring its settings to what is asked."""

from __future__ import annotations

import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._gitlab_api import (
    REGISTRATION_DISABLED_HINT,
    GitlabApi,
    GitlabApiError,
    path_id,
)

# Runner settings GitLab keeps (POST /user/runners, PUT /runners/:id).
SERVER_SETTINGS = ("paused", "locked", "run_untagged", "tag_list", "access_level", "maximum_timeout")


class RunnerTokenError(Exception):
    """A runner cannot be found, created or given a token; the message says what to do."""


class RunnerSpec:
    """The runner asked for: its scope (type and owner) and description, and the
    server-side settings given (``None`` means "leave as GitLab has it")."""

    def __init__(self, runner_type: str, description: str, group_id: t.Optional[str] = None,
                 project_id: t.Optional[str] = None, settings: t.Optional[t.Dict[str, t.Any]] = None) -> None:
        self.runner_type = runner_type
        self.description = description
        self.group_id = group_id
        self.project_id = project_id
        self.settings = {key: value for key, value in (settings or {}).items() if value is not None}

    def list_path(self) -> str:
        if self.runner_type == "group_type":
            return "/groups/%s/runners" % path_id(self.group_id or "")
        if self.runner_type == "project_type":
            return "/projects/%s/runners" % path_id(self.project_id or "")
        return "/runners/all"

    def scope_text(self) -> str:
        if self.runner_type == "group_type":
            return "group %s" % self.group_id
        if self.runner_type == "project_type":
            return "project %s" % self.project_id
        return "the instance"

    def create_body(self) -> t.Dict[str, t.Any]:
        body: t.Dict[str, t.Any] = dict(runner_type=self.runner_type, description=self.description)
        if self.runner_type == "group_type":
            body["group_id"] = _numeric(self.group_id)
        elif self.runner_type == "project_type":
            body["project_id"] = _numeric(self.project_id)
        body.update(self.settings)
        return body


def _numeric(value: t.Optional[str]) -> t.Any:
    return int(value) if value is not None and str(value).isdigit() else value


def _differs(key: str, current: t.Any, wanted: t.Any) -> bool:
    if key == "tag_list":
        return sorted(current or []) != sorted(wanted)
    return current != wanted


def _summary(runner: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    keys = ("id", "description", "runner_type", "paused", "locked", "run_untagged", "tag_list",
            "access_level", "maximum_timeout", "status", "online")
    return {key: runner.get(key) for key in keys if key in runner}


class RunnerTokens:
    """Obtains a runner authentication token idempotently (the new workflow, GitLab 15.10+)."""

    def __init__(self, api: GitlabApi, check_mode: bool = False) -> None:
        self.api = api
        self.check_mode = check_mode

    def _call(self, method: str, path: str, **kwargs: t.Any) -> t.Any:
        try:
            return self.api.request(method, path, **kwargs)[0]
        except GitlabApiError as exc:
            raise RunnerTokenError(self._explain(exc))

    @staticmethod
    def _explain(exc: GitlabApiError) -> str:
        if exc.status == 401:
            return "%s (the access token is missing, expired or revoked)" % exc
        if exc.status == 403 and exc.method == "GET":
            return ("%s (listing or reading runners needs a token with the api or read_api scope, create_runner "
                    "alone is not enough; instance runners need an administrator, group and project runners "
                    "the Owner or Maintainer role)" % exc)
        if exc.status == 403 and exc.path.startswith("/runners/"):
            return ("%s (changing, resetting or deleting a runner needs a token with the api or manage_runner "
                    "scope, of an administrator or of the runner's group Owner or project Maintainer)" % exc)
        if exc.status == 403:
            return ("%s (the access token's user may not do this: creating a runner needs the create_runner "
                    "scope and, for an instance runner, an administrator; for a group or project runner, the "
                    "Owner or Maintainer role)" % exc)
        if exc.status == 404 and exc.path == "/user/runners":
            return ("%s (GitLab before 15.10 has no POST /user/runners; use mode=registration_token)" % exc)
        if exc.status == 404:
            return "%s (no such group, project or runner, or the token's user cannot see it)" % exc
        if exc.status == 410:
            return "%s: %s" % (exc, REGISTRATION_DISABLED_HINT)
        return str(exc)

    def find(self, spec: RunnerSpec) -> t.Optional[t.Dict[str, t.Any]]:
        """The runner of the scope described as asked. GitLab's group listing also holds the
        ancestor groups' runners and a project's also its groups' and other projects' runners
        assigned to it (gitlabhq lib/api/ci/runners.rb: group_or_instance_wide,
        owned_or_instance_wide), so each candidate's details say whose it is."""
        try:
            listed = self.api.paginate(spec.list_path(), query={"type": spec.runner_type})
        except GitlabApiError as exc:
            raise RunnerTokenError(self._explain(exc))
        candidates = [runner for runner in listed
                      if runner.get("description") == spec.description
                      and runner.get("runner_type", spec.runner_type) == spec.runner_type]
        details = [self._call("GET", "/runners/%d" % runner["id"]) for runner in candidates]
        matches = [runner for runner in details if self._owned_by_scope(runner, spec)]
        only_here = [runner for runner in matches if self._serves_only_scope(runner, spec)]
        if len(matches) > 1 and len(only_here) == 1:
            matches = only_here
        if len(matches) > 1:
            raise RunnerTokenError(
                "%d runners of %s are described %r (ids %s); the module identifies a runner by its "
                "description, so delete the extra ones or give each a description of its own"
                % (len(matches), spec.scope_text(), spec.description,
                   ", ".join(str(runner["id"]) for runner in matches)))
        if not matches:
            return None
        return matches[0]

    def _owned_by_scope(self, runner: t.Dict[str, t.Any], spec: RunnerSpec) -> bool:
        """A group runner names its one group in ``groups`` (Entities::Ci::RunnerDetails); a
        project runner lists every project it is assigned to in ``projects``, the scope's among
        them. The REST API does not say which project made a runner assigned to several."""
        if spec.runner_type == "group_type":
            owner = self._scope_id("groups", spec.group_id)
            return [group.get("id") for group in runner.get("groups") or []] == [owner]
        if spec.runner_type == "project_type":
            owner = self._scope_id("projects", spec.project_id)
            return owner in [project.get("id") for project in runner.get("projects") or []]
        return True

    def _serves_only_scope(self, runner: t.Dict[str, t.Any], spec: RunnerSpec) -> bool:
        if spec.runner_type != "project_type":
            return True
        return [project.get("id") for project in runner.get("projects") or []] == [
            self._scope_id("projects", spec.project_id)]

    def _scope_id(self, kind: str, value: t.Optional[str]) -> t.Any:
        cache = self.__dict__.setdefault("_scope_ids", {})
        if (kind, value) not in cache:
            cache[(kind, value)] = self._owner_id(kind, value)
        return cache[(kind, value)]

    def verify(self, token: str, runner_id: int, system_id: t.Optional[str] = None) -> bool:
        """Whether GitLab accepts ``token`` as this runner's authentication token. GitLab makes
        or heartbeats the runner manager named by ``system_id`` on this call, and without one a
        manager "<legacy>" (gitlabhq lib/api/ci/helpers/runner.rb), so the caller passes the
        system ID gitlab-runner uses on that host."""
        body = {"token": token}
        if system_id:
            body["system_id"] = system_id
        try:
            answer = self.api.request("POST", "/runners/verify", body=body, authenticated=False)[0]
        except GitlabApiError as exc:
            if exc.status == 403:
                return False
            raise RunnerTokenError(self._explain(exc))
        if isinstance(answer, dict) and answer.get("id") is not None and answer["id"] != runner_id:
            raise RunnerTokenError("the token given belongs to runner %s, not to runner %s; pass the token of "
                                   "the runner described as asked" % (answer["id"], runner_id))
        return True

    def ensure(self, spec: RunnerSpec, token: t.Optional[str], rotate_if_unknown: bool,
               system_id: t.Optional[str] = None) -> t.Dict[str, t.Any]:
        runner = self.find(spec)
        if runner is None:
            return self._create(spec)
        result: t.Dict[str, t.Any] = dict(changed=False, created=False, token=None, token_expires_at=None)
        updated = self._update(runner, spec)
        result["updated_keys"] = updated
        if token and self.verify(token, runner["id"], system_id):
            result["token_status"] = "verified"
        elif rotate_if_unknown:
            result["token_status"] = "reset"
            if not self.check_mode:
                answer = self._call("POST", "/runners/%d/reset_authentication_token" % runner["id"])
                result["token"] = answer.get("token")
                result["token_expires_at"] = answer.get("token_expires_at")
        else:
            raise RunnerTokenError(
                "runner %r (id %s) of %s exists but %s; GitLab shows a runner's token only once. Pass the "
                "token stored in the runner's config.toml as 'token', set rotate_if_unknown=true to reset it "
                "(a gitlab-runner still using the old token stops working), or delete the runner"
                % (spec.description, runner["id"], spec.scope_text(),
                   "the token given is not valid for it" if token else "no token was given to check"))
        result["changed"] = bool(updated) or result["token_status"] == "reset"
        runner.update({key: spec.settings[key] for key in updated})
        result["runner"] = _summary(runner)
        return result

    def _owner_id(self, kind: str, value: t.Optional[str]) -> t.Any:
        """POST /user/runners takes numeric IDs; a full path is looked up first."""
        if value is None or str(value).isdigit():
            return _numeric(value)
        answer = self._call("GET", "/%s/%s" % (kind, path_id(value)))
        return answer["id"]

    def _create(self, spec: RunnerSpec) -> t.Dict[str, t.Any]:
        body = spec.create_body()
        if "group_id" in body:
            body["group_id"] = self._owner_id("groups", spec.group_id)
        if "project_id" in body:
            body["project_id"] = self._owner_id("projects", spec.project_id)
        result = dict(changed=True, created=True, token_status="created", updated_keys=[], token=None,
                      token_expires_at=None)
        if self.check_mode:
            result["runner"] = dict((key, value) for key, value in body.items() if key not in ("group_id", "project_id"))
            return result
        answer = self._call("POST", "/user/runners", body=body)
        result["token"] = answer.get("token")
        result["token_expires_at"] = answer.get("token_expires_at")
        if not result["token"]:
            raise RunnerTokenError("GitLab created runner %s but returned no token" % answer.get("id"))
        summary = dict((key, value) for key, value in body.items() if key not in ("group_id", "project_id"))
        summary["id"] = answer.get("id")
        result["runner"] = summary
        return result

    def _update(self, runner: t.Dict[str, t.Any], spec: RunnerSpec) -> t.List[str]:
        changes = {key: value for key, value in spec.settings.items()
                   if key in SERVER_SETTINGS and _differs(key, runner.get(key), value)}
        if changes and not self.check_mode:
            self._call("PUT", "/runners/%d" % runner["id"], body=changes)
        return sorted(changes)


def delete_runner(api: GitlabApi, runner_id: int) -> bool:
    """DELETE /runners/:id (gitlabhq lib/api/ci/runners.rb); False when it is gone already."""
    try:
        api.request("DELETE", "/runners/%d" % runner_id)
    except GitlabApiError as exc:
        if exc.status == 404:
            return False
        raise RunnerTokenError(RunnerTokens._explain(exc))
    return True


def runner_id_of_token(api: GitlabApi, token: str, system_id: t.Optional[str] = None) -> t.Optional[int]:
    """The ID of the runner whose authentication token this is (POST /runners/verify), or None
    when GitLab does not know the token."""
    body = {"token": token}
    if system_id:
        body["system_id"] = system_id
    try:
        answer = api.request("POST", "/runners/verify", body=body, authenticated=False)[0]
    except GitlabApiError as exc:
        if exc.status == 403:
            return None
        raise RunnerTokenError(RunnerTokens._explain(exc))
    return answer.get("id") if isinstance(answer, dict) else None


def registration_token_from_api(api: GitlabApi, runner_type: str, group_id: t.Optional[str],
                                project_id: t.Optional[str]) -> str:
    """A group's or project's registration token (``runners_token`` of GET /groups/:id or
    /projects/:id, for Owners/Maintainers). The instance token has no API."""
    if runner_type == "group_type":
        path = "/groups/%s" % path_id(group_id or "")
    elif runner_type == "project_type":
        path = "/projects/%s" % path_id(project_id or "")
    else:
        raise RunnerTokenError("GitLab has no API that returns the instance's registration token; use "
                               "registration_token_source=container (the Rails console in the GitLab container)")
    try:
        answer = api.get(path)
    except GitlabApiError as exc:
        raise RunnerTokenError(RunnerTokens._explain(exc))
    token = answer.get("runners_token") if isinstance(answer, dict) else None
    if not token:
        raise RunnerTokenError("GET %s returned no runners_token: the token's user needs the Owner (group) or "
                               "Maintainer (project) role, or %s" % (path, REGISTRATION_DISABLED_HINT))
    return token


RAILS_SCRIPT = "puts Gitlab::CurrentSettings.current_application_settings.runners_registration_token"


def rails_command(docker: str, container: str) -> t.List[str]:
    """The MLReef documentation's way to read the instance registration token."""
    return [docker, "exec", container, "gitlab-rails", "runner", "-e", "production", RAILS_SCRIPT]


def token_from_rails_output(output: str) -> str:
    """The token printed by the Rails runner: the last non-empty line, without ``\\r``
    (the Rails runner may print warnings before it)."""
    lines = [line.strip() for line in output.replace("\r", "").splitlines() if line.strip()]
    token = lines[-1] if lines else ""
    if not token or token == "nil" or " " in token:
        raise RunnerTokenError("the GitLab Rails console printed no registration token; %s"
                               % REGISTRATION_DISABLED_HINT)
    return token
