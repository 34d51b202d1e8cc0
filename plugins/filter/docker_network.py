# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The gateway of a docker network, from what community.docker returns for it (the nautilus
and gitlab roles point their containers and allowlists at it).

Documentation of the filter is beside this file (docker_network_gateway.yml).
"""

from __future__ import annotations

from ansible.module_utils.common.text.converters import to_text


def docker_network_gateway(result, default=""):
    """The Gateway of the first IPAM config of ``result.network`` (a registered result of
    community.docker.docker_network or docker_network_info), else ``default``: no result,
    a skipped task, no such network, or IPAM without a gateway."""
    network = result.get("network") if isinstance(result, dict) else None
    ipam = network.get("IPAM") if isinstance(network, dict) else None
    configs = (ipam.get("Config") if isinstance(ipam, dict) else None) or [{}]
    first = configs[0] if isinstance(configs, list) and isinstance(configs[0], dict) else {}
    return to_text(first["Gateway"]) if "Gateway" in first else default


class FilterModule:
    """Docker network values."""

    def filters(self):
        return {"docker_network_gateway": docker_network_gateway}
