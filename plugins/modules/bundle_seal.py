#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_seal
short_description: Write a bundle's MANIFEST.json, SHA256SUMS and signature
version_added: 0.1.0
description:
  - Seals a bundle directory in the format of C(docs/bundle-format.md) (version 1), on the
    connected side (delegated to C(localhost)), once every artifact is in place.
  - Writes C(MANIFEST.json) (the artifact records given, and every file of the directory
    except the three top files with its size and sha256), C(SHA256SUMS) (the same files and
    C(MANIFEST.json), sorted, C(sha256sum -c) format) and C(SHA256SUMS.sig) (a detached,
    ASCII-armoured signature with the site's signing key, imported into a temporary
    GNUPGHOME that is removed afterwards). Each is written to a temporary name, and the
    three are renamed into place together at the end.
  - Fails before writing anything, naming each problem, when an artifact names a file that
    does not exist, an image's C(ref) is not named in C(images/oci/index.json) (or names
    another digest, or a blob of its manifest is missing), or the directory holds a symbolic link, a special file or a temporary
    file (C(*.part), C(*.tmp), C(.mlstack-tmp-*) ..., left by an interrupted download or write).
  - Files are hashed once. A cache outside the bundle keyed by path, size, mtime and inode
    lets a re-run over an unchanged bundle read no file. When C(MANIFEST.json) and
    C(SHA256SUMS) would be byte-identical (C(created) is kept then) and the signature is
    a good one by the signing key, nothing is written and C(changed) is false.
  - With O(public_key), the sealed bundle is then verified in the same run exactly as
    M(mlstack.platform.bundle_verify) verifies it, with the same code. That is the signature
    against O(public_key), every file's sha256 read from disk again, and completeness against
    O(needs); the task fails naming each problem. Only a file this run's seal has just read
    itself (a new or changed file), still with the size, mtime and inode it had then, is not
    read a second time; a digest from the hash cache is never trusted by the verification.
author:
  - mlstack.platform developers (@mlstack)
options:
  path:
    description:
      - The bundle directory.
    type: path
    required: true
  artifacts:
    description:
      - The bundle's artifacts, as the artifact layer lists them (see the format doc).
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description:
          - C(<kind>/<key>), or C(<kind>/<key>@<target>) for per-target kinds (debs, wheels).
        type: str
        required: true
      kind:
        description:
          - The artifact's kind.
        type: str
        required: true
        choices: [image, debs, wheels, snap, chart, collection, controller]
      key:
        description:
          - The manifest key (C(mlstack_artifacts)) of the artifact.
        type: str
        required: true
      target:
        description:
          - The target (C(debian-bookworm) ...) of a per-target artifact; none for others.
        type: str
      name:
        description:
          - Upstream name (image repository, package, chart).
        type: str
      version:
        description:
          - The version bundled.
        type: str
      source:
        description:
          - Where it came from (reference, mirror, index URL).
        type: str
      digest:
        description:
          - The upstream digest (for an image, the manifest digest copied).
        type: str
      ref:
        description:
          - For an image, its name in C(images/oci/index.json) (required for images).
        type: str
      files:
        description:
          - The bundle files the artifact needs, relative to O(path).
        type: list
        elements: str
        default: []
  collection:
    description:
      - The collection that made the bundle (C(name), C(version)).
    type: dict
    required: true
  signing_key:
    description:
      - The site's secret signing key file (see M(mlstack.platform.bundle_signing_key)).
    type: path
    required: true
  passphrase:
    description:
      - The signing key's passphrase, if it has one.
    type: str
  hash_cache_dir:
    description:
      - Directory of the hash cache (one file per bundle directory). It must not be
        inside the bundle. An empty value hashes every file every run.
    type: path
    default: ~/.cache/mlstack
  workers:
    description:
      - Files hashed at once; 0 picks the number of CPUs (at most 4).
    type: int
    default: 0
  public_key:
    description:
      - The signing key's public key file. When given, the bundle is verified after sealing
        (see the description); in check mode only when the seal would not change.
    type: path
  needs:
    description:
      - What the site needs, as for M(mlstack.platform.bundle_verify)'s O(mlstack.platform.bundle_verify#module:needs);
        checked only with O(public_key).
    type: list
    elements: raw
    default: []
