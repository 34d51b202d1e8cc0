# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The health report of playbooks/verify.yml (docs/operations.md, "Health report"): one
record per check, ``{host, service, endpoint, check, ok, detail}``, never a secret; the
report (sorted records and a summary), its table and the list of failed checks.

Documentation of the filters is beside this file (health_*.yml).
"""

from __future__ import annotations

import re
import typing as t

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mlstack.platform.plugins.module_utils import _runner_toml

FIELDS = ("host", "service", "endpoint", "check", "ok", "detail")

# What a secret looks like in a line of text. The platform's generated secrets are runs of
# 20 to 64 letters and digits mixing upper case, lower case and digits (passwords, S3 secret
# keys) or 20 upper-case letters and digits (S3 access keys); GitLab tokens carry a glrt-,
# glpat- or GR1348941 prefix; PEM blocks their BEGIN line; URLs may carry user:password@;
# and "password=...", "token: ..." spell a value out. Hex digests, versions, paths and
# names match none of these.
_SECRET_PATTERNS = (
    ("a PEM block", re.compile(r"-----BEGIN [A-Z ]+-----")),
    ("a GitLab token", re.compile(r"\b(?:glrt|glpat|gldt|glptt|glrtr)-[A-Za-z0-9_-]{8,}|\bGR1348941[A-Za-z0-9_-]{8,}")),
    ("credentials in a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I)),
    ("a key=value secret", re.compile(
        r"\b(?:password|passwd|secret(?:_key)?|token|access_key|api_key|private_key)\s*[=:]\s*[^\s,;)]{4,}", re.I)),
    ("an S3 access key", re.compile(r"(?<![A-Za-z0-9])(?=[A-Z0-9]{20}(?![A-Za-z0-9]))(?=[A-Z0-9]*[0-9])(?=[A-Z0-9]*[A-Z])[A-Z0-9]{20}")),
)
_MIXED_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{20,}(?![A-Za-z0-9])")


def _secret_reason(text: str) -> t.Optional[str]:
    """Why ``text`` looks like it holds a secret, or None."""
    for reason, pattern in _SECRET_PATTERNS:
        if pattern.search(text):
            return reason
    for run in _MIXED_RUN.findall(text):
        if re.search(r"[a-z]", run) and re.search(r"[A-Z]", run) and re.search(r"[0-9]", run):
            return "a generated password or key (a long run of mixed letters and digits)"
    return None


def _text_field(name: str, value: t.Any, check: str, required: bool = True) -> str:
    if value is None:
        value = ""
    if isinstance(value, (dict, list, tuple, set, bool)):
        raise AnsibleFilterError("health_record: %s of check %r must be text, got %s"
                                 % (name, check, type(value).__name__))
    text = " ".join(to_text(value).split())
    if required and not text:
        raise AnsibleFilterError("health_record: check %r has no %s" % (check, name))
    reason = _secret_reason(text)
    if reason:
        # Never repeat the value: the message itself would leak it.
        raise AnsibleFilterError("health_record: the %s of check %r looks like it holds a secret (%s);"
                                 " records carry status codes and names only" % (name, check, reason))
    return text


def _ok(value: t.Any, check: str) -> bool:
    if isinstance(value, bool):
        return value
    text = to_text(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0", ""):
        return False
    raise AnsibleFilterError("health_record: ok of check %r must be a boolean, got %r" % (check, value))


def health_record(check, host=None, service=None, endpoint="", ok=None, detail=""):
    """One check's record, every field validated: text without anything that looks like a
    secret, ``ok`` a boolean."""
    name = _text_field("check", check, "?")
    if ok is None:
        raise AnsibleFilterError("health_record: check %r has no ok" % name)
    return {
        "host": _text_field("host", host, name),
        "service": _text_field("service", service, name),
        "endpoint": _text_field("endpoint", endpoint, name, required=False),
        "check": name,
        "ok": _ok(ok, name),
        "detail": _text_field("detail", detail, name, required=False),
    }


def _records(records) -> t.List[t.Dict[str, t.Any]]:
    """Re-validate records (they may come from several hosts' facts) and sort them."""
    if not isinstance(records, (list, tuple)):
        raise AnsibleFilterError("health: expected a list of records, got %s" % type(records).__name__)
    out = []
    for record in records:
        if not isinstance(record, dict) or set(record) != set(FIELDS):
            raise AnsibleFilterError("health: a record must have exactly the keys %s, got %r"
                                     % (", ".join(FIELDS), sorted(record) if isinstance(record, dict) else record))
        out.append(health_record(record["check"], record["host"], record["service"], record["endpoint"],
                                 record["ok"], record["detail"]))
    return sorted(out, key=lambda r: (r["host"], r["service"], r["check"], r["endpoint"]))


def health_unreached(records, expected):
    """A failed record for every ``{host, service}`` of ``expected`` that has no record at all:
    the host was unreachable or failed before its checks ran."""
    seen = {(r.get("host"), r.get("service")) for r in records or [] if isinstance(r, dict)}
    out = []
    for item in expected or []:
        key = (item.get("host"), item.get("service"))
        if key not in seen:
            seen.add(key)
            out.append(health_record("host reached and its checks ran", key[0], key[1], "", False,
                                     "no check ran: the host was unreachable or failed before the checks"))
    return out


def health_summary(records, time=""):
    """``{checks, passed, failed, time}`` of the records."""
    records = _records(records)
    passed = sum(1 for r in records if r["ok"])
    return {"checks": len(records), "passed": passed, "failed": len(records) - passed, "time": to_text(time)}


def health_report(records, time=""):
    """The report verify.yml writes: ``{summary, checks}`` with the records sorted by host,
    service, check."""
    return {"summary": health_summary(records, time), "checks": _records(records)}


def health_table(records):
    """One aligned line per check: host, service, check, ok or FAILED, detail."""
    records = _records(records)
    rows = [(r["host"], r["service"], r["check"], "ok" if r["ok"] else "FAILED", r["detail"]) for r in records]
    header = ("HOST", "SERVICE", "CHECK", "RESULT", "DETAIL")
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(4)]
    return ["  ".join([cell.ljust(widths[i]) for i, cell in enumerate(row[:4])] + [row[4]]).rstrip()
            for row in [header] + rows]


