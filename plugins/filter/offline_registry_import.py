# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the offline_registry role computes: the subject alternative names of its server
certificate, and the images of the bundle the registry does not hold yet.

Documentation of the filters is beside this file (offline_registry_tls_sans.yml, ...).
"""

from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# Digits and dots only (an IPv4 address), or two colons or more (an IPv6 address).
_IPV4 = re.compile(r"^[0-9.]+$")
_IPV6 = re.compile(r".*:.*:")


def offline_registry_tls_sans(names):
    """``IP:<name>`` for IPv4 literals (digits and dots only) and IPv6 literals (two colons or
    more), ``DNS:<name>`` for every other name, in the order given."""
    if not isinstance(names, (list, tuple)):
        raise AnsibleFilterError("offline_registry_tls_sans: expected a list of names, got %s" % type(names).__name__)
    sans = []
    for name in names:
        name = to_text(name)
        sans.append(("IP:" if _IPV4.match(name) or _IPV6.match(name) else "DNS:") + name)
    return sans


def _held_config(result):
    """The config digest `skopeo inspect --raw` of the registry gave, or '' (not there, or
    not asked: a skipped or failed probe)."""
    if result.get("rc", 1) != 0:
        return ""
    try:
        manifest = json.loads(result.get("stdout") or "{}")
    except ValueError:
        return ""
    config = manifest.get("config") if isinstance(manifest, dict) else None
    return (config or {}).get("digest", "") if isinstance(config, dict) else ""


def offline_registry_probe_results(raw, refs):
    """The one-call registry probe (a command printing a JSON list of {rc, stdout, stderr},
    one per image, in the order of ``refs``) as the loop's registered result would be:
    ``{"results": [{"item": ref, "rc": .., "stdout": ..}, ...]}``. A skipped probe (check
    mode before the registry runs) gives every image rc 1: not held."""
    refs = list(refs or [])
    if not isinstance(raw, dict):
        raise AnsibleFilterError("offline_registry_probe_results: expected the registered probe, got %s" % type(raw).__name__)
    if raw.get("skipped") or "stdout" not in raw:
        return {"results": [{"item": ref, "rc": 1, "stdout": "", "stderr": ""} for ref in refs]}
    try:
        answers = json.loads(raw.get("stdout") or "")
    except ValueError:
        raise AnsibleFilterError("offline_registry_probe_results: the registry probe printed no JSON list: %s"
                                 % to_text(raw.get("stdout"))[:200])
    if not isinstance(answers, list) or len(answers) != len(refs):
        raise AnsibleFilterError("offline_registry_probe_results: the registry probe answered for %s images, %d were asked"
                                 % (len(answers) if isinstance(answers, list) else "no", len(refs)))
    return {"results": [dict(answer, item=ref) for ref, answer in zip(refs, answers)]}


def offline_registry_to_push(probe):
    """The images (the loop items of the registered probe) whose config digest the registry
    does not hold under their target name."""
    if not isinstance(probe, dict):
        raise AnsibleFilterError("offline_registry_to_push: expected the registered result of the registry probe, got %s"
                                 % type(probe).__name__)
    missing = []
    for index, result in enumerate(probe.get("results") or []):
        if not isinstance(result, dict) or not isinstance(result.get("item"), dict):
            raise AnsibleFilterError("offline_registry_to_push: result %d of the registry probe has no image item" % index)
        if _held_config(result) != result["item"].get("config"):
            missing.append(result["item"])
    return missing


class FilterModule:
    """The offline_registry role's computed values."""

    def filters(self):
        return {
            "offline_registry_tls_sans": offline_registry_tls_sans,
            "offline_registry_to_push": offline_registry_to_push,
            "offline_registry_probe_results": offline_registry_probe_results,
        }
