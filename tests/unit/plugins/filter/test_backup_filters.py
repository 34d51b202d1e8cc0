# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The filters of backup.yml and restore.yml."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter import backup

# pg_dumpall --globals-only of PostgreSQL 15 as the lab's server writes it (hashes shortened).
GLOBALS = """--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE labelstudio;
ALTER ROLE labelstudio WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc=$def=:ghi=';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
CREATE ROLE "Reporting Team";
ALTER ROLE "Reporting Team" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'it''s';
GRANT "Reporting Team" TO labelstudio GRANTED BY postgres;
"""


def test_globals_lose_every_password_and_the_superuser():
    sql = backup.pg_globals_for_restore(GLOBALS)
    assert "PASSWORD" not in sql
    assert "SCRAM" not in sql
    assert "ROLE postgres" not in sql
    assert ("ALTER ROLE labelstudio WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;"
            in sql.splitlines())
    assert 'GRANT "Reporting Team" TO labelstudio GRANTED BY postgres;' in sql


def test_globals_create_roles_that_may_exist():
    lines = backup.pg_globals_for_restore(GLOBALS).splitlines()
    assert ("DO $mlstack$ BEGIN CREATE ROLE labelstudio; EXCEPTION WHEN duplicate_object THEN NULL; END $mlstack$;"
            in lines)
    assert any(line.startswith('DO $mlstack$ BEGIN CREATE ROLE "Reporting Team";') for line in lines)
    assert "CREATE ROLE labelstudio;" not in lines


def test_sums_read_text_and_binary_mode_lines():
    text = "%s  postgres/labelstudio.dump\n%s *MANIFEST.json\n\n" % ("a" * 64, "b" * 64)
    assert backup.backup_sums(text) == {"postgres/labelstudio.dump": "a" * 64, "MANIFEST.json": "b" * 64}


@pytest.mark.parametrize("line, message", [
    ("nonsense", "line 1 is not"),
    ("%s  /etc/passwd" % ("a" * 64), "outside the backup: /etc/passwd"),
    ("%s  postgres/../../x" % ("a" * 64), "outside the backup"),
])
def test_sums_refuse_bad_lines(line, message):
    with pytest.raises(AnsibleFilterError, match=message):
        backup.backup_sums(line)


def test_manifest_files_are_relative_and_sorted():
    stats = [{"path": "/b/run/x/z.tar", "size": 3}, {"path": "/b/run/a.sql", "size": 1}]
    assert backup.backup_manifest_files(stats, "/b/run/") == [{"path": "a.sql", "size": 1}, {"path": "x/z.tar", "size": 3}]
    with pytest.raises(AnsibleFilterError, match="not in /b/run/"):
        backup.backup_manifest_files([{"path": "/elsewhere", "size": 1}], "/b/run")


def test_mismatches_name_each_file_that_differs():
    sums = {"a": "1" * 64, "b": "2" * 64}
    results = [{"item": "a", "stat": {"checksum": "1" * 64}}, {"item": "b", "stat": {"checksum": "3" * 64}},
               {"item": "c", "stat": {}}]
    assert backup.backup_mismatches(results, sums) == [
        "b (sha256 %s, SHA256SUMS %s)" % ("3" * 64, "2" * 64), "c (sha256 unreadable, SHA256SUMS none)"]
