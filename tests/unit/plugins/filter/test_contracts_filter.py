# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""credential_path over the real contract map of roles/common/defaults/main.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.contracts import credential_path

ROOT = Path(__file__).resolve().parents[4]


def real_map(root="/site/credentials"):
    defaults = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())
    contracts = dict(defaults["mlstack_contracts"])
    assert contracts["credentials_root"] == "{{ mlstack_credentials_dir }}"
    contracts["credentials_root"] = root
    return contracts


@pytest.mark.parametrize(
    "service,name,expected",
    [
        # The locations of earlier releases: a converged site must find its files there.
        ("postgres", "determined", "/site/credentials/postgres/determined"),
        ("object_store", "seldon.access_key", "/site/credentials/object-store/seldon.access_key"),
        ("object_store", "", "/site/credentials/object-store"),
        ("offline_registry", "pull-password", "/site/credentials/offline_registry/pull-password"),
        ("gitlab", "runner_admin_token", "/site/credentials/gitlab/runner_admin_token"),
        ("nautilus", "", "/site/credentials/nautilus"),
        ("determined", "", "/site/credentials/determined"),
        ("pachyderm", "root_token", "/site/credentials/pachyderm/root_token"),
        ("label_studio", "", "/site/credentials/label-studio"),
    ],
)
def test_paths_stay_where_they_were(service, name, expected):
    assert credential_path(real_map(), service, name) == expected


def test_trailing_slash_of_root():
    assert credential_path(real_map("/c/"), "postgres", "u") == "/c/postgres/u"


def test_unknown_service_is_named():
    with pytest.raises(AnsibleFilterError, match=r"unknown service 'object-store'.*known: .*object_store"):
        credential_path(real_map(), "object-store", "x")


@pytest.mark.parametrize("name", ["../root.secret_key", "a/b", ".."])
def test_name_must_be_a_plain_file(name):
    with pytest.raises(AnsibleFilterError, match="plain file name"):
        credential_path(real_map(), "postgres", name)


def test_fixed_files_are_enforced():
    contracts = real_map()
    contracts["credentials"] = dict(contracts["credentials"], x={"dir": "x", "files": ["a"]})
    assert credential_path(contracts, "x", "a") == "/site/credentials/x/a"
    with pytest.raises(AnsibleFilterError, match="'b' is not a file of service x"):
        credential_path(contracts, "x", "b")


def test_bad_map():
    with pytest.raises(AnsibleFilterError, match="must be mlstack_contracts"):
        credential_path({"postgres": "postgres"}, "postgres")
    contracts = real_map("")
    with pytest.raises(AnsibleFilterError, match="credentials_root"):
        credential_path(contracts, "postgres", "u")
    contracts = real_map()
    contracts["credentials"] = {"bad": {"dir": "../up"}}
    with pytest.raises(AnsibleFilterError, match="relative directory"):
        credential_path(contracts, "bad")
