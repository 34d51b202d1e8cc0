# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The label_studio role's computed values (plugins/filter/label_studio_api.py): addresses,
pip's arguments and proxy, errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.label_studio_api import (
    FilterModule,
    label_studio_listen,
    label_studio_local_url,
    label_studio_pip_args,
    label_studio_pip_env,
)


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"label_studio_listen", "label_studio_local_url", "label_studio_pip_args",
                                             "label_studio_pip_env"}


@pytest.mark.parametrize("bind,listen,url", [
    ("127.0.0.1", "127.0.0.1:8090", "http://127.0.0.1:8090"),
    ("10.64.140.12", "10.64.140.12:8090", "http://10.64.140.12:8090"),
    ("0.0.0.0", "0.0.0.0:8090", "http://127.0.0.1:8090"),
    ("::", "[::]:8090", "http://127.0.0.1:8090"),
    ("fd00::7", "[fd00::7]:8090", "http://[fd00::7]:8090"),
])
def test_addresses(bind, listen, url):
    assert label_studio_listen(bind, 8090) == listen
    assert label_studio_local_url(bind, 8090) == url


def test_pip_args():
    assert label_studio_pip_args("", False, "/var/lib/mlstack/wheels/label_studio", True) == [
        "--no-index", "--find-links", "/var/lib/mlstack/wheels/label_studio"]
    assert label_studio_pip_args("http://pypi.site.example:8080/simple", True, "/w", False) == [
        "--index-url", "http://pypi.site.example:8080/simple", "--trusted-host", "pypi.site.example"]
    assert label_studio_pip_args("https://pypi.site.example/simple", False, "/w", False) == [
        "--index-url", "https://pypi.site.example/simple"]
    # No index given: pip's own (online).
    assert label_studio_pip_args("", True, "/w", False) == []


def test_pip_args_errors():
    with pytest.raises(AnsibleFilterError, match="label_studio_wheelhouse_host_dir is empty"):
        label_studio_pip_args("", False, "", True)
    with pytest.raises(AnsibleFilterError, match="has no host name to trust"):
        label_studio_pip_args("pypi-mirror", True, "/w", False)


def test_pip_env():
    proxy = {"http": "http://proxy:3128", "https": "http://proxy:3129", "no_proxy": ["localhost", ".site"]}
    assert label_studio_pip_env(proxy) == {
        "http_proxy": "http://proxy:3128", "HTTP_PROXY": "http://proxy:3128", "https_proxy": "http://proxy:3129",
        "HTTPS_PROXY": "http://proxy:3129", "no_proxy": "localhost,.site", "NO_PROXY": "localhost,.site"}
    env = label_studio_pip_env({"https": "http://p:1"})
    assert env == {"https_proxy": "http://p:1", "HTTPS_PROXY": "http://p:1", "no_proxy": "", "NO_PROXY": ""}
    # The wheelhouse needs no network; no proxy, no environment.
    assert label_studio_pip_env(proxy, True) == {}
    assert label_studio_pip_env({}) == {} == label_studio_pip_env(None)
    with pytest.raises(AnsibleFilterError, match="mlstack_proxy must be a dict"):
        label_studio_pip_env("http://proxy:3128")
