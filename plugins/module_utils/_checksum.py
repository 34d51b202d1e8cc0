# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""SHA-256 of large files: before use, or while the file streams elsewhere."""

from __future__ import annotations

import hashlib
import os
import re
import typing as t

CHUNK_SIZE = 1024 * 1024
_HEX = re.compile(r"^[0-9a-f]{64}$")
_GNU_LINE = re.compile(r"^\\?([0-9a-fA-F]{64}) [ *](.+)$")
_BSD_LINE = re.compile(r"^SHA256 \((.+)\) = ([0-9a-fA-F]{64})$")


class ChecksumError(Exception):
    """A checksum that is malformed, missing or does not match."""


def normalize_sha256(value: str) -> str:
    """Lower-case hex digest; accepts an optional ``sha256:`` prefix."""
    digest = value.strip().lower()
    if digest.startswith("sha256:"):
        digest = digest[len("sha256:"):]
    if not _HEX.match(digest):
        raise ChecksumError("%r is not a SHA-256 digest (64 hexadecimal characters)" % value)
    return digest


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks into one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while True:
            count = stream.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


class HashingReader:
    """A read-only file wrapper that hashes every byte handed out.

    It has a length and ``read`` so that HTTP clients (requests, http.client,
    urllib3) stream it with a Content-Length, and it can be iterated in chunks.
    """

    def __init__(self, path: str) -> None:
        self._stream = open(path, "rb")  # pylint: disable=consider-using-with
        self._size = os.fstat(self._stream.fileno()).st_size
        self._digest = hashlib.sha256()
        self.bytes_read = 0

    def __len__(self) -> int:
        return self._size

    def __enter__(self) -> "HashingReader":
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self.close()

    def __iter__(self) -> t.Iterator[bytes]:
        while True:
            chunk = self.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size if size and size > 0 else CHUNK_SIZE)
        self._digest.update(chunk)
        self.bytes_read += len(chunk)
        return chunk

    def drain(self) -> None:
        """Read (and hash) what the consumer left unread, e.g. tar padding."""
        while self.read(CHUNK_SIZE):
            pass

    def close(self) -> None:
        self._stream.close()

    @property
    def complete(self) -> bool:
        return self.bytes_read == self._size

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def read_sha256sums(path: str) -> t.Dict[str, str]:
    """Digests from a SHA256SUMS file (``sha256sum`` or BSD ``SHA256 (f) = h`` lines),
    keyed by the real path of each file, relative names taken from the file's directory."""
    base = os.path.dirname(os.path.abspath(path))
    sums: t.Dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ChecksumError("cannot read checksum file %s: %s" % (path, exc))
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        gnu, bsd = _GNU_LINE.match(line), _BSD_LINE.match(line)
        if gnu:
            digest, name = gnu.group(1), gnu.group(2)
        elif bsd:
            name, digest = bsd.group(1), bsd.group(2)
        else:
            raise ChecksumError("checksum file %s, line %d: not a SHA-256 checksum line" % (path, number))
        sums[os.path.realpath(os.path.join(base, name))] = digest.lower()
    return sums
