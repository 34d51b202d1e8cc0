# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the microk8s_gpu role computes from its inventory: the cluster's nodes, the optional
addons' states, the addons that cannot be enabled offline, the snap channel as snapd tracks
it, where image archives go on the host, and the extra SAN lines of csr.conf.template.

Documentation of the filters is beside this file (microk8s_gpu_nodes.yml, ...).
"""

from __future__ import annotations

import posixpath
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mlstack.platform.plugins.module_utils import _microk8s

# snapd's risk levels (snap/channel/channel.go).
RISKS = ("stable", "candidate", "beta", "edge")
# csr.conf.template's own DNS.n and IP.n stop below this; render_csr_conf numbers the
# host's addresses from IP.3 on.
SAN_FIRST_NUMBER = 100
_IP_SAN = re.compile(r"^[0-9.]+$")


def _names(value, what, filter_name):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError("%s: %s must be a list of host names, got %s" % (filter_name, what, type(value).__name__))
    return [to_text(v) for v in value]


def microk8s_gpu_nodes(control_planes, workers, hostvars):
    """[{name, role}] of every cluster host (control planes, then workers), the node name
    from the host's _microk8s_gpu_self fact."""
    control_planes = _names(control_planes, "the control-plane hosts", "microk8s_gpu_nodes")
    workers = _names(workers, "the worker hosts", "microk8s_gpu_nodes")
    nodes = []
    for host in control_planes + workers:
        try:
            name = hostvars[host]["_microk8s_gpu_self"]["name"]
        except (KeyError, TypeError):
            raise AnsibleFilterError("microk8s_gpu_nodes: host %s has no _microk8s_gpu_self.name (the role's main.yml "
                                     "sets it on every cluster host before the cluster is formed)" % host)
        nodes.append({"name": name, "role": "worker" if host in workers else "control-plane"})
    return nodes


def microk8s_gpu_optional_addons(flags):
    """{addon: true|false|null} to [{name, state: enabled|disabled}], null left out, in the
    order given."""
    if not isinstance(flags, dict):
        raise AnsibleFilterError("microk8s_gpu_optional_addons: expected {addon: true, false or null}, got %s"
                                 % type(flags).__name__)
    result = []
    for name, flag in flags.items():
        if flag is None:
            continue
        if isinstance(flag, str):
            if flag.lower() not in ("true", "false", "yes", "no", "on", "off", "1", "0"):
                raise AnsibleFilterError("microk8s_gpu_optional_addons: %s must be true, false or null, got %r" % (name, flag))
            flag = flag.lower() in ("true", "yes", "on", "1")
        result.append({"name": to_text(name), "state": "enabled" if flag else "disabled"})
    return result


def microk8s_gpu_offline_blockers(addons):
    """The names of the addons to be enabled (no state, or state enabled) that fetch from the
    internet: the rule and list of the module microk8s_addons (module_utils/_microk8s.py
    ONLINE_ADDONS), so the role refuses up front what the module would refuse later."""
    if not isinstance(addons, (list, tuple)) or not all(isinstance(a, dict) and a.get("name") for a in addons):
        raise AnsibleFilterError("microk8s_gpu_offline_blockers: expected a list of addons, each a dict with a name")
    return [blocker["name"] for blocker in _microk8s.offline_blockers(list(addons))]


def microk8s_gpu_channel(channel):
    """A snap channel as snapd tracks it: a track alone gets the risk stable ("1.36" ->
    "1.36/stable"), a risk alone the track latest ("edge" -> "latest/edge", "beta/hotfix"
    -> "latest/beta/hotfix"); anything else as given."""
    channel = to_text(channel or "")
    if not channel:
        raise AnsibleFilterError("microk8s_gpu_channel: microk8s_gpu_channel is empty")
    parts = channel.split("/")
    if len(parts) == 1:
        return "latest/" + channel if channel in RISKS else channel + "/stable"
    if len(parts) == 2 and parts[0] in RISKS:
        return "latest/" + channel
    return channel


def microk8s_gpu_archives_on_host(archives, offline_dir):
    """microk8s_gpu_image_archives with each path moved to <offline_dir>/images/<file name>,
    where the role copies it; the other keys as given."""
    if archives is None:
        return []
    if not isinstance(archives, (list, tuple)):
        raise AnsibleFilterError("microk8s_gpu_archives_on_host: microk8s_gpu_image_archives must be a list, got %s"
                                 % type(archives).__name__)
    result = []
    for index, archive in enumerate(archives):
        if not isinstance(archive, dict) or not archive.get("path"):
            raise AnsibleFilterError("microk8s_gpu_archives_on_host: microk8s_gpu_image_archives[%d] needs a path" % index)
        moved = dict(archive)
        moved["path"] = to_text(offline_dir) + "/images/" + posixpath.basename(to_text(archive["path"]))
        result.append(moved)
    return result


def microk8s_gpu_san_lines(sans):
    """microk8s_gpu_extra_sans as csr.conf.template lines: ``IP.<n> = ...`` for addresses
    (digits and dots, or anything with a colon), ``DNS.<n> = ...`` for names, each kind
    numbered from 100 in the order given."""
    if sans is None:
        return []
    if not isinstance(sans, (list, tuple)):
        raise AnsibleFilterError("microk8s_gpu_san_lines: microk8s_gpu_extra_sans must be a list, got %s" % type(sans).__name__)
    lines, numbers = [], {"IP": SAN_FIRST_NUMBER, "DNS": SAN_FIRST_NUMBER}
    for san in sans:
        san = to_text(san)
        if not san or any(c.isspace() for c in san):
            raise AnsibleFilterError("microk8s_gpu_san_lines: microk8s_gpu_extra_sans has an empty name or one with spaces: %r" % san)
        kind = "IP" if _IP_SAN.match(san) or ":" in san else "DNS"
        lines.append("%s.%d = %s" % (kind, numbers[kind], san))
        numbers[kind] += 1
    return lines


class FilterModule:
    """The microk8s_gpu role's computed values."""

    def filters(self):
        return {
            "microk8s_gpu_nodes": microk8s_gpu_nodes,
            "microk8s_gpu_optional_addons": microk8s_gpu_optional_addons,
            "microk8s_gpu_offline_blockers": microk8s_gpu_offline_blockers,
            "microk8s_gpu_channel": microk8s_gpu_channel,
            "microk8s_gpu_archives_on_host": microk8s_gpu_archives_on_host,
            "microk8s_gpu_san_lines": microk8s_gpu_san_lines,
        }
