# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The site-wide preflight (DESIGN.md, "Validation"): every bad input of every host, one line each.

Pure functions over plain data; the action plugin ``site_preflight`` reads the roles'
argument specs and defaults, templates the host's variables and feeds them here.

- :func:`validate_role` checks a host's values against a role's ``main`` entry point with
  ansible-core's own validator (the one a role's argument spec validation uses), one option
  at a time so that every error belongs to one variable, and rewrites each error as
  ``<variable>: <what is wrong>``.
- :func:`undeclared` names variables that carry a role's prefix (or come close to one, or
  to a declared name) but that no role declares, with the nearest declared name.
- :func:`postgres_rules`, :func:`s3_rules`, :func:`s3_reader_rules`, :func:`registry_rules` and
  :func:`group_rules`:
  the cross-host rules (databases and allowlists, buckets and consumers, the registry's
  name, hosts whose role runs containers are docker hosts).
- :func:`proxy_rules`, :func:`cidr_rules`, :func:`target_rules`, :func:`controller_path_rules`:
  what the roles assert only when their play is reached (a bad value there would stop the
  run half-way, after earlier plays changed hosts).
- :func:`redact`: values of secret options never appear in a message.

A line is ``(host, variable, message)``; :func:`line` joins it as ``host: variable: message``.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import NoLogError

Line = Tuple[str, str, str]

SECRET_WORDS = ("password", "secret", "token", "key")
NOT_SECRET_SUFFIXES = ("file", "files", "dir", "path", "url", "length", "mode")
REDACTED = "********"
# How close (difflib ratio) a name's leading segments must come to a role's prefix, or a
# whole name to a declared one, to count as a misspelling of it.
PREFIX_CUTOFF = 0.8
NAME_CUTOFF = 0.85
SUGGEST_CUTOFF = 0.6


UNDECLARED_MODES = ("fail", "warn")


def line(item: Line) -> str:
    return "%s: %s: %s" % item


def report(errors: Iterable[Line], undeclared_lines: Iterable[Line], mode: str = "fail") -> Tuple[List[str], List[str]]:
    """The lines that fail the run and those only printed as warnings: undeclared
    variables fail with ``mode`` fail (the default), are warnings with ``warn``."""
    if mode not in UNDECLARED_MODES:
        raise ValueError("mlstack_preflight_undeclared must be fail or warn, got %r" % (mode,))
    failing = {line(item) for item in errors}
    typos = {line(item) for item in undeclared_lines}
    if mode == "fail":
        return sorted(failing | typos), []
    return sorted(failing), sorted(typos)


def is_secret_name(name: str) -> bool:
    """Named like a secret: a segment holds password, secret, token or key, and the name
    is not that of a public key or of a secret's file, path, URL or length."""
    segments = [s for s in re.split(r"[^a-z0-9]+", str(name).lower()) if s]
    if not segments or "public" in segments or segments[-1] in NOT_SECRET_SUFFIXES:
        return False
    return any(word in segment for segment in segments for word in SECRET_WORDS)


def is_secret_option(name: str, spec: Optional[Mapping[str, Any]] = None) -> bool:
    return bool((spec or {}).get("no_log")) or is_secret_name(name)


# --- secrets ---------------------------------------------------------------------------

def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def secret_values(options: Mapping[str, Any], values: Mapping[str, Any]) -> Set[str]:
    """Every scalar under an option marked no_log or named like a secret, at any depth
    (suboptions of dicts and lists of dicts, and keys a spec does not know)."""
    found: Set[str] = set()
    for name, value in (values or {}).items():
        spec = (options or {}).get(name) or {}
        if is_secret_option(name, spec):
            found.update(_leaves(value))
            continue
        sub = spec.get("options") or {}
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, Mapping):
                found.update(secret_values(sub, item))
    return {value for value in found if value}


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


# --- one role's argument spec ----------------------------------------------------------

_CHOICES = re.compile(r"^value of (?P<opt>.+?) must be one of: (?P<choices>.*), got: (?P<got>.*?)"
                      r"(?: found in (?P<ctx>.+))?$", re.S)
