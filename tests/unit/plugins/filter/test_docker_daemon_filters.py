# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The docker_host role's computed values (plugins/filter/docker_daemon.py): daemon.json,
the proxy in its three styles, apt's direct hosts, the client configuration, errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.docker_daemon import (
    FilterModule,
    docker_apt_direct_hosts,
    docker_client_config,
    docker_daemon_config,
    docker_proxy_env,
)

PROXY = {"http": "http://proxy:3128", "https": "http://proxy:3129",
         "no_proxy": ["localhost", "10.0.0.0/8", "*.site", ".example.com", "registry", "a*b"]}
NO_PROXY = "localhost,10.0.0.0/8,*.site,.example.com,registry,a*b"


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"docker_daemon_config", "docker_proxy_env", "docker_apt_direct_hosts",
                                             "docker_client_config"}


def test_daemon_config_defaults_with_site_registry():
    assert docker_daemon_config("json-file", "10m", 3, True, registry="registry.site.internal:5000") == {
        "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "live-restore": True,
        "registry-mirrors": ["https://registry.site.internal:5000"]}


def test_daemon_config_every_setting():
    config = docker_daemon_config(
        "local", "20m", "5", False, data_root="/srv/docker", storage_driver="overlay2",
        default_address_pools=[{"base": "172.80.0.0/16", "size": 24}], registry="reg:5000",
        registry_mirrors=["https://reg:5000", "https://mirror"], insecure_registries=["reg:5000"])
    assert config == {
        "log-driver": "local", "log-opts": {"max-size": "20m", "max-file": "5"}, "live-restore": False,
        "data-root": "/srv/docker", "storage-driver": "overlay2",
        "default-address-pools": [{"base": "172.80.0.0/16", "size": 24}],
        # The site registry first, each mirror once.
        "registry-mirrors": ["https://reg:5000", "https://mirror"], "insecure-registries": ["reg:5000"]}


@pytest.mark.parametrize("driver", ["journald", "syslog", "none"])
def test_daemon_config_other_log_drivers_take_no_rotation(driver):
    assert docker_daemon_config(driver, "10m", 3, True) == {"log-driver": driver, "live-restore": True}


