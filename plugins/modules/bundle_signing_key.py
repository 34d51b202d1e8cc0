#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_signing_key
short_description: Make the site's bundle signing key (OpenPGP) once, on the connected side
version_added: 0.1.0
description:
  - Generates an OpenPGP signing key for the site's bundles when the secret key file
    O(path) does not exist, and writes its public key beside it. Runs on the controller
    (delegated to C(localhost)).
  - The key is made with C(gpg) in a temporary GNUPGHOME that is removed afterwards, so
    the user's own keyrings are never touched and no key stays in a keyring.
  - The secret key file is written with mode C(0600) (its directory is created C(0700) if
    missing), through a temporary name, and is never printed or returned.
  - When O(path) exists the key is not touched; a missing public key file is written again
    from it, and a public key file that belongs to another key fails the task.
  - The public key is what the offline side's inventory names as
    C(mlstack_bundle_public_key); the bundle never carries the key it is checked against.
author:
  - mlstack.platform developers (@mlstack)
options:
  path:
    description:
      - The secret key file (ASCII-armoured). Keep it on the connected side only.
    type: path
    required: true
  public_key_path:
    description:
      - The public key file (ASCII-armoured).
      - Default C(<name>.pub.asc) beside O(path), where C(<name>) is the file name of
        O(path) without a C(.asc), C(.key), C(.gpg) or C(.sec) suffix.
    type: path
  uid:
    description:
      - The key's user ID.
    type: str
    default: mlstack.platform bundle signing key <bundle-signing@mlstack.invalid>
  algorithm:
    description:
      - The key algorithm, as C(gpg --quick-generate-key) spells it.
    type: str
    choices: [ed25519, rsa3072, rsa4096]
    default: ed25519
  expires:
    description:
      - When the key expires (C(gpg) syntax, for example C(2y)), or V(never).
      - Bundles signed with an expired key are refused by bundle_verify.
    type: str
    default: never
  passphrase:
    description:
      - Protect the secret key with this passphrase. Without it the key is not
        protected (its file mode and location are its protection).
      - bundle_seal then needs the same passphrase.
    type: str
requirements:
  - C(gpg) and C(gpgconf) (GnuPG 2.2 or later) on the controller.
attributes:
  check_mode:
    support: full
    description: Reports whether a key would be generated or its public key written.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
  idempotent:
    support: full
    description: Once the key exists a run changes nothing.
notes:
  - The fingerprint is read with C(gpg --show-keys), again in a temporary GNUPGHOME.
seealso:
  - module: mlstack.platform.bundle_seal
  - module: mlstack.platform.bundle_verify
"""

EXAMPLES = r"""
- name: Make the site's bundle signing key (once)
  mlstack.platform.bundle_signing_key:
    path: "{{ mlstack_credentials_dir }}/bundle-signing.key"
  delegate_to: localhost
  register: signing_key

- name: Show the public key to put in the offline inventory
  ansible.builtin.debug:
    msg: "mlstack_bundle_public_key: {{ signing_key.public_key }} ({{ signing_key.fingerprint }})"
"""

RETURN = r"""
fingerprint:
  description: The key's fingerprint (null in check mode when the key would be generated).
  returned: always
  type: str
  sample: 8616C1515FC6CCF8406254A69F3E96CA651EDCA0
path:
  description: The secret key file.
  returned: always
  type: str
  sample: /srv/site/credentials/bundle-signing.key
public_key:
  description: The public key file.
  returned: always
  type: str
  sample: /srv/site/credentials/bundle-signing.pub.asc
generated:
  description: Whether the key was (or in check mode would be) generated.
  returned: always
  type: bool
  sample: true
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import atomic_write
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_gpg import GpgError, GpgHome

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    public_key_path=dict(type="path"),
    uid=dict(type="str", default="mlstack.platform bundle signing key <bundle-signing@mlstack.invalid>"),
    algorithm=dict(type="str", choices=["ed25519", "rsa3072", "rsa4096"], default="ed25519"),
    expires=dict(type="str", default="never"),
    passphrase=dict(type="str", no_log=True),
)
_SUFFIXES = (".asc", ".key", ".gpg", ".sec")


def public_key_path(path: str) -> str:
    directory, name = os.path.split(path)
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[:-len(suffix)]
            break
    return os.path.join(directory, name + ".pub.asc")


def write_secret(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    atomic_write(path, data, mode=0o600)


def existing_key(home: GpgHome, path: str, public: str) -> t.Tuple[str, t.Optional[bytes]]:
    """The fingerprint of the key in ``path`` and, when ``public`` is missing, its public key."""
    fingerprints = home.show_fingerprints(path)
    if len(fingerprints) != 1:
        raise GpgError("signing key %s holds %d keys; it must hold exactly one" % (path, len(fingerprints)))
    if os.path.exists(public):
        theirs = home.show_fingerprints(public)
        if theirs != fingerprints:
            raise GpgError("public key %s belongs to key %s, not to %s of %s; move one of them away"
                           % (public, ", ".join(theirs) or "none", fingerprints[0], path))
        return fingerprints[0], None
    home.import_key(path)
    return fingerprints[0], home.export_public(fingerprints[0])


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    path = params["path"]
    public = params["public_key_path"] or public_key_path(path)
    if os.path.isdir(path):
        module.fail_json(msg="signing key path %s is a directory; give the secret key file's path" % path)
    gpg = module.get_bin_path("gpg", required=True)
    gpgconf = module.get_bin_path("gpgconf")
    result = dict(changed=False, path=path, public_key=public, fingerprint=None, generated=False)
    run = module.run_command
    try:
        with GpgHome(run, gpg, gpgconf) as home:
            if os.path.exists(path):
                result["fingerprint"], public_data = existing_key(home, path, public)
                if public_data is not None:
                    result["changed"] = True
                    if not module.check_mode:
                        atomic_write(public, public_data, mode=0o644)
            elif os.path.exists(public):
                raise GpgError("public key %s exists without its secret key %s; move it away to make a new key"
                               % (public, path))
            else:
                result.update(changed=True, generated=True)
                if not module.check_mode:
                    passphrase = params["passphrase"] or ""
                    fingerprint = home.generate(params["uid"], params["algorithm"], params["expires"], passphrase)
                    secret = home.export_secret(fingerprint, passphrase)
                    public_data = home.export_public(fingerprint)
                    write_secret(path, secret)
                    atomic_write(public, public_data, mode=0o644)
                    result["fingerprint"] = fingerprint
    except GpgError as exc:
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:
        module.fail_json(msg="cannot write the signing key %s: %s" % (exc.filename or path, exc.strerror), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
