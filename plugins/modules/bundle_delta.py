#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_delta
short_description: Write a differential bundle against an earlier bundle's MANIFEST.json
version_added: 0.1.0
description:
  - From a full, sealed bundle and the C(MANIFEST.json) of an earlier bundle (the base, the
    one the offline site has), writes a delta directory as C(docs/bundle-format.md) says. It holds
    the full bundle's C(MANIFEST.json), C(SHA256SUMS) and C(SHA256SUMS.sig) (byte-identical,
    so the signature stays valid), C(DELTA.json), and only the files whose content
    (sha256) the base holds under no path.
  - Files are hard-linked from the full bundle where the filesystem allows it, else
    copied; either way each is hashed and compared with C(MANIFEST.json), so a delta never
    carries a damaged file.
  - The delta is built in a temporary directory beside O(dest) and renamed into place; an
    existing O(dest) that already is this delta is left alone (C(changed=false)).
  - Runs on the connected side (delegated to C(localhost)); merge it on the offline side
    with M(mlstack.platform.bundle_merge).
author:
  - mlstack.platform developers (@mlstack)
options:
  path:
    description:
      - The full bundle directory (sealed).
    type: path
    required: true
  base_manifest:
    description:
      - C(MANIFEST.json) of the earlier bundle (C(mlstack_bundle_base)).
    type: path
    required: true
  dest:
    description:
      - The delta directory to write. Must not be inside O(path).
    type: path
    required: true
  link:
    description:
      - Hard-link files from O(path) where possible. V(false) always copies (a delta on
        another medium, or files that may be changed in place later).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reports the files the delta would hold; writes nothing.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
  idempotent:
    support: full
    description: A re-run over the same bundle and base reports C(changed=false).
notes:
  - Hard links share the file with the full bundle; do not edit the bundle's files in place
    afterwards (bundle.yml never does; it writes new files and renames them).
seealso:
  - module: mlstack.platform.bundle_merge
"""

EXAMPLES = r"""
- name: Write the update trip's delta against what the site has
  mlstack.platform.bundle_delta:
    path: "{{ mlstack_bundle_dir }}"
    base_manifest: "{{ mlstack_bundle_base }}"
    dest: "{{ mlstack_bundle_dir }}.delta"
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: The files the delta holds (besides its top files), relative paths.
  returned: success
  type: list
  elements: str
  sample: [images/oci/index.json, images/oci/blobs/sha256/4f2c...]
bytes:
  description: Their total size.
  returned: success
  type: int
  sample: 73400320
full_bytes:
  description: Total size of the full bundle's files, for comparison.
  returned: success
  type: int
  sample: 5368709120
base_manifest_sha256:
  description: SHA-256 of the base MANIFEST.json (DELTA.json's C(base_manifest_sha256)).
  returned: success
  type: str
  sample: 3f0c8e1c2b0a4e7d9c1e5b8a2d6f4c3e1a0b9d8c7e6f5a4b3c2d1e0f9a8b7c6d
linked:
  description: Files hard-linked (0 when nothing was written).
  returned: success
  type: int
  sample: 3
copied:
  description: Files copied (0 when nothing was written).
  returned: success
  type: int
  sample: 0
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import BundleError
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_delta import DeltaPlan

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    base_manifest=dict(type="path", required=True),
    dest=dict(type="path", required=True),
    link=dict(type="bool", default=True),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    root, dest = os.path.realpath(params["path"]), os.path.realpath(params["dest"])
    if dest == root or dest.startswith(root + os.sep):
        module.fail_json(msg="dest %s is inside the bundle %s; write the delta elsewhere" % (params["dest"], root))
    try:
        plan = DeltaPlan(params["path"], params["base_manifest"])
        changed = not plan.same_as(params["dest"])
        linked = copied = 0
        if changed and not module.check_mode:
            linked, copied = plan.write(params["dest"], params["link"])
    except BundleError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="cannot write delta %s: %s: %s" % (params["dest"], exc.filename or dest, exc.strerror))
    module.exit_json(changed=changed, files=plan.files, bytes=plan.bytes,
                     full_bytes=sum(entry["size"] for entry in plan.manifest["files"].values()),
                     base_manifest_sha256=plan.base_sha256, linked=linked, copied=copied)


if __name__ == "__main__":
    main()
