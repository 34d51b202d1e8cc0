# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the nautilus role computes for MLReef's container: its published ports, its
volumes and PIP_SERVER as the container reaches it (the network's gateway comes from
docker_network.py).

Documentation of the filters is beside this file (nautilus_published_ports.yml, ...).
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# A localhost URL (or host:port) of PIP_SERVER: the container reaches the host at the
# network's gateway instead.
_LOCALHOST = re.compile(r"^(https?://)?(localhost|127[.][0-9.]+)(?=:|/|$)")
_SCHEME = re.compile(r"^https?://")


def nautilus_published_ports(container_ports, host_ports, bind_address, database_bind_address="127.0.0.1",
                             database_port="service_6000"):
    """``address:host_port:container_port`` for each named port of the image, in the image's
    order; the database's port on ``database_bind_address``, every other on ``bind_address``."""
    if not isinstance(container_ports, dict) or not isinstance(host_ports, dict):
        raise AnsibleFilterError("nautilus_published_ports: expected the container's ports and nautilus_ports as dicts")
    ports = []
    for name, container_port in container_ports.items():
        if name not in host_ports:
            raise AnsibleFilterError("nautilus_published_ports: nautilus_ports has no port %s (it needs: %s)"
                                     % (name, ", ".join(container_ports)))
        address = database_bind_address if name == database_port else bind_address
        ports.append("%s:%s:%s" % (to_text(address), to_text(host_ports[name]), to_text(container_port)))
    return ports


def nautilus_volumes(mounts, sources, sources_name="nautilus_volumes"):
    """``source:mount`` for each of the image's mounts, in its order; ``sources`` are the
    volume names or host paths (``sources_name`` says which variable, for the error)."""
    if not isinstance(mounts, dict) or not isinstance(sources, dict):
        raise AnsibleFilterError("nautilus_volumes: expected the image's mounts and %s as dicts" % sources_name)
    volumes = []
    for name, mount in mounts.items():
        source = to_text(sources.get(name) or "")
        if not source:
            raise AnsibleFilterError("nautilus_volumes: %s has no %s (it needs: %s)" % (sources_name, name, ", ".join(mounts)))
        volumes.append("%s:%s" % (source, to_text(mount)))
    return volumes


def nautilus_pip_server(pip_server, gateway):
    """PIP_SERVER with a localhost address (localhost, 127.x) replaced by ``gateway``,
    keeping its scheme (http:// when it had none), port and path; anything else as given."""
    pip_server = to_text(pip_server or "")
    match = _LOCALHOST.search(pip_server)
    if not match:
        return pip_server
    if not gateway:
        raise AnsibleFilterError("nautilus_pip_server: nautilus_pip_server %r is a localhost address and the network's gateway "
                                 "is unknown" % pip_server)
    scheme = _SCHEME.search(pip_server)
    return (scheme.group(0) if scheme else "http://") + to_text(gateway) + pip_server[match.end():]


class FilterModule:
    """The nautilus role's container values."""

    def filters(self):
        return {
            "nautilus_published_ports": nautilus_published_ports,
            "nautilus_volumes": nautilus_volumes,
            "nautilus_pip_server": nautilus_pip_server,
        }
