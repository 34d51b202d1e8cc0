# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A bundle cut into parts for removable media: one deterministic tar stream of the
bundle directory, cut at a size, each part and the whole stream checksummed; joined
only after every part and the whole verified, extracted beside the destination and
renamed into place."""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import (
    DELTA,
    FORMAT,
    MANIFEST,
    SIGNATURE,
    SUMS,
    TEMP_PREFIX,
    BundleError,
    atomic_write,
    check_relpath,
    load_manifest,
    parse_sums,
    read_bytes,
    render_sums,
    sha256_bytes,
    walk,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_delta import replace_dir
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_hash import BUFFER_SIZE

STREAM = "bundle.tar"
PARTS_SUMS = "PARTS.SHA256SUMS"
PARTS_INFO = "PARTS.json"
_PART = re.compile(r"^bundle\.tar\.(\d{4,})$")


def part_name(number: int) -> str:
    return "%s.%04d" % (STREAM, number)


class PartWriter:
    """A write-only stream that cuts what it is given into files of ``size`` bytes and
    hashes each part and the whole."""

    def __init__(self, directory: str, size: int) -> None:
        self.directory, self.size = directory, size
        self.parts: t.List[t.Dict[str, t.Any]] = []
        self.whole = hashlib.sha256()
        self.total = 0
        self._stream: t.Optional[t.BinaryIO] = None
        self._digest = hashlib.sha256()
        self._written = 0

    def _next(self) -> None:
        self._close_part()
        name = part_name(len(self.parts) + 1)
        self.parts.append({"name": name, "size": 0, "sha256": None})
        self._stream = open(os.path.join(self.directory, name), "wb")  # pylint: disable=consider-using-with
        self._digest, self._written = hashlib.sha256(), 0

    def _close_part(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self.parts[-1].update(size=self._written, sha256=self._digest.hexdigest())
            self._stream = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self.whole.update(view)
        self.total += len(view)
        while len(view):
            if self._stream is None or self._written == self.size:
                self._next()
            count = min(len(view), self.size - self._written)
            t.cast(t.BinaryIO, self._stream).write(view[:count])
            self._digest.update(view[:count])
            self._written += count
            view = view[count:]
        return len(data)

    def close(self) -> None:
        self._close_part()


def stream_key(root: str, size: int) -> str:
    """What the parts depend on: the signed top files and the part size (the tar stream
    is deterministic: sorted members, fixed owner, modes and times)."""
    names = (MANIFEST, SUMS, SIGNATURE, DELTA)  # a delta is cut into parts too
    parts = [str(size)] + [sha256_bytes(read_bytes(os.path.join(root, name)) or b"") for name in names]
    return sha256_bytes(" ".join(parts).encode())


def _members(root: str) -> t.List[str]:
    files, problems = walk(root)
    if problems:
        raise BundleError("cannot split %s:\n%s" % (root, "\n".join(problems)))
    for name in (MANIFEST, SUMS, SIGNATURE):
        if not os.path.isfile(os.path.join(root, name)):
            raise BundleError("cannot split %s: it is not sealed (no %s)" % (root, name))
    directories = sorted({"/".join(rel.split("/")[:depth]) for rel in files for depth in range(1, rel.count("/") + 1)})
    return [MANIFEST, SUMS, SIGNATURE] + sorted(directories + files)


def _created(manifest: t.Dict[str, t.Any]) -> int:
    try:
        return calendar.timegm(time.strptime(str(manifest.get("created")), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return 0


def split(root: str, parts_dir: str, size: int) -> t.Dict[str, t.Any]:
    """Write the parts into a temporary directory beside ``parts_dir``, rename it into place."""
    manifest = load_manifest(root)
    members = _members(root)
    mtime = _created(manifest)
    parent = os.path.dirname(os.path.abspath(parts_dir))
    temp = tempfile.mkdtemp(prefix=TEMP_PREFIX + "parts-", dir=parent)
    try:
        writer = PartWriter(temp, size)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT, bufsize=BUFFER_SIZE) as tar:
            for rel in members:
                path = os.path.join(root, rel)
                info = tarfile.TarInfo(rel)
                info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
                if os.path.isdir(path):
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    continue
                info.mode = 0o644
                with open(path, "rb") as stream:
                    info.size = os.fstat(stream.fileno()).st_size
                    tar.addfile(info, stream)
        writer.close()
        sums = {part["name"]: part["sha256"] for part in writer.parts}
        sums[STREAM] = writer.whole.hexdigest()
        atomic_write(os.path.join(temp, PARTS_SUMS), render_sums(sums))
        info_doc = {"format": FORMAT, "part_size": size, "key": stream_key(root, size),
                    "manifest_sha256": sha256_bytes(read_bytes(os.path.join(root, MANIFEST)) or b""),
                    "parts": writer.parts, "stream": {"name": STREAM, "size": writer.total, "sha256": sums[STREAM]}}
        atomic_write(os.path.join(temp, PARTS_INFO), (json.dumps(info_doc, indent=1, sort_keys=True) + "\n").encode())
        os.chmod(temp, 0o755)
        replace_dir(temp, parts_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return info_doc


def read_info(parts_dir: str) -> t.Optional[t.Dict[str, t.Any]]:
    data = read_bytes(os.path.join(parts_dir, PARTS_INFO))
    try:
        info = json.loads(data.decode("utf-8")) if data else None
    except (UnicodeDecodeError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_current(root: str, parts_dir: str, size: int) -> bool:
    """Whether ``parts_dir`` already holds the parts of this sealed bundle at this size."""
    info = read_info(parts_dir)
    if not info or info.get("key") != stream_key(root, size):
        return False
    return all(os.path.isfile(os.path.join(parts_dir, part["name"]))
               and os.path.getsize(os.path.join(parts_dir, part["name"])) == part["size"]
               for part in info.get("parts", []))


def parts_of(parts_dir: str) -> t.Tuple[t.List[str], t.Dict[str, str], t.List[str]]:
    """(part names in order, PARTS.SHA256SUMS, problems: missing and unlisted parts)."""
    path = os.path.join(parts_dir, PARTS_SUMS)
    data = read_bytes(path)
    if data is None:
        raise BundleError("%s holds no bundle parts: it has no %s" % (parts_dir, PARTS_SUMS))
    sums = parse_sums(data, path)
    if STREAM not in sums:
        raise BundleError("%s does not list the whole stream (%s)" % (path, STREAM))
    names = sorted((name for name in sums if name != STREAM), key=lambda name: int(_PART.match(name).group(1))
                   if _PART.match(name) else -1)
    problems = []
    for name in names:
        if not _PART.match(name):
            problems.append("%s: not a part name (bundle.tar.NNNN) in %s" % (name, path))
        elif not os.path.isfile(os.path.join(parts_dir, name)):
            problems.append("part %s: missing from %s" % (name, parts_dir))
    numbers = [int(_PART.match(name).group(1)) for name in names if _PART.match(name)]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append("%s: the parts are not numbered 1..%d" % (path, len(numbers)))
    for name in sorted(os.listdir(parts_dir)):
        if _PART.match(name) and name not in sums:
            problems.append("part %s: present but not listed in %s" % (name, PARTS_SUMS))
    return names, sums, problems


class PartReader:
    """The parts read in order as one stream, hashing each part and the whole."""

    def __init__(self, parts_dir: str, names: t.Sequence[str]) -> None:
        self.paths = [os.path.join(parts_dir, name) for name in names]
        self.names = list(names)
        self.digests: t.Dict[str, str] = {}
        self.whole = hashlib.sha256()
        self._index = -1
        self._stream: t.Optional[t.BinaryIO] = None
        self._digest = hashlib.sha256()

    def _advance(self) -> bool:
        if self._stream is not None:
            self._stream.close()
            self.digests[self.names[self._index]] = self._digest.hexdigest()
            self._stream = None
        self._index += 1
        if self._index >= len(self.paths):
            return False
        self._stream = open(self.paths[self._index], "rb")  # pylint: disable=consider-using-with
        self._digest = hashlib.sha256()
        return True

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else BUFFER_SIZE
        while True:
            if self._stream is None and not self._advance():
                return b""
            data = t.cast(t.BinaryIO, self._stream).read(size)
            if data:
                self._digest.update(data)
                self.whole.update(data)
                return data
            if not self._advance():
                return b""

    def drain(self) -> None:
        while self.read(BUFFER_SIZE):
            pass


def verify_parts(parts_dir: str) -> t.Tuple[t.List[str], t.Dict[str, str], t.List[str]]:
    """Hash every part and the whole; (part names, sums, problems naming each bad part)."""
    names, sums, problems = parts_of(parts_dir)
    if problems:
        return names, sums, problems
    reader = PartReader(parts_dir, names)
    reader.drain()
    for name in names:
        if reader.digests.get(name) != sums[name]:
            problems.append("part %s: damaged (sha256 %s, %s says %s)"
                            % (name, reader.digests.get(name), PARTS_SUMS, sums[name]))
    if not problems and reader.whole.hexdigest() != sums[STREAM]:
        problems.append("%s (the parts joined): sha256 %s, %s says %s"
                        % (STREAM, reader.whole.hexdigest(), PARTS_SUMS, sums[STREAM]))
    return names, sums, problems


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, temp: str) -> None:
    rel = check_relpath(member.name.rstrip("/") if member.isdir() else member.name, "member of %s" % STREAM)
    target = os.path.join(temp, rel)
    if member.isdir():
        os.makedirs(target, mode=0o755, exist_ok=True)
        return
    if not member.isreg():
        raise BundleError("%s holds %s, which is not a regular file or directory" % (STREAM, rel))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    source = t.cast(t.BinaryIO, tar.extractfile(member))
    with open(target, "wb") as stream:
        shutil.copyfileobj(source, stream, BUFFER_SIZE)
    os.chmod(target, 0o644)
    os.utime(target, (member.mtime, member.mtime))


def join(parts_dir: str, dest: str, names: t.Sequence[str], sums: t.Dict[str, str]) -> int:
    """Extract the (verified) parts beside ``dest``, check the stream again as it is read,
    and rename the result into place; the number of files extracted."""
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=TEMP_PREFIX + "join-", dir=parent)
    count = 0
    try:
        reader = PartReader(parts_dir, names)
        with tarfile.open(fileobj=reader, mode="r|", bufsize=BUFFER_SIZE) as tar:  # type: ignore[call-overload]
            for member in tar:
                _extract_member(tar, member, temp)
                count += member.isreg()
        reader.drain()
        if reader.whole.hexdigest() != sums[STREAM]:
            raise BundleError("%s: the parts changed while they were joined (sha256 %s, %s says %s)"
                              % (parts_dir, reader.whole.hexdigest(), PARTS_SUMS, sums[STREAM]))
        os.chmod(temp, 0o755)
        replace_dir(temp, dest)
    except tarfile.TarError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise BundleError("%s: the joined parts are not a tar stream: %s" % (parts_dir, exc))
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return count
