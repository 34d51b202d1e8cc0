# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The gitlab role's endpoints: the port nginx listens on in the container, the published
ports, the URL the role reaches GitLab at from its host, and the monitoring allowlist its
probes need. An IPv6 bind address is written the way each consumer reads one
(``[addr]:port`` in URLs and Docker port specifications, ``addr/128`` in the allowlist).

Documentation of the filters is beside this file (gitlab_internal_port.yml, ...).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

_LOOPBACK_V4 = re.compile(r"^127[.]")


def _host(address):
    """An address as the host part of a URL or of a Docker port specification."""
    address = to_text(address)
    return "[%s]" % address if ":" in address and not address.startswith("[") else address


def _split(external_url):
    parts = urlsplit(to_text(external_url or ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AnsibleFilterError("gitlab filters: gitlab_external_url must be an http:// or https:// URL with a host, got %r"
                                 % external_url)
    try:
        port = parts.port
    except ValueError:
        raise AnsibleFilterError("gitlab filters: gitlab_external_url has an invalid port: %r" % external_url)
    return parts.scheme, port


def _single_address(address):
    return address + ("/128" if ":" in address else "/32")


def gitlab_internal_port(external_url):
    """The port nginx listens on inside the container: the external URL's, else 80 or 443."""
    scheme, port = _split(external_url)
    return port if port is not None else (443 if scheme == "https" else 80)


def gitlab_published_ports(external_url, bind_address, http_port, https_port, ssh_port, registry_port,
                           registry_enabled=False):
    """Docker port specifications: the external URL's scheme on its host port (https_port or
    http_port) to nginx's port; with https on another port than 80, http_port to 80 as well
    (omnibus redirects it); SSH to 22; the registry's port when it is enabled."""
    scheme, _port = _split(external_url)
    internal = gitlab_internal_port(external_url)
    host = _host(bind_address)
    ports = ["%s:%s:%s" % (host, https_port if scheme == "https" else http_port, internal)]
    if scheme == "https" and int(internal) != 80:
        ports.append("%s:%s:80" % (host, http_port))
    ports.append("%s:%s:22" % (host, ssh_port))
    if registry_enabled:
        ports.append("%s:%s:%s" % (host, registry_port, registry_port))
    return ports


def gitlab_local_url(probe_host, scheme, port):
    """``scheme://host:port`` of GitLab as its own host reaches it."""
    if scheme not in ("http", "https"):
        raise AnsibleFilterError("gitlab_local_url: the scheme must be http or https, got %r" % (scheme,))
    return "%s://%s:%s" % (scheme, _host(probe_host), port)


def gitlab_whitelist(monitoring_whitelist, gateway, probe_host):
    """gitlab_monitoring_whitelist, plus the docker network's gateway (requests through
    Docker's proxy on 127.0.0.1 come from it) and the probe address unless it is an IPv4
    loopback (the container sees those as the gateway); each once, in that order."""
    if not isinstance(monitoring_whitelist, (list, tuple)):
        raise AnsibleFilterError("gitlab_whitelist: gitlab_monitoring_whitelist must be a list, got %s"
                                 % type(monitoring_whitelist).__name__)
    entries = [to_text(e) for e in monitoring_whitelist]
    gateway, probe_host = to_text(gateway or ""), to_text(probe_host or "")
    if gateway:
        entries.append(_single_address(gateway))
    if probe_host and not _LOOPBACK_V4.match(probe_host):
        entries.append(_single_address(probe_host))
    unique = []
    for entry in entries:
        if entry not in unique:
            unique.append(entry)
    return unique


class FilterModule:
    """The gitlab role's endpoints."""

    def filters(self):
        return {
            "gitlab_internal_port": gitlab_internal_port,
            "gitlab_published_ports": gitlab_published_ports,
            "gitlab_local_url": gitlab_local_url,
            "gitlab_whitelist": gitlab_whitelist,
        }
