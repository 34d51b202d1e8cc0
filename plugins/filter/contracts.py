# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""credential_path: a credentials path of the cross-role contract map (mlstack_contracts)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def credential_path(contracts, service, name=""):
    """<credentials_root>/<dir of service>[/<name>] from the contract map, or a clear error."""
    if not isinstance(contracts, dict) or "credentials" not in contracts or "credentials_root" not in contracts:
        raise AnsibleFilterError("credential_path: the input must be mlstack_contracts (a dict with credentials_root and credentials)")
    services = contracts["credentials"]
    if service not in services:
        raise AnsibleFilterError(
            "credential_path: unknown service %r in mlstack_contracts.credentials (known: %s)"
            % (service, ", ".join(sorted(services)))
        )
    entry = services[service]
    subdir = str(entry.get("dir", ""))
    if not subdir or subdir.startswith("/") or ".." in subdir.split("/"):
        raise AnsibleFilterError("credential_path: mlstack_contracts.credentials.%s.dir must be a relative directory, got %r" % (service, subdir))
    root = str(contracts["credentials_root"]).rstrip("/")
    if not root:
        raise AnsibleFilterError("credential_path: mlstack_contracts.credentials_root (mlstack_credentials_dir) is empty")
    path = root + "/" + subdir
    if name in (None, ""):
        return path
    name = str(name)
    if "/" in name or name in (".", ".."):
        raise AnsibleFilterError("credential_path: file name %r of service %s must be a plain file name" % (name, service))
    files = entry.get("files") or []
    if files and name not in files:
        raise AnsibleFilterError(
            "credential_path: %r is not a file of service %s (its files: %s)" % (name, service, ", ".join(files))
        )
    return path + "/" + name


class FilterModule:
    """mlstack.platform's cross-role contract filters."""

    def filters(self):
        return {"credential_path": credential_path}
