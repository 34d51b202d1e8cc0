# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The bundle's format (docs/bundle-format.md, version 1): its top files, paths,
MANIFEST.json and SHA256SUMS, read and written the same way by every bundle module.

Everything here works on paths relative to the bundle directory, ``/`` separated.
Writes go to a temporary name in the same directory and are renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
import typing as t

FORMAT = 1
MANIFEST = "MANIFEST.json"
SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
DELTA = "DELTA.json"
TOP_FILES = (MANIFEST, SUMS, SIGNATURE)
KINDS = ("image", "debs", "wheels", "snap", "chart", "collection", "controller")
PER_TARGET_KINDS = ("debs", "wheels")
OCI_DIR = "images/oci"
OCI_INDEX = OCI_DIR + "/index.json"
OCI_LAYOUT = OCI_DIR + "/oci-layout"
REF_NAME = "org.opencontainers.image.ref.name"
TEMP_PREFIX = ".mlstack-tmp-"

# Names that writers use for files not yet complete (ours, curl/wget/pip/skopeo-style
# partial downloads, editor backups): a bundle never holds one (see the format doc).
_TEMP_NAME = re.compile(r"^\.mlstack-tmp-|^\.~|\.tmp$|\.part$|\.partial$|\.crdownload$|~$")
_SUM_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^([a-z]+)/([^/@\s]+)(?:@([a-z0-9][a-z0-9.-]*))?$")


class BundleError(Exception):
    """A bundle, or an input about one, that cannot be used; the message names it."""


def is_temp_name(name: str) -> bool:
    return bool(_TEMP_NAME.search(name))


def check_relpath(path: t.Any, what: str) -> str:
    """A path inside the bundle: relative, ``/`` separated, no ``.``/``..``, no newline."""
    if not isinstance(path, str) or not path:
        raise BundleError("%s: %r is not a file path" % (what, path))
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise BundleError("%s: %s is not a plain relative path inside the bundle" % (what, path))
    if "\n" in path or "\\" in path or "\r" in path:
        raise BundleError("%s: %r holds a newline or backslash (SHA256SUMS cannot list it)" % (what, path))
    return path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_bytes_sha256(path: str) -> str:
    with open(path, "rb") as stream:
        return sha256_bytes(stream.read())


