# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The nautilus role's container values (plugins/filter/nautilus_container.py), over the
role's own defaults and vars, edge cases and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter import nautilus_container
from ansible_collections.mlstack.platform.plugins.filter.docker_network import docker_network_gateway
from ansible_collections.mlstack.platform.plugins.filter.nautilus_container import (
    FilterModule,
    nautilus_pip_server,
    nautilus_published_ports,
    nautilus_volumes,
)

ROOT = Path(__file__).resolve().parents[4]
DEFAULTS = yaml.safe_load((ROOT / "roles/nautilus/defaults/main.yml").read_text())
VARS = yaml.safe_load((ROOT / "roles/nautilus/vars/main.yml").read_text())


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"nautilus_published_ports", "nautilus_volumes", "nautilus_pip_server"}


def test_published_ports_of_the_defaults():
    ports = nautilus_published_ports(VARS["_nautilus_container_ports"], DEFAULTS["nautilus_ports"], "10.0.0.11",
                                     DEFAULTS["nautilus_database_bind_address"], VARS["_nautilus_database_port"])
    # MLReef's PostgreSQL (6000) on the loopback only, the rest on the bind address.
    assert ports == ["10.0.0.11:2022:22", "10.0.0.11:80:80", "10.0.0.11:8081:8081", "10.0.0.11:5050:5050",
                     "10.0.0.11:10080:10080", "127.0.0.1:6000:6000"]


def test_published_ports_need_every_port():
    host_ports = dict(DEFAULTS["nautilus_ports"])
    del host_ports["registry"]
    with pytest.raises(AnsibleFilterError, match="nautilus_ports has no port registry"):
        nautilus_published_ports(VARS["_nautilus_container_ports"], host_ports, "0.0.0.0")
    with pytest.raises(AnsibleFilterError, match="as dicts"):
        nautilus_published_ports(VARS["_nautilus_container_ports"], [2022], "0.0.0.0")


@pytest.mark.parametrize("storage,expected", [
    ("volumes", ["mlreef-opt:/var/opt/gitlab", "mlreef-etc:/etc/gitlab", "mlreefdb-opt:/var/opt/mlreef"]),
    ("host_paths", ["/srv/mlreef/gitlab-opt:/var/opt/gitlab", "/srv/mlreef/gitlab-etc:/etc/gitlab",
                    "/srv/mlreef/mlreefdb-opt:/var/opt/mlreef"]),
])
def test_volumes_of_the_defaults(storage, expected):
    assert nautilus_volumes(VARS["_nautilus_mounts"], DEFAULTS["nautilus_" + storage], "nautilus_" + storage) == expected


def test_volumes_need_every_source():
    with pytest.raises(AnsibleFilterError, match="nautilus_host_paths has no mlreef_data"):
        nautilus_volumes(VARS["_nautilus_mounts"], {"gitlab_data": "/a", "gitlab_config": "/b", "mlreef_data": ""},
                         "nautilus_host_paths")


@pytest.mark.parametrize("info,gateway", [
    ({"exists": True, "network": {"IPAM": {"Config": [{"Subnet": "172.30.0.0/16", "Gateway": "172.30.0.1"}]}}},
     "172.30.0.1"),
    ({"exists": True, "network": {"IPAM": {"Config": [{"Subnet": "172.30.0.0/16"}]}}}, "172.17.0.1"),
    ({"exists": True, "network": {"IPAM": {"Config": None}}}, "172.17.0.1"),
    ({"exists": True, "network": {"IPAM": {"Config": []}}}, "172.17.0.1"),
    ({"exists": False}, "172.17.0.1"),
    ({"skipped": True, "changed": False}, "172.17.0.1"),
    ({}, "172.17.0.1"),
    (None, "172.17.0.1"),
])
def test_gateway(info, gateway):
    # As the nautilus role asks: Docker's default bridge when nothing is known.
    assert docker_network_gateway(info, "172.17.0.1") == gateway


def test_gateway_default_is_empty():
    # As the gitlab role asks: no gateway, no allowlist entry.
    assert docker_network_gateway({"network": {}}) == ""
    assert docker_network_gateway({"network": {"IPAM": {"Config": [{"Gateway": "172.31.0.1"}]}}}) == "172.31.0.1"


@pytest.mark.parametrize("server,expected", [
    # The default offline: the registry host's PyPI mirror, not a localhost address.
    ("http://registry1:8080", "http://registry1:8080"),
    ("http://localhost:8080/simple", "http://172.30.0.1:8080/simple"),
    ("https://localhost", "https://172.30.0.1"),
    ("127.0.1.1:3141/root/pypi", "http://172.30.0.1:3141/root/pypi"),
    ("http://127.0.0.1/", "http://172.30.0.1/"),
    # Names that only begin like localhost are other hosts.
    ("http://localhost.site:8080/simple", "http://localhost.site:8080/simple"),
    ("http://localhostx", "http://localhostx"),
    ("", ""),
])
def test_pip_server(server, expected):
    assert nautilus_pip_server(server, "172.30.0.1") == expected


def test_pip_server_needs_a_gateway_for_localhost():
    assert nautilus_pip_server("http://pypi.site", "") == "http://pypi.site"
    with pytest.raises(AnsibleFilterError, match="localhost address and the network's gateway is unknown"):
        nautilus_pip_server("http://localhost:8080", "")


def test_the_tasks_pattern_is_the_filters():
    # storage.yml reads the network exactly when the filter will rewrite PIP_SERVER.
    assert VARS["_nautilus_localhost_pattern"] == nautilus_container._LOCALHOST.pattern
