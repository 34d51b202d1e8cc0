# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The gitlab role's endpoints (plugins/filter/gitlab_endpoints.py): the lab_multi site's
GitLab (http on 8929), https with and without a port, IPv6 bind addresses, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.gitlab_endpoints import (
    FilterModule,
    gitlab_internal_port,
    gitlab_local_url,
    gitlab_published_ports,
    gitlab_whitelist,
)

ROOT = Path(__file__).resolve().parents[4]
DEFAULT_WHITELIST = yaml.safe_load((ROOT / "roles/gitlab/defaults/main.yml").read_text())["gitlab_monitoring_whitelist"]


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"gitlab_internal_port", "gitlab_published_ports", "gitlab_local_url",
                                             "gitlab_whitelist"}


@pytest.mark.parametrize("url,port", [
    ("http://mlstack-lab-m2:8929", 8929), ("http://192.0.2.40", 80), ("https://gitlab.site.example", 443),
    ("https://gitlab.site.example:8443/", 8443), ("http://gitlab.site.example:443", 443),
])
def test_internal_port(url, port):
    assert gitlab_internal_port(url) == port


@pytest.mark.parametrize("url", ["gitlab.site.example", "ftp://gitlab", "http://", "http://g:99999", ""])
def test_external_url_errors(url):
    with pytest.raises(AnsibleFilterError, match="gitlab_external_url"):
        gitlab_internal_port(url)


def test_published_ports_of_the_lab_multi_gitlab():
    # lab_multi: http://mlstack-lab-m2:8929, so gitlab_http_port is 8929 too.
    assert gitlab_published_ports("http://mlstack-lab-m2:8929", "10.64.140.12", 8929, 443, 2224, 5050) == [
        "10.64.140.12:8929:8929", "10.64.140.12:2224:22"]


def test_published_ports_of_https():
    # https on 443 inside: http is published to 80 as well (omnibus redirects it) ...
    assert gitlab_published_ports("https://gitlab.site.example", "0.0.0.0", 80, 443, 2222, 5050, True) == [
        "0.0.0.0:443:443", "0.0.0.0:80:80", "0.0.0.0:2222:22", "0.0.0.0:5050:5050"]
    # ... and when nginx listens on 80 itself, only once.
    assert gitlab_published_ports("https://gitlab.site.example:80", "10.0.0.5", 8080, 80, 2222, 5050) == [
        "10.0.0.5:80:80", "10.0.0.5:2222:22"]


def test_published_ports_of_an_ipv6_address_in_brackets():
    # community.docker refuses an IPv6 bind address without brackets.
    ports = gitlab_published_ports("http://g", "fd00::40", 80, 443, 2222, 5050)
    assert ports == ["[fd00::40]:80:80", "[fd00::40]:2222:22"]


@pytest.mark.parametrize("host,scheme,port,url", [
    ("10.64.140.12", "http", 8929, "http://10.64.140.12:8929"),
    ("127.0.0.1", "https", 443, "https://127.0.0.1:443"),
    ("fd00::40", "http", 80, "http://[fd00::40]:80"),
])
def test_local_url(host, scheme, port, url):
    assert gitlab_local_url(host, scheme, port) == url


def test_local_url_error():
    with pytest.raises(AnsibleFilterError, match="scheme must be http or https"):
        gitlab_local_url("10.0.0.1", "ftp", 21)


def test_whitelist_of_the_defaults():
    assert gitlab_whitelist(DEFAULT_WHITELIST, "172.28.0.1", "10.64.140.12") == [
        "127.0.0.0/8", "::1/128", "172.28.0.1/32", "10.64.140.12/32"]
    # Probes from an IPv4 loopback reach the container from the gateway; no gateway, no entry.
    assert gitlab_whitelist(DEFAULT_WHITELIST, "", "127.0.0.1") == ["127.0.0.0/8", "::1/128"]
    # Given twice, listed once.
    assert gitlab_whitelist(["10.0.0.0/8", "172.28.0.1/32"], "172.28.0.1", "127.0.0.1") == ["10.0.0.0/8", "172.28.0.1/32"]


def test_whitelist_of_an_ipv6_probe_address():
    assert gitlab_whitelist([], "172.28.0.1", "fd00::40") == ["172.28.0.1/32", "fd00::40/128"]


def test_whitelist_error():
    with pytest.raises(AnsibleFilterError, match="gitlab_monitoring_whitelist must be a list"):
        gitlab_whitelist("127.0.0.0/8", "", "127.0.0.1")