requirements:
  - C(gpg), C(gpgconf) and C(gpgv) (GnuPG 2.2 or later) on the controller.
attributes:
  check_mode:
    support: full
    description: Hashes and compares, reports whether the seal would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the artifacts (id, version, digest) before and after.
  idempotent:
    support: full
    description: A re-run over an unchanged bundle reads no file and reports C(changed=false).
seealso:
  - module: mlstack.platform.bundle_verify
  - module: mlstack.platform.bundle_signing_key
"""

EXAMPLES = r"""
- name: Seal the bundle
  mlstack.platform.bundle_seal:
    path: "{{ mlstack_bundle_dir }}"
    artifacts: "{{ bundle_records }}"
    collection:
      name: mlstack.platform
      version: "{{ mlstack_collection_version }}"
    signing_key: "{{ mlstack_bundle_signing_key }}"
  delegate_to: localhost
"""

RETURN = r"""
fingerprint:
  description: Fingerprint of the signing key.
  returned: success
  type: str
  sample: 8616C1515FC6CCF8406254A69F3E96CA651EDCA0
manifest_sha256:
  description: SHA-256 of the MANIFEST.json written (what a delta names as its base).
  returned: success
  type: str
  sample: 3f0c8e1c2b0a4e7d9c1e5b8a2d6f4c3e1a0b9d8c7e6f5a4b3c2d1e0f9a8b7c6d
files:
  description: Number of files listed (without the three top files).
  returned: success
  type: int
  sample: 412
bytes:
  description: Total size of those files.
  returned: success
  type: int
  sample: 5368709120
bytes_hashed:
  description: Bytes read to hash files this run (0 when the cache knew every file).
  returned: success
  type: int
  sample: 0
verification:
  description:
    - What the verification found (with O(public_key)), as M(mlstack.platform.bundle_verify) returns it
      (C(fingerprint), C(files), C(bytes) hashed, C(seconds), C(throughput_mb_s), C(artifacts), C(images),
      C(problems)); C(skipped) true in check mode when the seal would change.
  returned: when O(public_key) is given
  type: dict
  sample: {"fingerprint": "8616C1515FC6CCF8406254A69F3E96CA651EDCA0", "files": 413, "bytes": 5368709120,
           "seconds": 31.4, "throughput_mb_s": 171.0, "artifacts": 23, "images": 18, "problems": []}
"""

import os
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import (
    MANIFEST,
    SIGNATURE,
    SUMS,
    TEMP_PREFIX,
    BundleError,
    problems_heading,
    sha256_bytes,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_check import normalize_needs, verify_bundle
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_gpg import (
    GpgError,
    GpgHome,
    gpgv_verify,
    import_signing_key,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_seal import Seal

_RECORD_OPTIONS = dict(
    id=dict(type="str", required=True),
    kind=dict(type="str", required=True, choices=["image", "debs", "wheels", "snap", "chart", "collection", "controller"]),
    key=dict(type="str", required=True, no_log=False),
    target=dict(type="str"),
    name=dict(type="str"),
    version=dict(type="str"),
    source=dict(type="str"),
    digest=dict(type="str"),
    ref=dict(type="str"),
    files=dict(type="list", elements="str", default=[]),
)
ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    artifacts=dict(type="list", elements="dict", required=True, options=_RECORD_OPTIONS),
    collection=dict(type="dict", required=True),
    signing_key=dict(type="path", required=True, no_log=False),
    passphrase=dict(type="str", no_log=True),
    hash_cache_dir=dict(type="path", default="~/.cache/mlstack"),
    workers=dict(type="int", default=0),
    public_key=dict(type="path", no_log=False),
    needs=dict(type="list", elements="raw", default=[]),
)


def signature_is_good(home: GpgHome, run: t.Any, gpgv: str, fingerprint: str, root: str) -> bool:
    """Whether the bundle's SHA256SUMS.sig is a good signature by ``fingerprint``."""
    public = os.path.join(home.home, "signing.pub.asc")
    with open(public, "wb") as stream:
        stream.write(home.export_public(fingerprint))
    try:
        signer = gpgv_verify(run, gpgv, public, os.path.join(root, SIGNATURE), os.path.join(root, SUMS))
    except GpgError:
        return False
    return signer == fingerprint


