# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filter openpgp_fingerprints (documentation beside this file: openpgp_fingerprints.yml)."""

from __future__ import annotations

import base64
from typing import List

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.mlstack.platform.plugins.module_utils._bundle_gpg import GpgError
from ansible_collections.mlstack.platform.plugins.module_utils._openpgp import fingerprints


def openpgp_fingerprints(content, source="the key", subkeys=False, base64_encoded=False) -> List[str]:
    """Fingerprints (upper-case hex) of the primary keys of an OpenPGP public key file's
    content; with ``base64_encoded`` the content is slurp's."""
    data = to_bytes(content)
    if base64_encoded:
        try:
            data = base64.b64decode(data, validate=False)
        except ValueError as exc:
            raise AnsibleFilterError("%s: not base64 (%s)" % (source, exc))
    try:
        return fingerprints(data, str(source), subkeys=bool(subkeys))
    except GpgError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"openpgp_fingerprints": openpgp_fingerprints}