def test_daemon_config_empty_settings_left_out():
    assert docker_daemon_config("json-file", data_root="", storage_driver=None, default_address_pools=[],
                                registry=None, registry_mirrors=None, insecure_registries=[]) == {
        "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "live-restore": True}


def test_daemon_config_nvidia_runtime():
    runtime = {"nvidia": {"path": "nvidia-container-runtime", "args": []}}
    assert docker_daemon_config("journald", gpu=True)["runtimes"] == runtime
    assert "default-runtime" not in docker_daemon_config("journald", gpu=True)
    assert docker_daemon_config("journald", gpu=True, nvidia_default_runtime=True)["default-runtime"] == "nvidia"
    # Without a GPU there is no runtime to default to.
    assert docker_daemon_config("journald", gpu=False, nvidia_default_runtime=True) == {
        "log-driver": "journald", "live-restore": True}


def test_daemon_config_extra_merges_recursively_and_wins():
    config = docker_daemon_config("json-file", gpu=True, nvidia_default_runtime=True, registry="reg:5000", extra={
        "runtimes": {"runc2": {"path": "/usr/bin/runc"}}, "log-opts": {"mode": "non-blocking"},
        "default-runtime": "runc", "registry-mirrors": ["https://other"]})
    assert config["runtimes"] == {"nvidia": {"path": "nvidia-container-runtime", "args": []},
                                  "runc2": {"path": "/usr/bin/runc"}}
    assert config["log-opts"] == {"max-size": "10m", "max-file": "3", "mode": "non-blocking"}
    assert config["default-runtime"] == "runc"
    # Lists are replaced, as combine(recursive=True) replaces them.
    assert config["registry-mirrors"] == ["https://other"]


def test_daemon_config_does_not_share_the_runtime_entry():
    docker_daemon_config("json-file", gpu=True)["runtimes"]["nvidia"]["args"].append("x")
    assert docker_daemon_config("json-file", gpu=True)["runtimes"]["nvidia"]["args"] == []


@pytest.mark.parametrize("kwargs,message", [
    ({"log_driver": ""}, "docker_daemon_config: docker_host_log_driver must be a non-empty string"),
    ({"log_driver": None}, "docker_host_log_driver must be a non-empty string"),
    ({"registry_mirrors": "https://m"}, "docker_daemon_config: docker_host_registry_mirrors must be a list, got str"),
    ({"insecure_registries": "r"}, "docker_host_insecure_registries must be a list"),
    ({"default_address_pools": {"base": "x"}}, "docker_host_default_address_pools must be a list, got dict"),
    ({"extra": ["x"]}, "docker_daemon_config: docker_host_daemon_extra must be a dict, got list"),
])
def test_daemon_config_errors(kwargs, message):
    kwargs = dict({"log_driver": "json-file"}, **kwargs)
    with pytest.raises(AnsibleFilterError, match=message) as error:
        docker_daemon_config(**kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("style,names", [
    ("daemon", ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")),
    ("download", ("http_proxy", "https_proxy", "no_proxy")),
    ("client", ("httpProxy", "httpsProxy", "noProxy")),
])
def test_proxy_env_styles(style, names):
    assert docker_proxy_env(PROXY, style) == dict(zip(names, ("http://proxy:3128", "http://proxy:3129", NO_PROXY)))
    # Only what is set.
    assert docker_proxy_env({"https": "http://p:1"}, style) == {names[1]: "http://p:1"}
    assert docker_proxy_env({"no_proxy": ["localhost"], "http": ""}, style) == {names[2]: "localhost"}
    assert docker_proxy_env({}, style) == {} == docker_proxy_env(None, style)


def test_proxy_env_default_style_is_the_daemons():
    assert docker_proxy_env({"http": "http://p:1"}) == {"HTTP_PROXY": "http://p:1"}


@pytest.mark.parametrize("proxy,style,message", [
    ("http://p:1", "daemon", "docker_proxy_env: mlstack_proxy must be a dict, got str"),
    ({"no_proxy": "localhost"}, "daemon", "docker_proxy_env: mlstack_proxy.no_proxy must be a list, got str"),
    ({}, "env", "docker_proxy_env: style must be one of daemon, download, client, got 'env'"),
])
def test_proxy_env_errors(proxy, style, message):
    with pytest.raises(AnsibleFilterError, match=message):
        docker_proxy_env(proxy, style)


def test_apt_direct_hosts_exact_names_only():
    assert docker_apt_direct_hosts(PROXY) == ["localhost", "registry"]
    assert docker_apt_direct_hosts({"http": "http://p:1"}) == [] == docker_apt_direct_hosts(None)
    with pytest.raises(AnsibleFilterError, match="docker_apt_direct_hosts: mlstack_proxy.no_proxy must be a list"):
        docker_apt_direct_hosts({"no_proxy": "localhost"})


def test_client_config_sets_the_proxy_and_keeps_the_rest():
    old = {"auths": {"reg:5000": {"auth": "eDp5"}}, "proxies": {"old": {"httpProxy": "http://old"}}}
    assert docker_client_config(old, PROXY) == {"auths": {"reg:5000": {"auth": "eDp5"}}, "proxies": {"default": {
        "httpProxy": "http://proxy:3128", "httpsProxy": "http://proxy:3129", "noProxy": NO_PROXY}}}
    assert docker_client_config({}, {"https": "http://p:1"}) == {"proxies": {"default": {"httpsProxy": "http://p:1"}}}
    assert old["proxies"] == {"old": {"httpProxy": "http://old"}}


def test_client_config_without_proxy_drops_proxies():
    old = {"proxies": {"default": {"httpProxy": "http://old"}}, "detachKeys": "ctrl-e"}
    # no_proxy alone is no proxy.
    assert docker_client_config(old, {"no_proxy": ["localhost"]}) == {"detachKeys": "ctrl-e"}
    assert docker_client_config(None, {}) == {}


@pytest.mark.parametrize("old,proxy,message", [
    ("{}", {}, "docker_client_config: the current client configuration must be a dict, got str"),
    ({}, ["http://p"], "docker_client_config: mlstack_proxy must be a dict, got list"),
])
def test_client_config_errors(old, proxy, message):
    with pytest.raises(AnsibleFilterError, match=message):
        docker_client_config(old, proxy)