def write_temp(root: str, data: bytes) -> str:
    fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=root)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.chmod(path, 0o644)
    return path


def write_seal(home: GpgHome, params: t.Dict[str, t.Any], fingerprint: str, seal: Seal) -> None:
    """Write the three top files to temporary names, sign, then rename them all."""
    root = params["path"]
    temps: t.List[str] = []
    try:
        temps.append(write_temp(root, seal.manifest))
        temps.append(write_temp(root, seal.sums))
        signature = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=root)
        os.close(signature[0])
        temps.append(signature[1])
        home.sign(params["signing_key"], fingerprint, temps[1], temps[2], params["passphrase"])
        os.chmod(temps[2], 0o644)
        for temp, name in zip(temps, (MANIFEST, SUMS, SIGNATURE)):
            os.replace(temp, os.path.join(root, name))
    finally:
        for temp in temps:
            if os.path.exists(temp):
                os.unlink(temp)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    root = params["path"]
    cache_dir = params["hash_cache_dir"] or None
    if cache_dir and os.path.realpath(cache_dir).startswith(os.path.realpath(root) + os.sep):
        module.fail_json(msg="hash_cache_dir %s is inside the bundle %s; put it elsewhere" % (cache_dir, root))
    for field in ("name", "version"):
        if not isinstance(params["collection"].get(field), str) or not params["collection"][field]:
            module.fail_json(msg="collection: %s is missing (give the collection's name and version)" % field)
    gpg = module.get_bin_path("gpg", required=True)
    gpgv = module.get_bin_path("gpgv", required=True)
    gpgconf = module.get_bin_path("gpgconf")
    verification: t.Optional[t.Dict[str, t.Any]] = None
    try:
        if params["public_key"]:
            normalize_needs(params["needs"])  # a malformed need fails before anything is written
        if os.path.isfile(params["signing_key"]) and os.stat(params["signing_key"]).st_mode & 0o077:
            module.warn("signing key %s is readable by others than its owner; chmod 0600 it" % params["signing_key"])
        seal = Seal(root, params["artifacts"], params["collection"], cache_dir, params["workers"])
        with GpgHome(module.run_command, gpg, gpgconf, throwaway_s2k=True) as home:
            fingerprint = import_signing_key(home, params["signing_key"])
            changed = not (seal.unchanged and signature_is_good(home, module.run_command, gpgv, fingerprint, root))
            if changed and not module.check_mode:
                write_seal(home, params, fingerprint, seal)
        if not module.check_mode:
            seal.cache.save()
        if params["public_key"] and module.check_mode and changed:
            verification = dict(skipped=True)
        elif params["public_key"]:
            verification = verify_bundle(module.run_command, gpgv, root, params["public_key"], params["needs"],
                                         workers=params["workers"], known=seal.cache.known_now())
    except (BundleError, GpgError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="cannot seal %s: %s: %s" % (root, exc.filename or root, exc.strerror))

    result = dict(
        changed=changed,
        fingerprint=fingerprint,
        manifest_sha256=sha256_bytes(seal.manifest),
        files=len(seal.files),
        bytes=sum(os.path.getsize(os.path.join(root, rel)) for rel in seal.files),
        bytes_hashed=seal.hashes.bytes_read,
    )
    if module._diff:
        result["diff"] = seal.diff()
    if verification is not None:
        result["verification"] = verification
        if verification.get("problems"):
            module.fail_json(msg="bundle %s failed verification, %s:\n%s"
                             % (root, problems_heading(len(verification["problems"])), "\n".join(verification["problems"])),
                             **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
