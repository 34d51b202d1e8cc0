# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters of backup.yml and restore.yml (documentation beside this file:
pg_globals_for_restore.yml, backup_sums.yml, backup_manifest_files.yml,
backup_mismatches.yml)."""

from __future__ import annotations

import re
from typing import Any, Dict, List

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

_SUPERUSER = re.compile(r'^(CREATE|ALTER) ROLE "?postgres"?( |;)')
_CREATE = re.compile(r'^CREATE ROLE ("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*);$')
_PASSWORD = re.compile(r"\s+PASSWORD\s+'(?:[^']|'')*'")
_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def pg_globals_for_restore(sql):
    """pg_dumpall --globals-only output made safe to apply to a converged server: no
    password (the site's credentials stay), nothing about the superuser ``postgres``, and
    each CREATE ROLE tolerating a role that exists (its ALTER ROLE still applies)."""
    out = []
    for line in to_text(sql).splitlines():
        if _SUPERUSER.match(line):
            continue
        created = _CREATE.match(line)
        if created:
            out.append("DO $mlstack$ BEGIN CREATE ROLE %s; EXCEPTION WHEN duplicate_object THEN NULL; END $mlstack$;"
                       % created.group(1))
            continue
        out.append(_PASSWORD.sub("", line))
    return "\n".join(out)


def backup_sums(text) -> Dict[str, str]:
    """A SHA256SUMS file (``sha256sum`` output) as {path: sha256}; a line that is not one
    fails, naming its number."""
    sums: Dict[str, str] = {}
    for number, line in enumerate(to_text(text).splitlines(), 1):
        if not line.strip():
            continue
        match = _SUMS_LINE.match(line)
        if not match:
            raise AnsibleFilterError("SHA256SUMS line %d is not '<sha256>  <path>': %r" % (number, line[:80]))
        path = match.group(2)
        if path.startswith("/") or ".." in path.split("/"):
            raise AnsibleFilterError("SHA256SUMS line %d names a path outside the backup: %s" % (number, path))
        sums[path] = match.group(1)
    return sums


def backup_manifest_files(stats, run_dir) -> List[Dict[str, Any]]:
    """MANIFEST.json's file list from stat results: path relative to the run, size."""
    root = to_text(run_dir).rstrip("/") + "/"
    out = []
    for stat in stats:
        path = to_text(stat["path"])
        if not path.startswith(root):
            raise AnsibleFilterError("backup_manifest_files: %s is not in %s" % (path, root))
        out.append({"path": path[len(root):], "size": int(stat["size"])})
    return sorted(out, key=lambda entry: entry["path"])


def backup_mismatches(results, sums) -> List[str]:
    """The files whose SHA-256 (ansible.builtin.stat results of a loop over the run's
    relative paths) is not the one SHA256SUMS gives, each as 'path (sha256 X, SHA256SUMS Y)'."""
    out = []
    for result in results:
        path = to_text(result["item"])
        got = (result.get("stat") or {}).get("checksum")
        want = sums.get(path)
        if got is None or got != want:
            out.append("%s (sha256 %s, SHA256SUMS %s)" % (path, got or "unreadable", want or "none"))
    return out


class FilterModule:
    """mlstack.platform's backup filters."""

    def filters(self):
        return {
            "pg_globals_for_restore": pg_globals_for_restore,
            "backup_sums": backup_sums,
            "backup_manifest_files": backup_manifest_files,
            "backup_mismatches": backup_mismatches,
        }
