#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: label_studio_projects
short_description: Create Label Studio projects and their S3 import and export storages when missing, in one run
version_added: 0.1.0
description:
  - Logs in to Label Studio as its administrator the way a browser does (the login page's CSRF token, then
    the form; Label Studio 1.23 refuses legacy API tokens unless the organization enables them), then for
    each project of O(projects) looks it up by exact title and creates it when missing, and gives it the S3
    import and export storages its O(projects[].s3_import) and O(projects[].s3_export) ask for, matched by
    title and created when missing.
  - Nothing is updated or deleted; a project or storage that exists under its title is left as it is.
    Every write is preceded by a read.
  - A storage names no endpoint, so Label Studio uses C(S3_ENDPOINT) of its environment (which it trusts
    as the operator's) while its SSRF protection keeps refusing private endpoints users type in. Label
    Studio checks the bucket with the key before it saves a storage; its refusal (bucket, prefix, key)
    fails the run, naming the project and storage. It never echoes the keys, and neither does this module.
  - Runs where Label Studio's address is reachable (the role runs it on Label Studio's host, at its local
    address). Does in one module run what the role did with one M(ansible.builtin.uri) call per page,
    project and storage.
author:
  - mlstack.platform developers (@mlstack)
options:
  url:
    description: Label Studio's address, for example V(http://127.0.0.1:8090).
    type: str
    required: true
  email:
    description: The administrator's e-mail address (its login).
    type: str
    required: true
  password:
    description: The administrator's password. Never logged or returned.
    type: str
    required: true
  credentials_hint:
    description: Where the password comes from, named in the message when Label Studio refuses the login.
    type: str
    default: the inventory
  projects:
    description: The projects, matched by exact title.
    type: list
    elements: dict
    required: true
    suboptions:
      title:
        description: The project's title (its identity).
        type: str
        required: true
      description:
        description: Its description (only when it is created).
        type: str
        default: ''
      label_config:
        description: Its labelling interface (XML; only when it is created). Label Studio's default when not given.
        type: str
      s3_import:
        description:
          - An S3 import storage, a dict of C(title) (default '<project title> import'), C(bucket) (default
            O(s3_bucket)), C(prefix), C(regex_filter), C(use_blob_urls) (default false), C(presign) (default
            true), C(recursive_scan) (default false).
        type: dict
      s3_export:
        description:
          - An S3 export storage, a dict of C(title) (default '<project title> export'), C(bucket), C(prefix),
            C(can_delete_objects) (default false).
        type: dict
  s3_bucket:
    description: The bucket of a storage that names none.
    type: str
    default: ''
  s3_region:
    description: The region sent with each storage.
    type: str
    default: us-east-1
  s3_access_key:
    description: The access key of the storages (the object store's consumer key of Label Studio). Required with a storage.
    type: str
  s3_secret_key:
    description: Its secret key. Never logged or returned.
    type: str
  timeout:
    description: Seconds each HTTP request may take.
    type: int
    default: 30
  validate_certs:
    description: Whether to check the certificate of an https O(url).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description:
      - Logs in and reads (both change nothing), reports the projects and storages that would be created, creates none.
        The storages of a project that would be created count as to be created.
  diff_mode:
    support: none
    description: The result lists what was created (or would be, in check mode).
  idempotent:
    support: full
    description: A second run with the same projects finds them all and reports C(changed=false).
notes:
  - The login creates a session on Label Studio (a row of its django_session table), as a browser's login does.
seealso:
  - name: Label Studio's API
    description: Projects and storages.
    link: https://api.labelstud.io/api-reference/introduction/getting-started
"""

EXAMPLES = r"""
- name: Create the projects and their S3 storages
  mlstack.platform.label_studio_projects:
    url: http://127.0.0.1:8090
    email: admin@example.org
    password: "{{ lookup('ansible.builtin.file', 'credentials/label-studio/admin_password') }}"
    s3_bucket: label-studio
    s3_access_key: "{{ lookup('ansible.builtin.file', 'credentials/object-store/label_studio.access_key') }}"
    s3_secret_key: "{{ lookup('ansible.builtin.file', 'credentials/object-store/label_studio.secret_key') }}"
    projects:
      - title: Raw images
        label_config: <View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="ok"/></Choices></View>
        s3_import: {prefix: raw/, regex_filter: '.*\.jpg'}
        s3_export: {prefix: labels/}
"""

RETURN = r"""
projects:
  description: Each project of O(projects), in order, with what was found or done.
  returned: always
  type: list
  elements: dict
  contains:
    title:
      description: The project's title.
      type: str
    id:
      description: The project's id; 0 for one that check mode would create.
      type: int
    created:
      description: Whether this run created it (would create it, in check mode).
      type: bool
    storages:
      description: Its S3 storages asked for, each C(kind) (import or export), C(title), C(id) (0 when not created yet) and C(created).
      type: list
      elements: dict
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._label_studio_api import (
    LOGIN_REFUSED,
    STORAGE_KINDS,
    STORAGE_PATHS,
    LabelStudioError,
    LabelStudioSession,
    storage_body,
    storage_title,
)


def _refusal(answer: t.Any) -> str:
    """Label Studio's reason for refusing a storage, without anything that looks like a key."""
    if isinstance(answer, dict):
        reason = answer.get("validation_errors") or answer.get("detail") or answer
    else:
        reason = answer
    return reason if isinstance(reason, str) else str(reason)


def _plan(projects: t.List[t.Dict[str, t.Any]], bucket: str) -> t.List[t.Tuple[str, t.Dict[str, t.Any]]]:
    """Check the input before any request: (title, project) pairs; ValueError names the entry."""
    titles = set()
    planned = []
    for index, project in enumerate(projects):
        title = (project.get("title") or "").strip()
        if not title:
            raise ValueError("projects[%d]: title is empty" % index)
        if title in titles:
            raise ValueError("projects[%d]: the title %r is given twice" % (index, title))
        titles.add(title)
        for kind in STORAGE_KINDS:
            spec = project.get("s3_" + kind)
            if spec is None:
                continue
            if not isinstance(spec, dict):
                raise ValueError("projects[%d] (%s): s3_%s must be a dict" % (index, title, kind))
            if not (spec.get("bucket") or bucket):
                raise ValueError("projects[%d] (%s): s3_%s names no bucket and s3_bucket is empty" % (index, title, kind))
        planned.append((title, project))
    return planned


def run(module: AnsibleModule, session: LabelStudioSession) -> t.Dict[str, t.Any]:
    params = module.params
    try:
        planned = _plan(params["projects"], params["s3_bucket"])
    except ValueError as exc:
        module.fail_json(msg="label_studio_projects: %s" % exc)
    keys = {"s3_access_key": params["s3_access_key"] or "", "s3_secret_key": params["s3_secret_key"] or ""}
    if any(p.get("s3_" + k) is not None for _title, p in planned for k in STORAGE_KINDS) and not all(keys.values()):
        module.fail_json(msg="label_studio_projects: a project asks for an S3 storage but s3_access_key or s3_secret_key is empty")

    if not session.login(params["email"], params["password"]):
        module.fail_json(msg=LOGIN_REFUSED.format(email=params["email"], credentials=params["credentials_hint"]))

    changed = False
    results = []
    for title, project in planned:
        found = session.projects_titled(title)
        entry = {"title": title, "id": found[0]["id"] if found else 0, "created": not found, "storages": []}
        if not found:
            changed = True
            if not module.check_mode:
                body = {"title": title, "description": project.get("description") or ""}
                if project.get("label_config"):
                    body["label_config"] = project["label_config"]
                try:
                    created = session.api("POST", "projects/", body, expect=(201,))
                except LabelStudioError as exc:
                    module.fail_json(msg="Label Studio refused to create the project %r (label_studio_projects): HTTP %s %s"
                                     % (title, exc.status, _refusal(exc.body)), projects=results)
                entry["id"] = int(created["id"])
        for kind in STORAGE_KINDS:
            spec = project.get("s3_" + kind)
            if spec is None:
                continue
            name = storage_title(title, kind, spec)
            existing = session.storages(kind, entry["id"]) if entry["id"] else []
            match = [s for s in existing if s.get("title") == name]
            storage = {"kind": kind, "title": name, "id": match[0].get("id", 0) if match else 0, "created": not match}
            entry["storages"].append(storage)
            if match:
                continue
            changed = True
            if module.check_mode:
                continue
            try:
                body = storage_body(spec, kind, entry["id"], name, params["s3_bucket"], params["s3_region"], keys)
            except ValueError as exc:
                module.fail_json(msg="label_studio_projects: project %r: %s" % (title, exc), projects=results)
            try:
                answer = session.api("POST", "storages/" + STORAGE_PATHS[kind], body, expect=(201,))
            except LabelStudioError as exc:
                module.fail_json(
                    msg="Label Studio refused the %s storage %r of project %r (label_studio_projects) on bucket %s: HTTP %s %s"
                    % (kind, name, title, body["bucket"], exc.status, _refusal(exc.body)), projects=results + [entry])
            storage["id"] = int(answer.get("id", 0)) if isinstance(answer, dict) else 0
        results.append(entry)
    return {"changed": changed, "projects": results}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            email=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            credentials_hint=dict(type="str", default="the inventory"),
            projects=dict(type="list", elements="dict", required=True, options=dict(
                title=dict(type="str", required=True),
                description=dict(type="str", default=""),
                label_config=dict(type="str"),
                s3_import=dict(type="dict"),
                s3_export=dict(type="dict"),
            )),
            s3_bucket=dict(type="str", default=""),
            s3_region=dict(type="str", default="us-east-1"),
            s3_access_key=dict(type="str", no_log=True),
            s3_secret_key=dict(type="str", no_log=True),
            timeout=dict(type="int", default=30),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    session = LabelStudioSession(module.params["url"], timeout=module.params["timeout"],
                                 validate_certs=module.params["validate_certs"])
    try:
        result = run(module, session)
    except LabelStudioError as exc:
        module.fail_json(msg="label_studio_projects: %s%s" % (exc, (": %s" % _refusal(exc.body)) if exc.body else ""))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
