# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The postgres role's computed values (plugins/filter/postgres_databases.py), over the
databases of the example inventories, edge cases and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.postgres_databases import (
    FilterModule,
    postgres_all_cidrs,
    postgres_databases,
    postgres_given_passwords,
    postgres_live_port,
)

ROOT = Path(__file__).resolve().parents[4]


def group_vars(inventory):
    return yaml.safe_load((ROOT / "inventories" / inventory / "group_vars/all/main.yml").read_text())


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"postgres_databases", "postgres_given_passwords", "postgres_all_cidrs",
                                             "postgres_live_port"}


def test_databases_of_the_single_node_site():
    site = group_vars("single_node")
    dbs = postgres_databases(site["postgres_databases"], ["192.0.2.10/32"])
    assert [(d["name"], d["owner"]) for d in dbs] == [("determined", "determined"), ("pachyderm", "pachyderm"),
                                                      ("pachyderm_dex", "pachyderm"), ("labelstudio", "labelstudio")]
    assert all(d["allowed_cidrs"] == ["192.0.2.10/32"] and d["encoding"] == "UTF8" and d["extensions"] == []
               for d in dbs)


@pytest.mark.parametrize("inventory", ["single_node", "multi_node", "lab", "lab_multi"])
def test_no_password_leaves_the_filter(inventory):
    site = group_vars(inventory)
    entries = [dict(d, password="from-the-vault") for d in site["postgres_databases"]]
    dbs = postgres_databases(entries, [])
    assert dbs and all(set(d) == {"name", "owner", "extensions", "allowed_cidrs", "encoding"} for d in dbs)
    assert "from-the-vault" not in repr(dbs)


def test_empty_values_take_the_defaults():
    dbs = postgres_databases([
        {"name": "gitlab", "owner": "git", "extensions": ["pg_trgm"], "allowed_cidrs": ["10.20.0.12/32"], "encoding": "SQL_ASCII"},
        {"name": "label_studio", "owner": "", "extensions": None, "allowed_cidrs": [], "encoding": ""},
    ], ["10.0.0.0/24"])
    assert dbs == [
        {"name": "gitlab", "owner": "git", "extensions": ["pg_trgm"], "allowed_cidrs": ["10.20.0.12/32"], "encoding": "SQL_ASCII"},
        {"name": "label_studio", "owner": "label_studio", "extensions": [], "allowed_cidrs": ["10.0.0.0/24"],
         "encoding": "UTF8"}]
    # The default list is copied, not shared between entries.
    dbs = postgres_databases([{"name": "a"}, {"name": "b"}], ["10.0.0.0/24"])
    assert dbs[0]["allowed_cidrs"] is not dbs[1]["allowed_cidrs"]


@pytest.mark.parametrize("empty", [[], None])
def test_no_databases(empty):
    assert postgres_databases(empty, []) == []
    assert postgres_given_passwords(empty) == {}


def test_entry_errors_name_the_entry_and_never_the_password():
    with pytest.raises(AnsibleFilterError, match=r"postgres_databases\[1\] needs a name") as err:
        postgres_databases([{"name": "a"}, {"owner": "b", "password": "s3cret"}], [])
    assert "s3cret" not in str(err.value)
    with pytest.raises(AnsibleFilterError, match=r"postgres_databases\[0\] \(a\)\.allowed_cidrs must be a list"):
        postgres_databases([{"name": "a", "allowed_cidrs": "10.0.0.0/8"}], [])
    with pytest.raises(AnsibleFilterError, match="postgres_databases must be a list"):
        postgres_given_passwords({"name": "a"})


def test_given_passwords_by_owner():
    assert postgres_given_passwords([
        {"name": "gitlab", "owner": "gitlab", "password": "one"},
        {"name": "gitlab_ci", "owner": "gitlab", "password": "two"},
        {"name": "label_studio", "owner": "", "password": "three"},
        {"name": "pachyderm", "password": ""},
        {"name": "determined"},
    ]) == {"gitlab": "two", "label_studio": "three"}


def test_all_cidrs_in_order_with_repeats():
    dbs = postgres_databases([{"name": "a", "allowed_cidrs": ["10.20.0.12/32"]}, {"name": "b"}], ["10.0.0.0/24"])
    rules = [{"type": "local", "database": "all", "user": "postgres", "method": "peer"},
             {"type": "host", "address": "192.0.2.0/24", "database": "x", "user": "y"}]
    assert postgres_all_cidrs(["10.0.0.0/24"], dbs, rules) == ["10.0.0.0/24", "10.20.0.12/32", "10.0.0.0/24",
                                                               "192.0.2.0/24"]
    assert postgres_all_cidrs([], [], []) == []
    with pytest.raises(AnsibleFilterError, match=r"postgres_hba_extra_rules\[0\] must be a dict"):
        postgres_all_cidrs([], [], ["host all all 0.0.0.0/0"])


POSTMASTER_PID = "42137\n/var/lib/postgresql/15/main\n1733222800\n5433\n/var/run/postgresql\n*\n  5433001    0\nready\n"


@pytest.mark.parametrize("text,port,live", [
    (POSTMASTER_PID, 5432, 5433),
    # No server running (no file), a file cut short, or garbage: postgres_port.
    ("", 5432, 5432),
    (None, "5434", 5434),
    ("123\n", 5432, 5432),
    ("a\nb\nc\nxyz\n", 5432, 5432),
])
def test_live_port(text, port, live):
    assert postgres_live_port(text, port) == live
