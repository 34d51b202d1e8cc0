#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_htpasswd
short_description: Keep a registry's htpasswd file of bcrypt entries at a chosen cost, rewriting only what does not verify
version_added: 0.1.0
description:
  - Writes the users of O(users) into the htpasswd file O(path) as the distribution registry
    (C(registry:2), Debian's C(docker-registry)) reads it, one C(user:hash) line each, with
    bcrypt, the only scheme that registry accepts, at the cost O(cost).
  - The registry checks the password with bcrypt on every request (each pull of a layer is
    one), so the cost is a throughput choice; M(community.general.htpasswd) always writes
    passlib's default cost 12 and cannot be told otherwise.
  - An entry is kept when it has the cost O(cost) and the user's password verifies against
    it; an entry at another cost, of another password or of another scheme is hashed again
    (once, the next run keeps it). Lines of users O(users) does not name, and comments, are
    kept as they are. C(changed) is true only when an entry was added or rewritten (or
    the file's owner, group or mode changed).
  - The file is written to a temporary file beside it, created with mode 0600, and renamed
    into place, so a reader never sees half a file and the hashes are never readable by others.
  - Runs on the host. Needs python3-bcrypt there, or a Python whose C(crypt) module (Python
    3.12 and older) reaches a C library that implements bcrypt (libxcrypt, Debian's and
    Ubuntu's libcrypt).
author:
  - mlstack.platform developers (@mlstack)
options:
  path:
    description: The htpasswd file. Its directory must exist.
    type: path
    required: true
  users:
    description:
      - The users the file must hold, with their passwords. The passwords are never logged,
        returned or shown in a diff.
      - A name may not be empty, hold a colon, a newline or surrounding spaces; a password
        may not be empty nor longer than 72 bytes (what bcrypt checks).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The user's name.
        type: str
        required: true
      password:
        description: The user's password.
        type: str
        required: true
  cost:
    description:
      - The bcrypt cost (log2 of the rounds) of the entries, 4 to 31 as Go's bcrypt accepts.
        Each step doubles the time of every check the registry makes.
    type: int
    default: 5
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reports what would change (the users added and rewritten) and writes nothing.
  diff_mode:
    support: full
    description: The users and the cost of each entry before and after; never a hash or a password.
  idempotent:
    support: full
    description: A second run with the same users, passwords and cost keeps every entry and reports C(changed=false).
notes:
  - A user listed twice in the file keeps one line (the registry would read the last one); that counts as a rewrite.
  - Check mode verifies the existing entries too (a bcrypt check per user), so it tells exactly which would be rewritten.
seealso:
  - module: community.general.htpasswd
  - name: The distribution registry's htpasswd authentication
    description: The file format and what the registry accepts.
    link: https://distribution.github.io/distribution/about/configuration/#htpasswd
"""

EXAMPLES = r"""
- name: Write the pull endpoint's htpasswd file (bcrypt cost 5)
  mlstack.platform.registry_htpasswd:
    path: /etc/mlstack/registry/htpasswd-pull
    cost: 5
    users:
      - name: pull
        password: "{{ offline_registry_pull_password }}"
      - name: push
        password: "{{ offline_registry_push_password }}"
    owner: root
    group: root
    mode: "0600"
  no_log: true
"""

RETURN = r"""
path:
  description: The htpasswd file.
  returned: always
  type: str
  sample: /etc/mlstack/registry/htpasswd-pull
cost:
  description: The bcrypt cost of the entries of O(users).
  returned: always
  type: int
  sample: 5
kept:
  description: The users whose entry verified at O(cost) and was kept.
  returned: always
  type: list
  elements: str
  sample: [pull]
rehashed:
  description: The users whose entry was rewritten (another cost, another password, not bcrypt, or listed twice).
  returned: always
  type: list
  elements: str
  sample: [push]
added:
  description: The users the file did not have.
  returned: always
  type: list
  elements: str
  sample: []
implementation:
  description: What hashed and checked the entries, C(bcrypt) (python3-bcrypt) or C(crypt) (the C library's crypt(3)).
  returned: always
  type: str
  sample: bcrypt
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._htpasswd import (
    HtpasswdError,
    find_hasher,
    plan,
    read,
    write_atomic,
)

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    users=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        password=dict(type="str", required=True, no_log=True),
    )),
    cost=dict(type="int", default=5),
)


def run(module: AnsibleModule) -> t.Dict[str, t.Any]:
    path = module.params["path"]
    cost = module.params["cost"]
    if os.path.isdir(path):
        raise HtpasswdError("%s is a directory, not an htpasswd file" % path)
    hasher = find_hasher()
    current = read(path)
    wanted = plan(current or "", module.params["users"], cost, hasher)
    changed = wanted.changed
    if changed and not module.check_mode:
        write_atomic(path, wanted.text)
    result: t.Dict[str, t.Any] = dict(
        path=path, cost=cost, kept=wanted.kept, rehashed=wanted.rehashed, added=wanted.added,
        implementation=hasher.name)
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = dict(before_header=path, after_header=path,
                              before=wanted.before if current is not None else "", after=wanted.after)
    # The file's owner, group and mode (check mode: of the file as it is, when it exists).
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params, path=path)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    result["changed"] = changed
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, add_file_common_args=True, supports_check_mode=True)
    try:
        result = run(module)
    except HtpasswdError as exc:
        module.fail_json(msg="registry_htpasswd: %s" % exc, path=module.params["path"])
    except OSError as exc:
        module.fail_json(msg="registry_htpasswd: %s cannot be written: %s" % (module.params["path"], exc),
                         path=module.params["path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
