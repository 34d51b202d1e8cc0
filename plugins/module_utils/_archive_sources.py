# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Which archive files image_import reads, with their expected digests and images."""

from __future__ import annotations

import fnmatch
import os
import typing as t
from dataclasses import dataclass, field

from ansible_collections.mlstack.platform.plugins.module_utils._checksum import (
    ChecksumError,
    normalize_sha256,
    read_sha256sums,
)
from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import ArchiveError, ImageArchive
from ansible_collections.mlstack.platform.plugins.module_utils._image_ref import InvalidReference, normalize


class SourceError(Exception):
    """A wrong or missing input file; the message names it."""


@dataclass
class ArchiveSource:
    path: str
    sha256: t.Optional[str] = None
    images: t.List[str] = field(default_factory=list)  # normalized refs the archive must hold


def _directory_entries(directory: str, patterns: t.Sequence[str]) -> t.List[str]:
    names = sorted(name for name in os.listdir(directory)
                   if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns))
    files = [os.path.join(directory, name) for name in names if os.path.isfile(os.path.join(directory, name))]
    if not files:
        raise SourceError("directory %s holds no file matching %s" % (directory, ", ".join(patterns)))
    return files


def collect_sources(paths: t.Sequence[str], patterns: t.Sequence[str],
                    archives: t.Sequence[t.Dict[str, t.Any]],
                    sha256sums: t.Optional[str] = None) -> t.List[ArchiveSource]:
    """Archive files from ``paths`` (files, or directories filtered by ``patterns``) and
    ``archives`` entries (dicts with path, sha256, images), in order, each file once."""
    sources: t.Dict[str, ArchiveSource] = {}

    def add(path: str) -> ArchiveSource:
        return sources.setdefault(os.path.realpath(path), ArchiveSource(path=path))

    for path in paths:
        if os.path.isdir(path):
            for entry in _directory_entries(path, patterns):
                add(entry)
        elif os.path.exists(path):
            add(path)
        else:
            raise SourceError("image archive %s: no such file or directory" % path)
    for entry in archives:
        source = add(entry["path"])
        try:
            if entry.get("sha256"):
                source.sha256 = normalize_sha256(entry["sha256"])
            source.images.extend(normalize(ref) for ref in entry.get("images") or [])
        except (ChecksumError, InvalidReference) as exc:
            raise SourceError("image archive %s: %s" % (entry["path"], exc))
    if sha256sums:
        try:
            sums = read_sha256sums(sha256sums)
        except ChecksumError as exc:
            raise SourceError(str(exc))
        for real_path, source in sources.items():
            if source.sha256 is None:
                if real_path not in sums:
                    raise SourceError("image archive %s is not listed in %s" % (source.path, sha256sums))
                source.sha256 = sums[real_path]
    return list(sources.values())


def check_required_images(source: ArchiveSource, archive: ImageArchive) -> None:
    missing = [ref for ref in source.images if ref not in archive.refs]
    if missing:
        raise ArchiveError(source.path, "it does not contain %s (it holds: %s)"
                           % (", ".join(missing), ", ".join(archive.refs) or "untagged images only"))
