# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the docker_host role computes: daemon.json as a dict, the proxy as environment (the
daemon's, a download's, containers' through ~/.docker/config.json), the hosts apt reaches
directly, and a user's new ~/.docker/config.json.

Documentation of the filters is beside this file (docker_daemon_config.yml, ...).
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError
from ansible.utils.vars import merge_hash
from ansible.module_utils.common.text.converters import to_text

# Log drivers that take max-size and max-file.
ROTATING_LOG_DRIVERS = ("json-file", "local")
# The entry `nvidia-ctk runtime configure --runtime=docker` writes.
NVIDIA_RUNTIME = {"nvidia": {"path": "nvidia-container-runtime", "args": []}}
# The names of mlstack_proxy's http, https and no_proxy in each style.
PROXY_STYLES = {
    "daemon": ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"),
    "download": ("http_proxy", "https_proxy", "no_proxy"),
    "client": ("httpProxy", "httpsProxy", "noProxy"),
}
# no_proxy entries apt cannot express: CIDRs, wildcards (anywhere), domain suffixes (leading dot).
_NOT_A_HOST = re.compile(r"[/*]|^\.")


def _list(value, filter_name, what):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError("%s: %s must be a list, got %s" % (filter_name, what, type(value).__name__))
    return list(value)


def _dict(value, filter_name, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError("%s: %s must be a dict, got %s" % (filter_name, what, type(value).__name__))
    return value


def docker_daemon_config(log_driver, log_max_size="10m", log_max_file=3, live_restore=True, data_root="",
                         storage_driver="", default_address_pools=None, registry="", registry_mirrors=None,
                         insecure_registries=None, gpu=False, nvidia_default_runtime=False, extra=None):
    """daemon.json: the log driver (with max-size/max-file for json-file and local),
    live-restore, the settings given (data-root, storage-driver, default-address-pools,
    registry-mirrors: https://<registry> first, then the mirrors, each once;
    insecure-registries), the NVIDIA runtime with a GPU (and as default runtime when
    asked), then ``extra`` merged over it all recursively."""
    name = "docker_daemon_config"
    if not isinstance(log_driver, str) or not log_driver:
        raise AnsibleFilterError("%s: docker_host_log_driver must be a non-empty string, got %r" % (name, log_driver))
    config = {"log-driver": log_driver}
    if log_driver in ROTATING_LOG_DRIVERS:
        config["log-opts"] = {"max-size": to_text(log_max_size), "max-file": to_text(log_max_file)}
    config["live-restore"] = live_restore
    registry = to_text(registry or "")
    # Each once, in order (dict keys keep their first position).
    mirrors = list(dict.fromkeys((["https://" + registry] if registry else [])
                                 + _list(registry_mirrors, name, "docker_host_registry_mirrors")))
    optional = {
        "data-root": data_root,
        "storage-driver": storage_driver,
        "default-address-pools": _list(default_address_pools, name, "docker_host_default_address_pools"),
        "registry-mirrors": mirrors,
        "insecure-registries": _list(insecure_registries, name, "docker_host_insecure_registries"),
    }
    config.update((key, value) for key, value in optional.items() if value)
    if gpu:
        nvidia = {"runtimes": {k: dict(v, args=list(v["args"])) for k, v in NVIDIA_RUNTIME.items()}}
        if nvidia_default_runtime:
            nvidia["default-runtime"] = "nvidia"
        config = merge_hash(config, nvidia, recursive=True, list_merge="replace")
    # What combine(recursive=True) does: dicts merged key by key, lists replaced.
    return merge_hash(config, _dict(extra, name, "docker_host_daemon_extra"), recursive=True, list_merge="replace")


def _proxy(proxy, filter_name):
    proxy = _dict(proxy, filter_name, "mlstack_proxy")
    no_proxy = _list(proxy.get("no_proxy"), filter_name, "mlstack_proxy.no_proxy")
    return to_text(proxy.get("http") or ""), to_text(proxy.get("https") or ""), [to_text(n) for n in no_proxy]


def docker_proxy_env(proxy, style="daemon"):
    """mlstack_proxy as the names of ``style`` (daemon: HTTP_PROXY..., download: http_proxy...,
    client: httpProxy... of ~/.docker/config.json); only the values that are set."""
    if style not in PROXY_STYLES:
        raise AnsibleFilterError("docker_proxy_env: style must be one of %s, got %r" % (", ".join(PROXY_STYLES), style))
    http, https, no_proxy = _proxy(proxy, "docker_proxy_env")
    values = (http, https, ",".join(no_proxy))
    return {key: value for key, value in zip(PROXY_STYLES[style], values) if value}


def docker_apt_direct_hosts(proxy):
    """The no_proxy entries of mlstack_proxy apt can reach directly: exact host names only
    (no CIDR, wildcard or domain suffix)."""
    return [n for n in _proxy(proxy, "docker_apt_direct_hosts")[2] if not _NOT_A_HOST.search(n)]


def docker_client_config(old, proxy):
    """A user's ~/.docker/config.json with the proxy for containers (``proxies.default``)
    when mlstack_proxy has http or https, else without ``proxies``; the rest kept."""
    old = _dict(old, "docker_client_config", "the current client configuration")
    http, https, _no_proxy = _proxy(proxy, "docker_client_config")
    config = {key: value for key, value in old.items() if key != "proxies"}
    if http or https:
        config = dict(old, proxies={"default": docker_proxy_env(proxy, "client")})
    return config


class FilterModule:
    """The docker_host role's computed values."""

    def filters(self):
        return {
            "docker_daemon_config": docker_daemon_config,
            "docker_proxy_env": docker_proxy_env,
            "docker_apt_direct_hosts": docker_apt_direct_hosts,
            "docker_client_config": docker_client_config,
        }