_CHOICES_LIST = re.compile(r"^value of (?P<opt>.+?) must be one or more of: (?P<choices>.*)\. "
                           r"Got no match for: (?P<got>.*?)(?: found in (?P<ctx>.+))?$", re.S)
_TYPE = re.compile(r"^argument '(?P<opt>[^']+)' is of type (?P<type>\S+)(?: found in '(?P<ctx>[^']*)'\.)?"
                   r" and we were unable to convert to (?P<want>\S+): (?P<why>.*)$", re.S)
_ELEMENTS = re.compile(r"^Elements value for option '(?P<opt>[^']+)'(?: found in '(?P<ctx>[^']*)')?"
                       r" is of type (?P<type>\S+) and we were unable to convert to (?P<want>\S+): (?P<why>.*)$",
                       re.S)
_REQUIRED = re.compile(r"^missing required arguments: (?P<opts>.+?)(?: found in (?P<ctx>.+))?$", re.S)
_UNSUPPORTED = re.compile(r"^(?P<path>\S+?)\. Supported parameters include: (?P<known>.*)\.$", re.S)


def _path(name: str, ctx: Optional[str], opt: str) -> str:
    """The part below the top-level variable: ``ctx`` is ``name -> sub -> ...``."""
    parts = [p.strip() for p in (ctx or "").split("->") if p.strip()]
    if parts and parts[0] == name:
        parts = parts[1:]
    if opt != name or parts:
        parts.append(opt)
    return ".".join(parts)


_BOOLEANS = re.compile(r"^The value '(?P<value>.*)' is not a valid boolean\.\s+Valid booleans include: .*$", re.S)
# What ansible-core accepts (module_utils/parsing/convert_bool.py, BOOLEANS), in a fixed order:
# its message lists a frozenset, whose order changes from one run to the next.
VALID_BOOLEANS = "yes/no, true/false, on/off, y/n, t/f, 1/0"


def _why(text: str) -> str:
    # The validator quotes the value twice: "'abc'" cannot be converted to an int.
    text = re.sub(r'^"(.*?)"( |$)', r"\1\2", text.strip())
    match = _BOOLEANS.match(text)
    if match:
        return "'%s' is not a boolean; use one of %s" % (match["value"], VALID_BOOLEANS)
    return text


def _sub(path: str, message: str) -> str:
    return "%s: %s" % (path, message) if path else message


def normalize(name: str, message: str) -> str:
    """One validator message about option ``name``, as ``what is wrong`` (without the name)."""
    match = _CHOICES.match(message)
    if match:
        return _sub(_path(name, match["ctx"], match["opt"]),
                    "must be one of %s, got %s" % (match["choices"], match["got"]))
    match = _CHOICES_LIST.match(message)
    if match:
        return _sub(_path(name, match["ctx"], match["opt"]),
                    "must be one or more of %s, got %s" % (match["choices"], match["got"]))
    match = _TYPE.match(message)
    if match:
        return _sub(_path(name, match["ctx"], match["opt"]), "must be of type %s, got %s (%s)"
                    % (match["want"], match["type"], _why(match["why"])))
    match = _ELEMENTS.match(message)
    if match:
        return _sub(_path(name, match["ctx"], match["opt"]), "items must be of type %s, got %s (%s)"
                    % (match["want"], match["type"], _why(match["why"])))
    match = _REQUIRED.match(message)
    if match:
        subs = [_path(name, match["ctx"], opt.strip()) for opt in match["opts"].split(",")]
        return "; ".join(_sub(sub, "is required but not set") for sub in subs)
    match = _UNSUPPORTED.match(message)
    if match:
        path = match["path"].split(".")
        if path and path[0] == name:
            path = path[1:]
        known = [k.strip() for k in match["known"].split(",") if k.strip()]
        near = difflib.get_close_matches(path[-1] if path else "", known, n=1, cutoff=SUGGEST_CUTOFF)
        hint = "did you mean %s? " % near[0] if near else ""
        return _sub(".".join(path[:-1]), "%s: not a known key (%sknown: %s)"
                    % (path[-1] if path else "?", hint, ", ".join(known)))
    return message


