# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the postgres role computes from ``postgres_databases``: the entries with their
defaults filled in and without passwords, the owners' given passwords, every CIDR its
pg_hba rules use, and the port the running server listens on (from postmaster.pid).

Documentation of the filters is beside this file (postgres_databases.yml, ...).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# The keys of an entry the role reads, with their defaults (owner: the entry's name).
DEFAULT_ENCODING = "UTF8"


def _entries(databases, filter_name):
    if databases is None:
        return []
    if not isinstance(databases, (list, tuple)):
        raise AnsibleFilterError("%s: postgres_databases must be a list, got %s" % (filter_name, type(databases).__name__))
    for index, db in enumerate(databases):
        if not isinstance(db, dict) or not db.get("name"):
            # No repr of the entry: it may hold a password.
            raise AnsibleFilterError("%s: postgres_databases[%d] needs a name" % (filter_name, index))
    return databases


def _list(value, default, what):
    if not value:
        return list(default)
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError("postgres_databases: %s must be a list, got %s" % (what, type(value).__name__))
    return list(value)


def postgres_databases(databases, allowed_cidrs):
    """Each entry as {name, owner, extensions, allowed_cidrs, encoding}, an empty or
    missing value replaced by its default (owner: the name; allowed_cidrs: ``allowed_cidrs``,
    i.e. postgres_hba_allowed_cidrs; encoding UTF8); the password left out, so that loops over
    the list never show one."""
    result = []
    for index, db in enumerate(_entries(databases, "postgres_databases")):
        name = to_text(db["name"])
        where = "postgres_databases[%d] (%s)" % (index, name)
        result.append({
            "name": name,
            "owner": to_text(db.get("owner") or name),
            "extensions": _list(db.get("extensions"), [], where + ".extensions"),
            "allowed_cidrs": _list(db.get("allowed_cidrs"), allowed_cidrs or [], where + ".allowed_cidrs"),
            "encoding": to_text(db.get("encoding") or DEFAULT_ENCODING),
        })
    return result


def postgres_given_passwords(databases):
    """{owner: password} of the entries that give a password (a later entry of the same
    owner wins)."""
    given = {}
    for db in _entries(databases, "postgres_given_passwords"):
        password = db.get("password")
        if password:
            given[to_text(db.get("owner") or db["name"])] = password
    return given


def postgres_all_cidrs(allowed_cidrs, databases, extra_rules=None):
    """Every CIDR the allowlist rules use: ``allowed_cidrs`` (postgres_hba_allowed_cidrs),
    each database's (as postgres_databases gives them) and the address of each extra rule
    that has one; in that order, repeats kept."""
    cidrs = list(allowed_cidrs or [])
    for db in databases or []:
        cidrs += list(db.get("allowed_cidrs") or [])
    for index, rule in enumerate(extra_rules or []):
        if not isinstance(rule, dict):
            raise AnsibleFilterError("postgres_all_cidrs: postgres_hba_extra_rules[%d] must be a dict" % index)
        if "address" in rule:
            cidrs.append(rule["address"])
    return cidrs


def postgres_live_port(postmaster_pid, port):
    """The port of line 4 of postmaster.pid (its text), else ``port``: the port the running
    server listens on differs from postgres_port until a restart applies a change."""
    lines = to_text(postmaster_pid or "").splitlines()
    try:
        live = int(lines[3].strip()) if len(lines) > 3 else 0
    except ValueError:
        live = 0
    return live or int(port)


class FilterModule:
    """The postgres role's computed values."""

    def filters(self):
        return {
            "postgres_databases": postgres_databases,
            "postgres_given_passwords": postgres_given_passwords,
            "postgres_all_cidrs": postgres_all_cidrs,
            "postgres_live_port": postgres_live_port,
        }