def health_failures(records):
    """One line per failed check: ``host service: check (endpoint): detail``."""
    lines = []
    for r in _records(records):
        if not r["ok"]:
            where = " (%s)" % r["endpoint"] if r["endpoint"] else ""
            lines.append("%s %s: %s%s: %s" % (r["host"], r["service"], r["check"], where, r["detail"] or "failed"))
    return lines


def health_runner_tokens(config_text):
    """``[{name, url, token}]`` of the ``[[runners]]`` of a gitlab-runner config.toml (read with
    the collection's TOML reader). SECRET: only no_log tasks may use the result."""
    try:
        document = _runner_toml.loads(to_text(config_text or ""))
    except _runner_toml.TomlError as exc:
        raise AnsibleFilterError("health_runner_tokens: config.toml is not TOML: %s" % exc)
    runners = document.get("runners") or []
    if not isinstance(runners, list):
        raise AnsibleFilterError("health_runner_tokens: config.toml's runners is not an array of tables")
    return [{"name": to_text(r.get("name") or ""), "url": to_text(r.get("url") or ""),
             "token": to_text(r.get("token") or "")} for r in runners if isinstance(r, dict)]


class FilterModule:
    """mlstack.platform's health report filters."""

    def filters(self):
        return {
            "health_record": health_record,
            "health_unreached": health_unreached,
            "health_summary": health_summary,
            "health_report": health_report,
            "health_table": health_table,
            "health_failures": health_failures,
            "health_runner_tokens": health_runner_tokens,
        }
