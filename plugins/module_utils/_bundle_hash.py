# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""SHA-256 of many bundle files: streamed, several files at once, and a cache so that
sealing an unchanged bundle again reads no file.

hashlib releases the GIL while it hashes a large buffer and so does ``readinto``, so a
few threads keep the disk and every core busy; a file is never held in memory.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import time
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import atomic_write, sha256_bytes

BUFFER_SIZE = 4 * 1024 * 1024
CACHE_VERSION = 1


def stream_sha256(path: str, buffer: t.Optional[bytearray] = None) -> t.Tuple[str, int]:
    """(hex SHA-256, bytes read) of a file read in large chunks into one reused buffer."""
    digest = hashlib.sha256()
    buffer = buffer if buffer is not None else bytearray(BUFFER_SIZE)
    view = memoryview(buffer)
    total = 0
    with open(path, "rb", buffering=0) as stream:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while True:
            count = stream.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
            total += count
    return digest.hexdigest(), total


class HashResult:
    """Digests of a set of files, what could not be read, and what it cost."""

    def __init__(self) -> None:
        self.digests: t.Dict[str, str] = {}
        self.errors: t.Dict[str, str] = {}
        self.bytes_read = 0
        self.files_read = 0
        self.seconds = 0.0

    @property
    def throughput(self) -> float:
        """MB/s (10^6 bytes) of what was read."""
        return self.bytes_read / self.seconds / 1e6 if self.seconds > 0 else 0.0


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def hash_files(root: str, paths: t.Iterable[str], workers: int = 0) -> HashResult:
    """Hash ``paths`` (relative to ``root``), largest first so that threads finish together."""
    result = HashResult()
    started = time.monotonic()
    sized = []
    for rel in paths:
        try:
            sized.append((os.stat(os.path.join(root, rel)).st_size, rel))
        except OSError as exc:
            result.errors[rel] = exc.strerror or str(exc)
    sized.sort(reverse=True)
    workers = workers or default_workers()

    def one(rel: str) -> t.Tuple[str, t.Optional[str], int, t.Optional[str]]:
        try:
            digest, count = stream_sha256(os.path.join(root, rel))
            return rel, digest, count, None
        except OSError as exc:
            return rel, None, 0, exc.strerror or str(exc)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for rel, digest, count, error in pool.map(one, [rel for _size, rel in sized]):
            if error is not None:
                result.errors[rel] = error
            else:
                result.digests[rel] = t.cast(str, digest)
                result.bytes_read += count
                result.files_read += 1
    result.seconds = time.monotonic() - started
    return result


class HashCache:
    """Digests of one bundle's files keyed by (path, size, mtime_ns, inode), in a JSON
    file outside the bundle. A file rewritten in any way gets a new mtime (or inode) and
    is hashed again."""

    def __init__(self, cache_dir: t.Optional[str], root: str) -> None:
        self.root = os.path.realpath(root)
        self.path: t.Optional[str] = None
        self.entries: t.Dict[str, t.List[t.Any]] = {}
        # What hash() read from disk (not from the cache) in this process: {path: [size,
        # mtime_ns, inode, sha256]}, the stat taken before the read.
        self.read_now: t.Dict[str, t.List[t.Any]] = {}
        self.dirty = False
        if cache_dir:
            cache_dir = os.path.realpath(os.path.expanduser(cache_dir))
            self.path = os.path.join(cache_dir, "bundle-sha256", sha256_bytes(self.root.encode())[:24] + ".json")
            self._load()

    def _load(self) -> None:
        try:
            with open(t.cast(str, self.path), encoding="utf-8") as stream:
                data = json.load(stream)
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION and data.get("root") == self.root:
            self.entries = {key: value for key, value in data.get("files", {}).items()
                            if isinstance(value, list) and len(value) == 4}

    @staticmethod
    def _key(info: os.stat_result) -> t.List[t.Any]:
        return [info.st_size, info.st_mtime_ns, info.st_ino]

    def lookup(self, rel: str) -> t.Optional[str]:
        try:
            info = os.stat(os.path.join(self.root, rel))
        except OSError:
            return None
        entry = self.entries.get(rel)
        if entry and entry[:3] == self._key(info):
            return t.cast(str, entry[3])
        return None

    def store(self, rel: str, digest: str, info: os.stat_result) -> None:
        self.entries[rel] = self._key(info) + [digest]
        self.dirty = True

    def hash(self, paths: t.Sequence[str], workers: int = 0) -> HashResult:
        """Digests of ``paths``: from the cache where the file is unchanged, else read.
        The stat is taken before reading, so a file changed while it is read is read
        again next time."""
        cached: t.Dict[str, str] = {}
        todo: t.List[str] = []
        stats: t.Dict[str, os.stat_result] = {}
        for rel in paths:
            digest = self.lookup(rel)
            if digest is not None:
                cached[rel] = digest
            else:
                todo.append(rel)
                try:
                    stats[rel] = os.stat(os.path.join(self.root, rel))
                except OSError:
                    pass
        result = hash_files(self.root, todo, workers)
        for rel, digest in result.digests.items():
            if rel in stats:
                self.store(rel, digest, stats[rel])
                self.read_now[rel] = self._key(stats[rel]) + [digest]
        result.digests.update(cached)
        known = set(paths)
        for rel in [rel for rel in self.entries if rel not in known]:
            del self.entries[rel]
            self.dirty = True
        return result

    def known_now(self) -> t.Dict[str, t.Tuple[t.List[t.Any], str]]:
        """What this process read itself: {path: ([size, mtime_ns, inode], sha256)}, for a
        verification in the same run that need not read those files a second time."""
        return {rel: (entry[:3], entry[3]) for rel, entry in self.read_now.items()}

    def save(self) -> None:
        if not self.path or not self.dirty:
            return
        if self.path.startswith(self.root + os.sep):
            return  # never write into the bundle itself
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        data = {"version": CACHE_VERSION, "root": self.root, "files": self.entries}
        atomic_write(self.path, json.dumps(data, sort_keys=True).encode(), mode=0o600)
        self.dirty = False
