# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A release's own apt indexes, read from its mirror and verified as apt does.

For each source (uri, suites, components, keyring) and suite: ``InRelease`` is fetched
and verified with ``gpgv`` against the source's keyring (the distribution's archive
keyring, or a third-party repository's key); only the signed text gpgv hands back is
parsed. Each ``Packages`` index the Release lists is then fetched (``.xz``, else
``.gz``, else plain), its size and SHA-256 checked against the Release, and parsed.

Layouts, as sources.list(5) describes them:
* a suite with components: ``<uri>/dists/<suite>/InRelease`` and
  ``<uri>/dists/<suite>/<component>/binary-<arch>/Packages.xz``;
* a flat repository (suite ends with ``/``, e.g. ``./``, no components):
  ``<uri>/<suite>InRelease`` and ``<uri>/<suite>Packages.xz``.
Either way a package's ``Filename`` is relative to ``<uri>``.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import socket
import subprocess
import tempfile
import typing as t
from dataclasses import dataclass

from ansible.module_utils.urls import open_url

# Opens a URL and returns a file-like response; the tests pass one that reads fixtures.
Opener = t.Callable[..., t.Any]
INDEX_COMPRESSIONS = ((".xz", lzma.decompress), (".gz", gzip.decompress), ("", lambda data: data))


class AptIndexError(Exception):
    """An index that cannot be fetched, verified or read; the message names the URL."""


@dataclass(frozen=True)
class Source:
    """One suite of one apt source, as the module's ``sources`` option gives it."""

    uri: str
    suite: str
    components: t.Tuple[str, ...]
    keyring: str

    @property
    def flat(self) -> bool:
        return self.suite.endswith("/")

    @property
    def base_url(self) -> str:
        """Directory holding InRelease."""
        root = self.uri.rstrip("/")
        if self.flat:
            suite = self.suite.strip("/")
            suite = "" if suite in ("", ".") else suite + "/"
            return "%s/%s" % (root, suite)
        return "%s/dists/%s/" % (root, self.suite)

    @property
    def label(self) -> str:
        return "%s %s" % (self.uri.rstrip("/"), self.suite)

    def pool_url(self, filename: str) -> str:
        name = filename[2:] if filename.startswith("./") else filename
        return "%s/%s" % (self.uri.rstrip("/"), name.lstrip("/"))


def parse_control(text: str) -> t.Iterator[t.Dict[str, str]]:
    """Paragraphs of a deb822 control file as {lower-case field: value}; continuation
    lines are kept with their newline and leading space, so a stanza writes back as read.
    Field names keep their spelling in the key ``"\\0names"``."""
    current: t.Dict[str, str] = {}
    names: t.Dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                current["\0names"] = "\n".join(names[key] for key in current)
                yield current
            current, names, last = {}, {}, None
            continue
        if line[0] in " \t":
            if last is None:
                raise ValueError("continuation line before any field: %r" % line[:60])
            current[last] += "\n" + line
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError("not a field: %r" % line[:60])
        last = name.strip().lower()
        names[last] = name.strip()
        current[last] = value.strip()
    if current:
        current["\0names"] = "\n".join(names[key] for key in current)
        yield current


def field_names(paragraph: t.Dict[str, str]) -> t.List[str]:
    return paragraph["\0names"].split("\n")


def parse_release(text: str) -> t.Dict[str, t.Any]:
    """A Release file: its fields, and ``sha256`` as {path: (size, hex)}."""
    paragraphs = list(parse_control(text))
    if not paragraphs:
        raise ValueError("empty Release file")
    release: t.Dict[str, t.Any] = dict(paragraphs[0])
    sums: t.Dict[str, t.Tuple[int, str]] = {}
    for line in release.get("sha256", "").splitlines():
        parts = line.split()
        if len(parts) == 3:
            sums[parts[2]] = (int(parts[1]), parts[0].lower())
    release["sha256"] = sums
    return release


def fetch(url: str, opener: Opener, timeout: int) -> bytes:
    try:
        response = opener(url, timeout=timeout, follow_redirects="safe")
        try:
            return response.read()
        finally:
            response.close()
    except (OSError, socket.timeout, ValueError) as exc:  # URLError and HTTPError are OSErrors
        raise AptIndexError("cannot fetch %s: %s" % (url, getattr(exc, "reason", None) or exc))
    except Exception as exc:  # noqa: BLE001 - open_url raises its own error classes too
        raise AptIndexError("cannot fetch %s: %s" % (url, exc))


