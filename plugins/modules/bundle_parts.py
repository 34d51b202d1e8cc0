#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_parts
short_description: Cut a bundle into checksummed parts for removable media, or join them again
version_added: 0.1.0
description:
  - V(split) writes a sealed bundle as one tar stream cut into parts of O(size) bytes
    (C(bundle.tar.0001), C(bundle.tar.0002), ...) in O(parts_dir), with
    C(PARTS.SHA256SUMS) listing each part and, as C(bundle.tar), the whole stream, and
    C(PARTS.json) (sizes, and what the parts were made from). The stream is deterministic
    (sorted members, owner 0, modes 0644/0755, every time the bundle's C(created)), so the
    same bundle gives the same parts; a re-run over an unchanged bundle writes nothing.
    The parts are written in a temporary directory beside O(parts_dir) and renamed.
  - V(joined) first hashes every part and the whole stream and fails naming each missing,
    unlisted or damaged part, before anything is extracted. It then extracts the stream
    (regular files and directories only, paths checked) into a temporary directory beside
    O(path), checks the stream's hash again, and renames it to O(path).
  - Verify the joined bundle with M(mlstack.platform.bundle_verify) (its signature and
    content); the parts' checksums only prove the media carried the stream intact.
author:
  - mlstack.platform developers (@mlstack)
options:
  state:
    description:
      - V(split) or V(joined).
    type: str
    choices: [split, joined]
    required: true
  path:
    description:
      - The bundle directory, which is split, or where the joined bundle goes.
      - For V(joined), an existing O(path) must be the same bundle (then nothing is done) or absent.
    type: path
    required: true
  parts_dir:
    description:
      - The parts directory. Default C(<path>.parts).
    type: path
  size:
    description:
      - Part size for V(split), for example V(4G), V(700M), V(64K) or a number of bytes
        (K, M, G, T are powers of 1024).
    type: str
attributes:
  check_mode:
    support: full
    description: V(split) reports whether parts would be written; V(joined) verifies every part and writes nothing.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
  idempotent:
    support: full
    description: A re-run over an unchanged bundle (or an already joined one) reports C(changed=false).
seealso:
  - module: mlstack.platform.bundle_verify
"""

EXAMPLES = r"""
- name: Cut the bundle into 4 GiB parts
  mlstack.platform.bundle_parts:
    state: split
    path: "{{ mlstack_bundle_dir }}"
    size: "{{ mlstack_bundle_split_size }}"
  delegate_to: localhost

- name: Join the parts on the offline controller
  mlstack.platform.bundle_parts:
    state: joined
    parts_dir: /media/usb/bundle.parts
    path: /srv/bundle
"""

RETURN = r"""
parts:
  description: The parts, in order, with size and sha256.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "bundle.tar.0001", "size": 4294967296, "sha256": "9f86d0..."}]
parts_dir:
  description: The parts directory.
  returned: success
  type: str
  sample: /media/bundle.parts
bytes:
  description: Size of the whole stream.
  returned: success
  type: int
  sample: 5368719360
files:
  description: Files extracted (V(joined), 0 when nothing was extracted).
  returned: success
  type: int
  sample: 413
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.formatters import human_to_bytes

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import (
    MANIFEST,
    BundleError,
    problems_heading,
    read_bytes,
    sha256_bytes,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_parts import (
    is_current,
    join,
    read_info,
    split,
    verify_parts,
)

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["split", "joined"], required=True),
    path=dict(type="path", required=True),
    parts_dir=dict(type="path"),
    size=dict(type="str"),
)


def part_size(module: AnsibleModule) -> int:
    value = module.params["size"]
    if not value:
        module.fail_json(msg="size is required for state=split (for example 4G or 700M)")
    try:
        size = human_to_bytes(value)
    except (ValueError, TypeError):
        module.fail_json(msg="size %r is not a size (for example 4G, 700M, 64K or a number of bytes)" % value)
    if size < 1024:
        module.fail_json(msg="size %r is below 1 KiB; parts that small are a mistake" % value)
    return size


def do_split(module: AnsibleModule, parts_dir: str) -> dict:
    root = module.params["path"]
    size = part_size(module)
    if os.path.realpath(parts_dir).startswith(os.path.realpath(root) + os.sep):
        raise BundleError("parts_dir %s is inside the bundle %s" % (parts_dir, root))
    if is_current(root, parts_dir, size):
        info = read_info(parts_dir) or {}
        return dict(changed=False, parts=info.get("parts", []), bytes=info.get("stream", {}).get("size", 0))
    if module.check_mode:
        return dict(changed=True, parts=[], bytes=0)
    info = split(root, parts_dir, size)
    return dict(changed=True, parts=info["parts"], bytes=info["stream"]["size"])


def do_join(module: AnsibleModule, parts_dir: str) -> dict:
    dest = module.params["path"]
    info = read_info(parts_dir) or {}
    if os.path.exists(dest):
        have = read_bytes(os.path.join(dest, MANIFEST))
        if have is not None and info.get("manifest_sha256") == sha256_bytes(have):
            return dict(changed=False, parts=info.get("parts", []), bytes=info.get("stream", {}).get("size", 0))
        if not os.path.isdir(dest) or os.listdir(dest):
            raise BundleError("%s exists and is not the bundle these parts hold; move it away (or merge a delta into it)"
                              % dest)
    names, sums, problems = verify_parts(parts_dir)
    if problems:
        raise BundleError("parts in %s failed verification, nothing was extracted, %s:\n%s"
                          % (parts_dir, problems_heading(len(problems)), "\n".join(problems)))
    files = 0 if module.check_mode else join(parts_dir, dest, names, sums)
    parts = info.get("parts") or [{"name": name, "sha256": sums[name]} for name in names]
    return dict(changed=True, parts=parts, bytes=sum(os.path.getsize(os.path.join(parts_dir, n)) for n in names),
                files=files)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("state", "split", ("size",))])
    params = module.params
    parts_dir = params["parts_dir"] or params["path"].rstrip("/") + ".parts"
    try:
        if params["state"] == "split":
            result = do_split(module, parts_dir)
        else:
            if not os.path.isdir(parts_dir):
                raise BundleError("parts directory %s does not exist" % parts_dir)
            result = do_join(module, parts_dir)
    except BundleError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="bundle_parts %s: %s: %s" % (params["state"], exc.filename or parts_dir, exc.strerror))
    result.setdefault("files", 0)
    module.exit_json(parts_dir=parts_dir, **result)


if __name__ == "__main__":
    main()
