#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_collection
short_description: Put the collection's tarball into the bundle, replaced only when the collection changed
version_added: 0.1.0
description:
  - Runs on the connected side. Makes the tarball C(ansible-galaxy collection install --offline)
    takes, in a temporary directory outside the bundle. From a checkout (O(src) holds
    C(galaxy.yml)) with C(ansible-galaxy collection build); from an installed collection
    (which already holds C(MANIFEST.json) and C(FILES.json)) by packing the tree as it is,
    without C(__pycache__).
  - The tarball in the bundle (O(dest)) is replaced only when the digest of the new
    tarball's file list (C(MANIFEST.json) C(file_manifest_file.chksum_sha256), the digest of
    C(FILES.json), which holds every file's sha256) differs from the one O(dest) holds, so a
    re-run over an unchanged collection writes nothing and reports no change (a tarball
    rebuilt from the same files differs in its timestamps only).
  - The new tarball is written beside O(dest) under a temporary name and renamed into place.
author:
  - mlstack.platform developers (@mlstack)
options:
  src:
    description: The collection's root (a checkout with C(galaxy.yml), or an installed collection).
    type: path
    required: true
  dest:
    description: The tarball in the bundle (C(<bundle>/controller/<namespace>-<name>-<version>.tar.gz)).
    type: path
    required: true
  galaxy:
    description: The ansible-galaxy binary (for a checkout).
    type: path
    default: ansible-galaxy
attributes:
  check_mode:
    support: full
    description: Builds in a temporary directory and says whether O(dest) would be replaced; writes nothing there.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: An unchanged collection leaves O(dest) as it is.
"""

EXAMPLES = r"""
- name: Put the collection into the bundle
  mlstack.platform.bundle_collection:
    src: "{{ role_path | dirname | dirname }}"
    dest: /media/bundle/controller/mlstack-platform-0.1.0.tar.gz
"""

RETURN = r"""
files_sha256:
  description: The digest of the tarball's FILES.json (its MANIFEST.json's file_manifest_file.chksum_sha256).
  returned: success
  type: str
built_from:
  description: C(checkout) or C(installed).
  returned: success
  type: str
"""

import glob
import json
import os
import shutil
import tarfile
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import TEMP_PREFIX


def files_digest(tarball: str) -> t.Optional[str]:
    """The FILES.json digest a collection tarball's MANIFEST.json records, or None."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            member = tar.extractfile("MANIFEST.json")
            if member is None:
                return None
            manifest = json.load(member)
        return manifest["file_manifest_file"]["chksum_sha256"]
    except (OSError, KeyError, TypeError, ValueError, tarfile.TarError):
        return None


def pack_installed(src: str, out: str) -> None:
    """The installed tree as a tarball whose members are relative to its root."""
    def keep(info: tarfile.TarInfo) -> t.Optional[tarfile.TarInfo]:
        return None if "__pycache__" in info.name.split("/") else info
    with tarfile.open(out, "w:gz") as tar:
        for name in sorted(os.listdir(src)):
            tar.add(os.path.join(src, name), arcname=name, filter=keep)


def build(module: AnsibleModule, src: str, scratch: str) -> t.Tuple[str, str]:
    if os.path.isfile(os.path.join(src, "galaxy.yml")):
        galaxy = module.params["galaxy"]
        galaxy = galaxy if "/" in galaxy else module.get_bin_path(galaxy, required=True)
        rc, out, err = module.run_command([galaxy, "collection", "build", src, "--output-path", scratch])
        if rc != 0:
            module.fail_json(msg="bundle_collection: ansible-galaxy collection build %s failed: %s"
                             % (src, (err or out).strip().splitlines()[-1:] or "no output"))
        built = glob.glob(os.path.join(scratch, "*.tar.gz"))
        if len(built) != 1:
            module.fail_json(msg="bundle_collection: ansible-galaxy wrote %d tarballs in %s" % (len(built), scratch))
        return built[0], "checkout"
    if not os.path.isfile(os.path.join(src, "MANIFEST.json")):
        module.fail_json(msg="bundle_collection: %s is neither a checkout (galaxy.yml) nor an installed collection "
                         "(MANIFEST.json)" % src)
    out = os.path.join(scratch, "collection.tar.gz")
    pack_installed(src, out)
    return out, "installed"


def main() -> None:
    module = AnsibleModule(argument_spec=dict(
        src=dict(type="path", required=True),
        dest=dict(type="path", required=True),
        galaxy=dict(type="path", default="ansible-galaxy"),
    ), supports_check_mode=True)
    src, dest = module.params["src"], module.params["dest"]
    scratch = tempfile.mkdtemp(suffix=".mlstack-collection")
    try:
        tarball, built_from = build(module, src, scratch)
        new = files_digest(tarball)
        if new is None:
            module.fail_json(msg="bundle_collection: the tarball built from %s has no MANIFEST.json file list digest" % src)
        changed = files_digest(dest) != new
        if changed and not module.check_mode:
            directory = os.path.dirname(dest)
            os.makedirs(directory, mode=0o755, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
            try:
                with os.fdopen(fd, "wb") as out, open(tarball, "rb") as stream:
                    shutil.copyfileobj(stream, out, 4 * 1024 * 1024)
                os.chmod(temp, 0o644)
                os.replace(temp, dest)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    module.exit_json(changed=changed, files_sha256=new, built_from=built_from, dest=dest)


if __name__ == "__main__":
    main()
