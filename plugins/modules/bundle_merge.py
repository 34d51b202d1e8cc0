#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_merge
short_description: Merge a differential bundle into the bundle an offline site has
version_added: 0.1.0
description:
  - Merges a delta directory (written by M(mlstack.platform.bundle_delta)) into an existing
    bundle directory on the offline side, so the bundle becomes the new full bundle.
  - First checks the delta's signature with C(gpgv) against O(public_key) (the inventory's,
    never a key from the bundle), that its C(MANIFEST.json) is the one its signed
    C(SHA256SUMS) lists, and that the target bundle's C(MANIFEST.json) is the delta's base.
  - Then stages the delta's files in a temporary directory inside the bundle (a file the
    delta does not carry because the bundle has that content under another path is copied
    from there), and hashes every file of the merged result against the signed
    C(SHA256SUMS), the staged ones and those kept in place.
  - Only when all of that passed does the final step run. Staged files are renamed into
    place, files the new C(MANIFEST.json) no longer lists are removed, and the top files
    (C(MANIFEST.json), C(SHA256SUMS), C(SHA256SUMS.sig)) are replaced last. Until then the
    bundle is untouched; a failure names each problem.
  - A bundle that already is the delta's result is left alone (C(changed=false)).
author:
  - mlstack.platform developers (@mlstack)
options:
  path:
    description:
      - The bundle directory to merge into.
    type: path
    required: true
  delta:
    description:
      - The delta directory.
    type: path
    required: true
  public_key:
    description:
      - The site's public signing key (C(mlstack_bundle_public_key)).
    type: path
    required: true
requirements:
  - C(gpgv) on the controller.
attributes:
  check_mode:
    support: full
    description: Runs every check and hash without staging; reports what would change.
  diff_mode:
    support: full
    description: Shows the files added or replaced and removed.
  idempotent:
    support: full
    description: Merging the same delta again reports C(changed=false).
seealso:
  - module: mlstack.platform.bundle_delta
  - module: mlstack.platform.bundle_verify
"""

EXAMPLES = r"""
- name: Merge the update trip's delta into the site's bundle
  mlstack.platform.bundle_merge:
    path: /srv/bundle
    delta: /media/usb/bundle.delta
    public_key: "{{ mlstack_bundle_public_key }}"
  delegate_to: localhost
"""

RETURN = r"""
fingerprint:
  description: Fingerprint of the key that signed the delta.
  returned: success
  type: str
  sample: 8616C1515FC6CCF8406254A69F3E96CA651EDCA0
staged:
  description: Files added or replaced.
  returned: success
  type: list
  elements: str
  sample: [images/oci/index.json]
removed:
  description: Files removed (no longer listed).
  returned: success
  type: list
  elements: str
  sample: [images/oci/blobs/sha256/9e1d...]
bytes:
  description: Bytes hashed to verify the merged bundle.
  returned: success
  type: int
  sample: 5368709120
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import SIGNATURE, SUMS, BundleError, problems_heading
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_delta import (
    MergePlan,
    apply_merge,
    check_merge,
    listing_problems,
    make_staging,
    remove_leftovers,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_gpg import GpgError, gpgv_verify

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    delta=dict(type="path", required=True),
    public_key=dict(type="path", required=True, no_log=False),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    root, delta = params["path"], params["delta"]
    staging = None
    try:
        if not os.path.isfile(params["public_key"]):
            raise BundleError("public key %s does not exist" % params["public_key"])
        if not os.path.isdir(delta):
            raise BundleError("delta %s: no such directory" % delta)
        fingerprint = gpgv_verify(module.run_command, module.get_bin_path("gpgv", required=True),
                                  params["public_key"], os.path.join(delta, SIGNATURE), os.path.join(delta, SUMS))
        plan = MergePlan(delta, root)
        result = dict(changed=plan.changes, fingerprint=fingerprint, staged=[rel for rel, _src in plan.staged],
                      removed=plan.removed, bytes=0)
        if plan.changes:
            if not module.check_mode:
                remove_leftovers(root)
                staging = make_staging(root)
            problems, result["bytes"] = check_merge(plan, staging)
            if problems:
                raise BundleError("cannot merge %s into %s (the bundle is unchanged), %s:\n%s"
                                  % (delta, root, problems_heading(len(problems)), "\n".join(problems)))
            if not module.check_mode:
                apply_merge(plan, staging)
                staging = None
                problems = listing_problems(plan)
                if problems:
                    raise BundleError("merged %s into %s, but the result is wrong:\n%s" % (delta, root, "\n".join(problems)))
    except (BundleError, GpgError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="cannot merge %s into %s: %s: %s" % (delta, root, exc.filename or root, exc.strerror))
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    if module._diff:
        result["diff"] = dict(before="".join("%s\n" % rel for rel in plan.removed),
                              after="".join("%s\n" % rel for rel in result["staged"]),
                              before_header="%s: removed" % root, after_header="%s: added or replaced" % root)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
