# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Image references: one canonical spelling, so that what an archive names and
what an engine reports can be compared.

Docker reports and writes references in the "familiar" form (``busybox:1``,
``mlstack-test/a:1``); containerd stores them fully qualified
(``docker.io/library/busybox:1``). :func:`normalize` turns either into the fully
qualified form, :func:`familiar` back into Docker's.
"""

from __future__ import annotations

import re
import typing as t

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DOMAINS = ("index.docker.io", "registry-1.docker.io")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]+$")


class InvalidReference(ValueError):
    """A string that is not a valid image reference."""


def _split_domain(name: str) -> t.Tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain in _LEGACY_DOMAINS:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    return domain, path


def parse(ref: str) -> t.Tuple[str, t.Optional[str], t.Optional[str]]:
    """Split ``ref`` into (fully qualified repository, tag, digest).

    A reference with neither tag nor digest gets the tag ``latest``.
    Raises InvalidReference when ``ref`` is not a valid reference.
    """
    if not ref or ref != ref.strip():
        raise InvalidReference("invalid image reference %r" % ref)
    name, dummy, digest = ref.partition("@")
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    domain, path = _split_domain(name)
    if not all(_PATH_COMPONENT.match(part) for part in path.split("/")):
        raise InvalidReference("invalid image reference %r: bad repository name" % ref)
    if tag is not None and not _TAG.match(tag):
        raise InvalidReference("invalid image reference %r: bad tag" % ref)
    if digest and not _DIGEST.match(digest):
        raise InvalidReference("invalid image reference %r: bad digest" % ref)
    if tag is None and not digest:
        tag = "latest"
    return domain + "/" + path, tag, digest or None


def normalize(ref: str) -> str:
    """The fully qualified spelling of ``ref`` (``docker.io/library/busybox:latest``)."""
    repository, tag, digest = parse(ref)
    return repository + (":" + tag if tag else "") + ("@" + digest if digest else "")


def familiar(ref: str) -> str:
    """Docker's short spelling of a normalized reference (``busybox:latest``)."""
    for prefix in (DEFAULT_DOMAIN + "/library/", DEFAULT_DOMAIN + "/"):
        if ref.startswith(prefix):
            rest = ref[len(prefix):]
            if prefix.endswith("library/") or "/" in rest.split(":")[0].split("@")[0]:
                return rest
    return ref


def looks_like_reference(name: str) -> bool:
    """True when an OCI ``ref.name`` annotation is a whole reference rather than a
    bare tag such as ``latest`` (which names no repository)."""
    if "/" not in name and ":" not in name and "@" not in name:
        return False
    try:
        parse(name)
    except InvalidReference:
        return False
    return True