def validate_role(host: str, options: Mapping[str, Mapping[str, Any]],
                  values: Mapping[str, Any], deferred: Iterable[str] = ()) -> List[Line]:
    """Errors of ``values`` (the host's templated variables over the role's defaults)
    against ``options`` (the ``options`` of the role's ``main`` entry point).

    Each option is validated on its own with ``ArgumentSpecValidator`` (the role's own
    validation passes only ``options``, so nothing is lost), and options in ``deferred``
    (values known only once facts are gathered) are left to the role's own validation.
    """
    deferred = set(deferred)
    # Every secret of the role, so that one pasted into the wrong option is hidden as well.
    all_secrets = secret_values(options, values)
    lines: List[Line] = []
    for name in sorted(options):
        if name in deferred:
            continue
        spec = options[name] or {}
        params = {name: values[name]} if name in values else {}
        result = ArgumentSpecValidator({name: spec}).validate(params)
        errors = list(result.errors.errors)
        if len(errors) > 1:
            # A value that is not a dict is reported twice (as a type error and again
            # while listing its no_log values): keep the first.
            errors = [e for e in errors if not isinstance(e, NoLogError)] or errors[:1]
        secrets = all_secrets | {str(v) for v in result._no_log_values if v}
        seen: Set[str] = set()
        for error in errors:
            message = normalize(name, error.error_message)
            if is_secret_option(name, spec):
                message = redact(message, set(_leaves(params.get(name))))
            message = redact(message, secrets)
            if message not in seen:
                seen.add(message)
                lines.append((host, name, message))
    return lines


# --- undeclared variables (typos) ------------------------------------------------------

def prefixes(roles: Iterable[str]) -> List[str]:
    """Each role's prefix (``<role>_``) and ``mlstack_`` (common's)."""
    return sorted({"%s_" % r for r in roles} | {"mlstack_"})


def _near_prefix(name: str, known: Sequence[str]) -> Optional[str]:
    segments = name.split("_")
    for prefix in known:
        want = prefix.rstrip("_")
        count = want.count("_") + 1
        if len(segments) <= count:
            continue
        head = "_".join(segments[:count])
        if head == want or difflib.SequenceMatcher(None, head, want).ratio() >= PREFIX_CUTOFF:
            return prefix
    return None


def undeclared(host: str, names: Iterable[str], declared: Iterable[str],
               role_names: Iterable[str], ignore: Iterable[str] = ("ansible_",)) -> List[Line]:
    """Variables of the host that look like a role's but that no role declares.

    A name is looked at when its leading segments equal or come close to a role's prefix
    (``postgress_databases`` against ``postgres_``) or when the whole name comes close to a
    declared one; the nearest declared name is suggested.
    """
    declared = set(declared)
    ordered = sorted(declared)
    known = prefixes(role_names)
    lines: List[Line] = []
    for name in sorted(set(names)):
        if name in declared or any(name.startswith(p) for p in ignore):
            continue
        if not (_near_prefix(name, known) or difflib.get_close_matches(name, ordered, n=1, cutoff=NAME_CUTOFF)):
            continue
        close = difflib.get_close_matches(name, ordered, n=1, cutoff=SUGGEST_CUTOFF)
        hint = "; did you mean %s?" % close[0] if close else ""
        lines.append((host, name, "not declared by any role%s" % hint))
    return lines


# --- cross-host rules --------------------------------------------------------------------

def is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _covered(address: str, cidrs: Iterable[str]) -> Optional[bool]:
    """Whether the IP address is in one of the CIDRs; None when it is not an IP address."""
    try:
        ip = ipaddress.ip_address(str(address))
    except ValueError:
        return None
    for cidr in cidrs or []:
        try:
            if ip in ipaddress.ip_network(str(cidr), strict=False):
                return True
        except ValueError:
            continue
    return False