def _dearmored(keyring: str, workdir: str, gpg: str) -> str:
    """gpgv reads binary keyrings only; an ASCII-armoured key file is converted first."""
    with open(keyring, "rb") as stream:
        head = stream.read(64)
    if b"-----BEGIN PGP" not in head:
        return keyring
    out = os.path.join(workdir, "keyring.gpg")
    proc = subprocess.run([gpg, "--batch", "--yes", "--dearmor", "--output", out, keyring],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise AptIndexError("keyring %s cannot be read: %s" % (keyring, proc.stderr.decode(errors="replace").strip()))
    return out


def verify_inrelease(data: bytes, keyring: str, url: str, gpgv: str = "gpgv", gpg: str = "gpg") -> str:
    """The signed text of an InRelease file, verified by gpgv against ``keyring``."""
    if not os.path.isfile(keyring):
        raise AptIndexError("keyring %s (for %s) does not exist" % (keyring, url))
    workdir = tempfile.mkdtemp(prefix="mlstack-gpgv-")
    try:
        signed = os.path.join(workdir, "InRelease")
        plain = os.path.join(workdir, "Release")
        with open(signed, "wb") as stream:
            stream.write(data)
        keyfile = _dearmored(keyring, workdir, gpg)
        proc = subprocess.run([gpgv, "--status-fd", "1", "--keyring", keyfile, "--output", plain, signed],
                              capture_output=True, check=False)
        status = proc.stdout.decode(errors="replace")
        if proc.returncode != 0 or "[GNUPG:] VALIDSIG" not in status:
            reason = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
            raise AptIndexError("bad signature on %s (keyring %s): %s"
                                % (url, keyring, reason[-1] if reason else "gpgv exit %d" % proc.returncode))
        with open(plain, "rb") as stream:
            return stream.read().decode("utf-8")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def index_paths(source: Source, arch: str) -> t.List[str]:
    """The Packages paths of a source, relative to its Release file."""
    if source.flat:
        return ["Packages"]
    return ["%s/binary-%s/Packages" % (component, arch) for component in source.components]


def read_index(source: Source, release: t.Dict[str, t.Any], path: str, opener: Opener, timeout: int) -> str:
    """One Packages index, the first compression the Release lists, size and hash checked."""
    sums = release["sha256"]
    for suffix, decompress in INDEX_COMPRESSIONS:
        if path + suffix not in sums:
            continue
        url = source.base_url + path + suffix
        size, digest = sums[path + suffix]
        data = fetch(url, opener, timeout)
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            raise AptIndexError("%s does not match its Release entry (size %d, sha256 %s; got %d bytes, sha256 %s)"
                                % (url, size, digest, len(data), hashlib.sha256(data).hexdigest()))
        try:
            return decompress(data).decode("utf-8")
        except (lzma.LZMAError, OSError, EOFError, UnicodeDecodeError) as exc:
            raise AptIndexError("%s cannot be decompressed: %s" % (url, exc))
    raise AptIndexError("%sInRelease lists no SHA256 entry for %s (.xz, .gz or plain)" % (source.base_url, path))


@dataclass
class SuiteIndex:
    """What one suite of one source holds: its Release fields and package paragraphs."""

    source: Source
    release: t.Dict[str, t.Any]
    packages: t.List[t.Tuple[str, t.Dict[str, str]]]  # (component or "", paragraph)


def read_release(source: Source, opener: Opener = open_url, timeout: int = 60,
                 gpgv: str = "gpgv", gpg: str = "gpg") -> str:
    """The verified text of a source's InRelease."""
    url = source.base_url + "InRelease"
    if not os.path.isfile(source.keyring):
        raise AptIndexError("keyring %s (for %s) does not exist" % (source.keyring, url))
    return verify_inrelease(fetch(url, opener, timeout), source.keyring, url, gpgv, gpg)


def load_packages(source: Source, text: str, arch: str, opener: Opener = open_url, timeout: int = 60) -> SuiteIndex:
    """The Packages indexes a verified Release text lists for ``arch``."""
    try:
        release = parse_release(text)
    except ValueError as exc:
        raise AptIndexError("%sInRelease: %s" % (source.base_url, exc))
    packages = []
    for path in index_paths(source, arch):
        component = "" if source.flat else path.split("/", 1)[0]
        try:
            paragraphs = list(parse_control(read_index(source, release, path, opener, timeout)))
        except ValueError as exc:
            raise AptIndexError("%s%s: %s" % (source.base_url, path, exc))
        packages.extend((component, paragraph) for paragraph in paragraphs)
    return SuiteIndex(source, release, packages)


def load_suite(source: Source, arch: str, opener: Opener = open_url, timeout: int = 60,
               gpgv: str = "gpgv", gpg: str = "gpg") -> SuiteIndex:
    """InRelease verified, then its Packages indexes for ``arch``."""
    return load_packages(source, read_release(source, opener, timeout, gpgv, gpg), arch, opener, timeout)