def walk(root: str) -> t.Tuple[t.List[str], t.List[str]]:
    """Every file under ``root`` except the three top files (sorted), and one problem line
    per entry that cannot be in a bundle (a symbolic link, a special file, a temp file)."""
    files: t.List[str] = []
    problems: t.List[str] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(directory, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in list(dirnames):
            full = os.path.join(directory, name)
            if os.path.islink(full):
                problems.append("%s%s: a symbolic link (a bundle holds regular files only)" % (prefix, name))
                dirnames.remove(name)
            elif is_temp_name(name):
                problems.append("%s%s/: a temporary directory left by an interrupted write" % (prefix, name))
                dirnames.remove(name)
        for name in sorted(filenames):
            rel = prefix + name
            if not prefix and name in TOP_FILES:
                continue
            mode = os.lstat(os.path.join(directory, name)).st_mode
            if stat.S_ISLNK(mode):
                problems.append("%s: a symbolic link (a bundle holds regular files only)" % rel)
            elif not stat.S_ISREG(mode):
                problems.append("%s: not a regular file" % rel)
            elif is_temp_name(name):
                problems.append("%s: a temporary file left by an interrupted write or download" % rel)
            else:
                try:
                    check_relpath(rel, "bundle file")
                except BundleError as exc:
                    problems.append(str(exc))
                    continue
                files.append(rel)
    return sorted(files), problems


def load_manifest(root: str) -> t.Dict[str, t.Any]:
    """MANIFEST.json of the bundle at ``root``; a directory that is not a bundle of this
    format fails saying so."""
    if not os.path.isdir(root):
        raise BundleError("%s is not a bundle: no such directory" % root)
    return read_manifest_file(os.path.join(root, MANIFEST), root)


def read_manifest_file(path: str, what: t.Optional[str] = None) -> t.Dict[str, t.Any]:
    what = what or path
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        raise BundleError("%s is not a bundle: it has no %s" % (what, MANIFEST))
    except OSError as exc:
        raise BundleError("cannot read %s: %s" % (path, exc.strerror))
    return parse_manifest(data, path)


def parse_manifest(data: bytes, path: str) -> t.Dict[str, t.Any]:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError("%s is not a bundle manifest: %s" % (path, exc))
    if not isinstance(manifest, dict) or "format" not in manifest:
        raise BundleError("%s is not a bundle manifest: no \"format\" field" % path)
    if manifest["format"] != FORMAT:
        raise BundleError("%s has bundle format %r; this collection reads format %d"
                          % (path, manifest["format"], FORMAT))
    if not isinstance(manifest.get("artifacts"), list) or not isinstance(manifest.get("files"), dict):
        raise BundleError("%s is not a bundle manifest: \"artifacts\" must be a list and \"files\" a map" % path)
    for rel, entry in manifest["files"].items():
        check_relpath(rel, path)
        if not isinstance(entry, dict) or not isinstance(entry.get("size"), int) \
                or not _HEX.match(str(entry.get("sha256", ""))):
            raise BundleError("%s: files entry %s needs an integer size and a sha256" % (path, rel))
    return manifest


def render_manifest(manifest: t.Dict[str, t.Any]) -> bytes:
    """The one serialisation of MANIFEST.json, so that equal content is equal bytes."""
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def render_sums(sums: t.Dict[str, str]) -> bytes:
    """SHA256SUMS as ``sha256sum`` writes it, sorted by path."""
    return "".join("%s  %s\n" % (sums[path], path) for path in sorted(sums)).encode("utf-8")


def parse_sums(data: bytes, path: str) -> t.Dict[str, str]:
    """The strict SHA256SUMS of a bundle: ``<hex>  <relative path>`` lines, each path once."""
    sums: t.Dict[str, str] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError("%s is not UTF-8 text" % path)
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SUM_LINE.match(line)
        if not match:
            raise BundleError("%s, line %d: not a \"<sha256>  <path>\" line" % (path, number))
        rel = check_relpath(match.group(2), "%s, line %d" % (path, number))
        if rel in sums:
            raise BundleError("%s, line %d: %s is listed twice" % (path, number, rel))
        sums[rel] = match.group(1)
    return sums


def read_sums(root: str) -> t.Tuple[bytes, t.Dict[str, str]]:
    path = os.path.join(root, SUMS)
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise BundleError("%s is not a sealed bundle: cannot read %s (%s)" % (root, SUMS, exc.strerror))
    return data, parse_sums(data, path)


def temp_name(path: str) -> str:
    """A temporary name beside ``path`` (same directory, hence same filesystem)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, "%s%s.%d" % (TEMP_PREFIX, name, os.getpid()))


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary name beside ``path``, flush it to disk, rename it."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_bytes(path: str) -> t.Optional[bytes]:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        return None


def split_id(artifact_id: str) -> t.Tuple[str, str, t.Optional[str]]:
    """(kind, key, target) of an artifact id ``<kind>/<key>[@<target>]``."""
    match = _ID.match(artifact_id or "")
    if not match:
        raise BundleError("artifact id %r is not <kind>/<key> or <kind>/<key>@<target>" % (artifact_id,))
    return match.group(1), match.group(2), match.group(3)


def artifacts_by_id(manifest: t.Dict[str, t.Any]) -> t.Dict[str, t.Dict[str, t.Any]]:
    return {artifact.get("id"): artifact for artifact in manifest["artifacts"] if isinstance(artifact, dict)}


def human_size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024
    return "%d B" % count


def problems_heading(count: int) -> str:
    return "%d problem%s" % (count, "" if count == 1 else "s")
