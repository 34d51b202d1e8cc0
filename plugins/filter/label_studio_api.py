# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the label_studio role computes: the addresses it listens on and talks to, pip's
arguments and proxy environment. (Projects and their S3 storages are the module
label_studio_projects' work, plugins/module_utils/_label_studio_api.py.)

Documentation of the filters is beside this file (label_studio_local_url.yml, ...).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text


def _host(address):
    address = to_text(address)
    return "[%s]" % address if ":" in address else address


def label_studio_listen(bind_address, port):
    """``address:port`` uWSGI's HTTP router listens on (an IPv6 address in brackets)."""
    return "%s:%s" % (_host(bind_address), port)


def label_studio_local_url(bind_address, port):
    """``http://host:port`` the role reaches Label Studio at from its host: the bind address,
    127.0.0.1 for every address (0.0.0.0 or ::)."""
    address = to_text(bind_address)
    return "http://%s:%s" % ("127.0.0.1" if address in ("0.0.0.0", "::") else _host(address), port)


def label_studio_pip_args(index_url, trust_index_host=False, wheelhouse_dir="", from_wheelhouse=False):
    """pip's arguments: the wheelhouse on the host only (``--no-index --find-links``), else
    the index given (``--index-url``, and ``--trusted-host`` its host name when asked)."""
    if from_wheelhouse:
        if not wheelhouse_dir:
            raise AnsibleFilterError("label_studio_pip_args: label_studio_wheelhouse_host_dir is empty")
        return ["--no-index", "--find-links", to_text(wheelhouse_dir)]
    index_url = to_text(index_url or "")
    if not index_url:
        return []
    args = ["--index-url", index_url]
    if trust_index_host:
        host = urlsplit(index_url).hostname
        if not host:
            raise AnsibleFilterError("label_studio_pip_args: label_studio_pip_index_url %r has no host name to trust" % index_url)
        args += ["--trusted-host", host]
    return args


def label_studio_pip_env(proxy, from_wheelhouse=False):
    """The proxy environment of pip (lower- and upper-case names) from mlstack_proxy; none
    when installing from the wheelhouse, which needs no network."""
    if from_wheelhouse:
        return {}
    proxy = proxy or {}
    if not isinstance(proxy, dict):
        raise AnsibleFilterError("label_studio_pip_env: mlstack_proxy must be a dict, got %s" % type(proxy).__name__)
    http, https = to_text(proxy.get("http") or ""), to_text(proxy.get("https") or "")
    env = {}
    if http:
        env.update(http_proxy=http, HTTP_PROXY=http)
    if https:
        env.update(https_proxy=https, HTTPS_PROXY=https)
    if http or https:
        no_proxy = ",".join(to_text(n) for n in proxy.get("no_proxy") or [])
        env.update(no_proxy=no_proxy, NO_PROXY=no_proxy)
    return env


class FilterModule:
    """The label_studio role's computed values."""

    def filters(self):
        return {
            "label_studio_listen": label_studio_listen,
            "label_studio_local_url": label_studio_local_url,
            "label_studio_pip_args": label_studio_pip_args,
            "label_studio_pip_env": label_studio_pip_env,
        }