def postgres_consumers(defaults_by_role: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Roles that use the platform's PostgreSQL, read from their defaults: a role with a
    ``<role>_db_host`` default is a client; its databases are ``<role>_db_name`` and any
    ``<role>_db_<x>_name``, owned by ``<role>_db_user``; ``<role>_db_mode`` (when the role
    has one) must be ``postgres`` and ``<role>_enabled`` (when it has one) true."""
    consumers: Dict[str, Dict[str, Any]] = {}
    for role, defaults in sorted(defaults_by_role.items()):
        if "%s_db_host" % role not in (defaults or {}):
            continue
        pattern = re.compile(r"^%s_db_(?:[a-z0-9]+_)?name$" % re.escape(role))
        consumers[role] = {
            "host_var": "%s_db_host" % role,
            "user_var": "%s_db_user" % role,
            "name_vars": sorted(k for k in defaults if pattern.match(k)),
            "mode_var": "%s_db_mode" % role if "%s_db_mode" % role in defaults else None,
            "enabled_var": "%s_enabled" % role if "%s_enabled" % role in defaults else None,
        }
    return consumers


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def consumer_active(consumer: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    if consumer.get("enabled_var") and not truthy(values.get(consumer["enabled_var"], True)):
        return False
    if consumer.get("mode_var") and values.get(consumer["mode_var"]) != "postgres":
        return False
    return True


def postgres_rules(source_host: str, source_address: Optional[str], role: str,
                   consumer: Mapping[str, Any], values: Mapping[str, Any], runner: str,
                   server: str, server_addresses: Iterable[str],
                   server_values: Mapping[str, Any]) -> List[Line]:
    """Rules between a host whose traffic reaches PostgreSQL for ``role`` (``source_host``:
    the host the role runs on, or a node of the cluster a Helm app runs on) and the first
    host of group postgres (``server``):

    - each database the role uses is in the server's ``postgres_databases``, owned by the
      role's user (else the role's user has no database and no pg_hba line);
    - when the source is another host, its address is inside the allowlist of that
      database (its ``allowed_cidrs``, default ``postgres_hba_allowed_cidrs``).

    ``values`` are the variables of ``runner``, the host the role runs on (its
    ``<role>_db_*``); the lines name the server and its variable: that is where the fix goes.
    """
    if not consumer_active(consumer, values):
        return []
    db_host = str(values.get(consumer["host_var"]) or "")
    server_names = {server, "localhost", "127.0.0.1", "::1"} | {str(a) for a in server_addresses if a}
    if db_host and db_host not in server_names:
        return []  # the role uses another database server, not this inventory's
    user = str(values.get(consumer["user_var"]) or "")
    databases = {}
    for entry in server_values.get("postgres_databases") or []:
        if isinstance(entry, Mapping) and entry.get("name"):
            databases[str(entry["name"])] = entry
    lines: List[Line] = []
    for name_var in consumer["name_vars"]:
        database = str(values.get(name_var) or "")
        if not database:
            continue
        entry = databases.get(database)
        if entry is None:
            lines.append((server, "postgres_databases",
                          "lists no database %s (owner %s), which role %s on %s uses (%s)"
                          % (database, user, role, runner, name_var)))
            continue
        owner = str(entry.get("owner") or entry["name"])
        if user and owner != user:
            lines.append((server, "postgres_databases",
                          "database %s is owned by %s, but role %s on %s connects as %s (%s)"
                          % (database, owner, role, runner, user, consumer["user_var"])))
        if source_host == server or not source_address:
            continue
        allowed = entry.get("allowed_cidrs")
        variable = "postgres_databases" if allowed is not None else "postgres_hba_allowed_cidrs"
        cidrs = allowed if allowed is not None else server_values.get("postgres_hba_allowed_cidrs") or []
        if _covered(source_address, cidrs) is False:
            lines.append((server, variable,
                          "does not cover %s (%s), from which role %s reaches database %s"
                          % (source_host, source_address, role, database)))
    return lines


def registry_host(value: str) -> str:
    """The host part of ``host[:port]`` (``[v6]:port`` too)."""
    value = str(value or "").strip()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def registry_rules(host: str, registry: str, registry_hosts: Mapping[str, Iterable[str]]) -> List[Line]:
    """``mlstack_registry`` names a host of group registry (by name or address) when that
    group has hosts. ``registry_hosts`` maps each such host to its addresses."""
    if not registry or not registry_hosts:
        return []
    name = registry_host(registry)
    for member, addresses in registry_hosts.items():
        if name == member or name in {str(a) for a in addresses or [] if a}:
            return []
    return [(host, "mlstack_registry",
             "names %s, which is not a host of group registry (%s) nor the address of one"
             % (name, ", ".join(sorted(registry_hosts))))]


# --- values the roles check only when their play is reached ------------------------------
# (roles/common/tasks/main.yml, roles/postgres's pg_hba template, label_studio's assert.yml):
# checked here too, so that the run stops before the first host changes.

PROXY_SCHEME = re.compile(r"^https?://")


def proxy_rules(host: str, proxy: Any) -> List[Line]:
    """``mlstack_proxy.http`` and ``.https`` are empty or start with http:// or https://
    (common's own assertion, roles/common/tasks/main.yml)."""
    if not isinstance(proxy, Mapping):
        return []
    lines: List[Line] = []
    for key in ("http", "https"):
        value = proxy.get(key)
        if value and not PROXY_SCHEME.match(str(value)):
            lines.append((host, "mlstack_proxy", "%s: must be empty or start with http:// or https://, got %s"
                          % (key, value)))
    return lines


def _bad_cidrs(values: Any) -> List[str]:
    bad = []
    for value in values if isinstance(values, list) else []:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            bad.append(str(value))
    return bad


def cidr_rules(host: str, allowed_cidrs: Any, databases: Any) -> List[Line]:
    """Every entry of ``postgres_hba_allowed_cidrs`` and of each database's ``allowed_cidrs``
    is an address or a network (pg_hba.conf would refuse the whole file, and the server with it)."""
    lines = [(host, "postgres_hba_allowed_cidrs", "%s is not an address or network (e.g. 10.0.0.0/24)" % value)
             for value in _bad_cidrs(allowed_cidrs)]
    for entry in databases if isinstance(databases, list) else []:
        if isinstance(entry, Mapping):
            lines.extend((host, "postgres_databases", "%s: allowed_cidrs: %s is not an address or network "
                          "(e.g. 10.0.0.0/24)" % (entry.get("name"), value))
                         for value in _bad_cidrs(entry.get("allowed_cidrs")))
    return lines


def target_rules(host: str, target: Any, targets: Any) -> List[Line]:
    """``mlstack_target`` is a key of the manifest's targets (what the bundle is made for)."""
    if not target or not isinstance(targets, Mapping) or str(target) in targets:
        return []
    return [(host, "mlstack_target", "must be one of %s (mlstack_artifacts.targets), got %s"
             % (", ".join(sorted(targets)), target))]


# Buckets a role names inside a list of its own, besides ``<role>_s3_bucket``: the list's
# variable and, for each key of an entry that holds a storage (a mapping whose ``bucket``
# defaults to ``<role>_s3_bucket``), the access the role's consumer needs on it.
S3_STORAGE_LISTS = {
    "label_studio": ("label_studio_projects", (("s3_import", "read"), ("s3_export", "read_write"))),
}
# Roles that use a consumer's key of the store without a bucket of their own (SeldonDeployments
# name theirs in modelUri): the consumer variable, the endpoint variable and the variable of a
# key of the user's own (then the minio role's key is not read).
S3_READERS = {
    "seldon": ("seldon_model_storage_consumer", "seldon_model_storage_endpoint_url",
               "seldon_model_storage_access_key"),
}


def s3_consumers(defaults_by_role: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Roles that use the platform's S3 store, read from their defaults: a role with
    ``<role>_s3_bucket`` and ``<role>_s3_consumer`` defaults; its endpoint is
    ``<role>_s3_endpoint_url`` and ``<role>_enabled`` switches it (when it has them);
    ``storages_var`` is its list of storages on buckets of their own (S3_STORAGE_LISTS)."""
    consumers: Dict[str, Dict[str, Any]] = {}
    for role, defaults in sorted(defaults_by_role.items()):
        defaults = defaults or {}
        if "%s_s3_bucket" % role not in defaults or "%s_s3_consumer" % role not in defaults:
            continue
        storages = S3_STORAGE_LISTS.get(role)
        consumers[role] = {
            "bucket_var": "%s_s3_bucket" % role,
            "consumer_var": "%s_s3_consumer" % role,
            "endpoint_var": "%s_s3_endpoint_url" % role if "%s_s3_endpoint_url" % role in defaults else None,
            "enabled_var": "%s_enabled" % role if "%s_enabled" % role in defaults else None,
            "storages_var": storages[0] if storages and storages[0] in defaults else None,
        }
    return consumers


def _url_host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _on_this_store(endpoint: Any, server: str, server_addresses: Iterable[str]) -> bool:
    """An endpoint left empty (the store's own) or naming the store's host or an address of it."""
    if not endpoint:
        return True
    names = {server, "localhost", "127.0.0.1", "::1"} | {str(a) for a in server_addresses if a}
    return _url_host(str(endpoint)) in names


def _bucket_entries(buckets: Any) -> Dict[str, Mapping[str, Any]]:
    return {str(b["name"]): b for b in buckets if isinstance(b, Mapping) and b.get("name")} \
        if isinstance(buckets, list) else {}


def _users(entry: Mapping[str, Any], access: str) -> List[str]:
    """The consumers a bucket gives ``access`` (read_write; read: read_write or read_only)."""
    keys = ("read_write",) if access == "read_write" else ("read_write", "read_only")
    return [str(u) for k in keys for u in (entry.get(k) or []) if isinstance(entry.get(k), list)]


def _no_bucket_hint(bucket: str, entries: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(bucket, sorted(entries), n=1, cutoff=SUGGEST_CUTOFF)
    return "; did you mean %s?" % close[0] if close else ""


def _storage_rules(role: str, consumer: Mapping[str, Any], values: Mapping[str, Any], runner: str,
                   server: str, entries: Mapping[str, Mapping[str, Any]], default_bucket: str,
                   user: str) -> List[Line]:
    variable = consumer.get("storages_var")
    storages = values.get(variable) if variable else None
    if not isinstance(storages, list):
        return []
    lines: List[Line] = []
    for index, item in enumerate(storages):
        if not isinstance(item, Mapping):
            continue
        name = str(item.get("title") or "[%d]" % index)
        for key, access in S3_STORAGE_LISTS[role][1]:
            spec = item.get(key)
            if not isinstance(spec, Mapping):
                continue
            bucket = str(spec.get("bucket") or default_bucket or "")
            if not bucket or bucket == default_bucket:
                continue  # the role's own bucket: the rule on <role>_s3_bucket names it
            entry = entries.get(bucket)
            if entry is None:
                lines.append((runner, variable, "%s: %s: bucket %s is not one of minio_buckets on %s, the store "
                              "that creates the buckets%s" % (name, key, bucket, server, _no_bucket_hint(bucket, entries))))
            elif user and user not in _users(entry, access):
                lines.append((runner, variable, "%s: %s: bucket %s in minio_buckets on %s does not give %s (%s) %s"
                              % (name, key, bucket, server, user, consumer["consumer_var"],
                                 "read_write" if access == "read_write" else "read_only or read_write")))
    return lines


def s3_rules(role: str, consumer: Mapping[str, Any], values: Mapping[str, Any], runner: str,
             server: str, server_addresses: Iterable[str], buckets: Any) -> List[Line]:
    """The bucket a role uses (``<role>_s3_bucket``) is in the store's ``minio_buckets`` and
    gives the role's consumer (``<role>_s3_consumer``) read_write (the role writes: checkpoints,
    pipelines' data, annotation exports); so is each bucket its storages name (``storages_var``:
    Label Studio's projects' ``s3_import.bucket``, read access, and ``s3_export.bucket``,
    read_write). Only when the role's endpoint is this inventory's store: not set, known only
    with facts, or naming the store's host or one of its addresses."""
    if consumer.get("enabled_var") and not truthy(values.get(consumer["enabled_var"], True)):
        return []
    endpoint = values.get(consumer["endpoint_var"]) if consumer.get("endpoint_var") else None
    if not _on_this_store(endpoint, server, server_addresses):
        return []
    bucket = str(values.get(consumer["bucket_var"]) or "")
    user = str(values.get(consumer["consumer_var"]) or "")
    entries = _bucket_entries(buckets)
    lines: List[Line] = []
    entry = entries.get(bucket) if bucket else None
    if bucket and entry is None:
        lines.append((server, "minio_buckets", "lists no bucket %s, which role %s on %s uses (%s)"
                      % (bucket, role, runner, consumer["bucket_var"])))
    elif entry is not None and user and user not in _users(entry, "read_write"):
        lines.append((server, "minio_buckets", "bucket %s does not give %s read_write, which role %s on %s needs (%s)"
                      % (bucket, user, role, runner, consumer["consumer_var"])))
    return lines + _storage_rules(role, consumer, values, runner, server, entries, bucket, user)


def s3_reader_rules(role: str, values: Mapping[str, Any], runner: str, server: str,
                    server_addresses: Iterable[str], buckets: Any) -> List[Line]:
    """A role of S3_READERS (switched on by ``<role>_enabled`` where it has one) that names a
    consumer of this inventory's store, and no key of its own: the minio role makes a key only
    for a consumer some bucket of minio_buckets names."""
    consumer_var, endpoint_var, key_var = S3_READERS[role]
    if not truthy(values.get("%s_enabled" % role, True)):
        return []
    user = str(values.get(consumer_var) or "")
    if not user or values.get(key_var) or not _on_this_store(values.get(endpoint_var), server, server_addresses):
        return []
    entries = _bucket_entries(buckets)
    if any(user in _users(entry, "read") for entry in entries.values()):
        return []
    return [(runner, consumer_var, "%s is named by no bucket of minio_buckets on %s (read_only or read_write), "
             "so the minio role makes no key for it" % (user, server))]


def controller_path_rules(host: str, checks: Iterable[Tuple[str, Any, str, str]],
                          is_dir=None, is_file=None) -> List[Line]:
    """Paths on the controller that a later play reads: ``(variable, path, "dir" | "file",
    what for)``, each must exist (as a directory or a file). An empty path is a line too:
    the check is asked for only where the path is needed."""
    is_dir = is_dir or os.path.isdir
    is_file = is_file or os.path.isfile
    lines: List[Line] = []
    for variable, path, kind, why in checks:
        if not path:
            lines.append((host, variable, "must be set (%s)" % why))
        elif not (is_dir if kind == "dir" else is_file)(str(path)):
            lines.append((host, variable, "%s is not a %s on the controller (%s)"
                          % (path, "directory" if kind == "dir" else "file", why)))
    return lines


# Groups whose role runs its service as a container of the host's Docker Engine: their hosts
# must be docker hosts too (site.yml installs the engine on group docker_hosts only).
CONTAINER_GROUPS = {"registry": "offline_registry", "object_store": "minio", "gitlab": "gitlab",
                    "nautilus": "nautilus"}


def group_rules(host: str, groups: Mapping[str, Iterable[str]]) -> List[Line]:
    """A host of a group whose role runs containers is in group docker_hosts."""
    docker_hosts = set(groups.get("docker_hosts") or [])
    if host in docker_hosts:
        return []
    return [(host, "docker_hosts", "does not list this host, which is in group %s: role %s runs its service "
             "in a container of the host's Docker Engine" % (group, role))
            for group, role in sorted(CONTAINER_GROUPS.items()) if host in (groups.get(group) or [])]
