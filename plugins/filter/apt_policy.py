# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters reading ``apt-cache policy NAME...`` (run with LC_ALL=C): which of a deb set's
packages are not installed at the wanted version, and which of some names are installed.
common's entry point `packages` asks apt once, read-only, and calls the apt module only
when something is to be installed or removed (a no-op run skips apt's cache load).
Documentation beside this file."""

from __future__ import annotations

import fnmatch
import re

from ansible.errors import AnsibleFilterError

# One block per package apt knows: "NAME:" at the start of a line, then "  Installed: V"
# ("(none)" when it is not installed) and "  Candidate: V". apt prints nothing on stdout
# for a name it does not know (N: Unable to locate package, on stderr).
_BLOCK = re.compile(r"(?m)^(\S+):\n\s+Installed: (\S+)\n\s+Candidate: (\S+)")


def _installed(policy):
    if not isinstance(policy, str):
        raise AnsibleFilterError("apt_policy: expected the stdout of apt-cache policy, got %s" % type(policy).__name__)
    return {name: (None if version == "(none)" else version) for name, version, _candidate in _BLOCK.findall(policy)}


def _split(package):
    name, _sep, version = str(package).partition("=")
    if not name:
        raise AnsibleFilterError("apt_policy: %r is not a package name" % (package,))
    return name, version


def apt_unsatisfied(packages, policy):
    """The entries of ``packages`` (``name`` or ``name=version``, apt's syntax, where the
    version may hold ``*`` globs) that are not installed, or installed at another version
    than the pin, by what ``policy`` (apt-cache policy's stdout for those names) says.
    A name apt does not know counts as not installed."""
    installed = _installed(policy)
    wanted = []
    for package in packages or []:
        name, version = _split(package)
        have = installed.get(name)
        if have is None or (version and not fnmatch.fnmatchcase(have, version)):
            wanted.append(package)
    return wanted


def apt_installed(names, policy):
    """The names (``=version`` pins ignored) that ``policy`` says are installed, in input order."""
    installed = _installed(policy)
    return [n for n in (names or []) if installed.get(_split(n)[0])]


class FilterModule:
    """mlstack.platform's filters over apt-cache policy."""

    def filters(self):
        return {"apt_unsatisfied": apt_unsatisfied, "apt_installed": apt_installed}
