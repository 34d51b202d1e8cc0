#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_verify
short_description: Check a bundle's signature, every checksum and that it holds what the site needs
version_added: 0.1.0
description:
  - Verifies a bundle directory (C(docs/bundle-format.md), version 1) before anything on a
    site is changed; site.yml runs it first, on the controller, when C(mlstack_offline) is
    true. It changes nothing.
  - A directory that is not a bundle (no C(MANIFEST.json), another format number) fails
    saying so.
  - The signature C(SHA256SUMS.sig) of C(SHA256SUMS) is checked with C(gpgv) against the
    public key file O(public_key) the inventory names, in a temporary keyring (an
    armoured key is de-armoured in Python; C(gpg) is not needed). A bad signature or a
    signature by a key not in that file fails the task naming the key file; nothing else
    is checked then.
  - Then every file of C(SHA256SUMS) is hashed (streamed, several files at once) and
    compared, files present that C(SHA256SUMS) does not list are named, and
    C(MANIFEST.json) must agree with C(SHA256SUMS).
  - Then completeness. Each artifact of O(needs) must be in C(MANIFEST.json) with all its files,
    and each image must be named in C(images/oci/index.json) (by its C(ref)) with its
    manifest, config and layer blobs present.
  - Every problem is reported at once, one line each, in RV(problems) and in the message.
author:
  - mlstack.platform developers (@mlstack)
options:
  path:
    description:
      - The bundle directory.
    type: path
    required: true
  public_key:
    description:
      - The site's public signing key (armoured or binary OpenPGP), from the inventory
        (C(mlstack_bundle_public_key)); never a key that came inside the bundle.
    type: path
    required: true
  needs:
    description:
      - What the site needs, as the artifact layer computes it. Each entry is an artifact
        id (C(image/minio), C(debs/postgresql@debian-bookworm)) or a map with C(id) and
        optionally C(ref) (an image's name in the OCI layout), C(version) and C(digest),
        each compared with the bundle's record. The layer's other fields (C(kind), C(key),
        C(target), C(name), C(source), C(files), C(hosts), C(roles)) are accepted and ignored.
      - An image without C(ref) here is checked under the C(ref) that MANIFEST.json gives it;
        give C(ref) (or C(version)) so that a bundle made for another tag is refused.
    type: list
    elements: raw
    default: []
  checksums:
    description:
      - Hash every file. V(false) checks sizes only (and MANIFEST.json's checksum),
        seconds instead of minutes on a large bundle, but a flipped byte goes unseen.
    type: bool
    default: true
  workers:
    description:
      - Files hashed at once; 0 picks the number of CPUs (at most 4).
    type: int
    default: 0
requirements:
  - C(gpgv) on the controller (every Debian host has it, since apt depends on it).
attributes:
  check_mode:
    support: full
    description: Runs the same checks; it never changes anything.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
  idempotent:
    support: full
    description: Read-only; always C(changed=false).
seealso:
  - module: mlstack.platform.bundle_seal
  - module: mlstack.platform.bundle_merge
"""

EXAMPLES = r"""
- name: Verify the bundle before any host is touched
  mlstack.platform.bundle_verify:
    path: "{{ mlstack_bundle_dir }}"
    public_key: "{{ mlstack_bundle_public_key }}"
    needs: "{{ site_artifacts }}"
  delegate_to: localhost
  run_once: true

- name: Verify that two images are in it, by name
  mlstack.platform.bundle_verify:
    path: /media/bundle
    public_key: /srv/site/bundle-signing.pub.asc
    needs:
      - id: image/registry
        ref: docker.io/library/registry:2.8.3
      - debs/postgresql@debian-bookworm
"""

RETURN = r"""
fingerprint:
  description: Fingerprint of the key that made the signature.
  returned: success
  type: str
  sample: 8616C1515FC6CCF8406254A69F3E96CA651EDCA0
files:
  description: Files listed in SHA256SUMS (MANIFEST.json included).
  returned: always
  type: int
  sample: 413
bytes:
  description: Bytes hashed.
  returned: always
  type: int
  sample: 5368709120
seconds:
  description: Seconds spent hashing.
  returned: always
  type: float
  sample: 31.4
throughput_mb_s:
  description: Hashing throughput in MB/s (10^6 bytes).
  returned: always
  type: float
  sample: 171.0
artifacts:
  description: Needed artifacts checked.
  returned: always
  type: int
  sample: 23
images:
  description: Needed images checked in the OCI layout.
  returned: always
  type: int
  sample: 18
problems:
  description: One line per problem found (empty on success).
  returned: always
  type: list
  elements: str
  sample: ["images/oci/blobs/sha256/4f2c...: damaged (sha256 ..., SHA256SUMS says ...)"]
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import BundleError, problems_heading
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_check import verify_bundle
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_gpg import GpgError

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    public_key=dict(type="path", required=True, no_log=False),
    needs=dict(type="list", elements="raw", default=[]),
    checksums=dict(type="bool", default=True),
    workers=dict(type="int", default=0),
)


def verify(module: AnsibleModule) -> t.Dict[str, t.Any]:
    params = module.params
    result: t.Dict[str, t.Any] = dict(changed=False, files=0, bytes=0, seconds=0.0, throughput_mb_s=0.0,
                                      artifacts=0, images=0, problems=[])
    result.update(verify_bundle(module.run_command, module.get_bin_path("gpgv", required=True), params["path"],
                                params["public_key"], params["needs"], params["checksums"], params["workers"]))
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = verify(module)
    except (BundleError, GpgError) as exc:
        module.fail_json(msg=str(exc), problems=[str(exc)])
    if result["problems"]:
        module.fail_json(msg="bundle %s failed verification, %s:\n%s"
                         % (module.params["path"], problems_heading(len(result["problems"])),
                            "\n".join(result["problems"])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
