# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A flat, signed apt repository of resolved .debs (the bundle's ``apt/<target>/``).

* Each .deb is fetched once: a file already there with the index's size and SHA-256 is
  kept. Its digest is remembered by (path, size, mtime_ns) in a small JSON cache, so an
  unchanged file is not hashed again on the next run. Downloads stream into a temporary
  name, are checked against the index, then renamed into place.
* ``Packages`` holds the upstream paragraphs with ``Filename: ./<file>``; ``Packages.gz``
  is its gzip (no timestamp: the same input gives the same bytes); ``Release`` lists
  both with size and SHA-256; ``InRelease`` is ``Release`` clear-signed with the site's
  key, imported into a temporary GNUPGHOME. InRelease is renamed into place last.
* When ``Packages`` is unchanged and ``InRelease`` verifies against the key and says
  what ``Release`` says, nothing is rewritten (hosts then see the same InRelease and
  copy nothing).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import typing as t
from dataclasses import dataclass

from ansible_collections.mlstack.platform.plugins.module_utils._apt_index import Opener, field_names
from ansible_collections.mlstack.platform.plugins.module_utils._apt_resolve import Candidate
from ansible_collections.mlstack.platform.plugins.module_utils._checksum import file_sha256

CHUNK = 1024 * 1024
INDEX_FILES = ("Packages", "Packages.gz", "Release", "InRelease")


class RepoError(Exception):
    """A repository that cannot be written; the message names the file or URL."""


class HashCache:
    """SHA-256 of files by (real path, size, mtime_ns), kept in a JSON file."""

    def __init__(self, path: t.Optional[str]) -> None:
        self.path = path
        self.entries: t.Dict[str, t.List[t.Any]] = {}
        self.dirty = False
        if path and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as stream:
                    data = json.load(stream)
                if isinstance(data, dict):
                    self.entries = {key: value for key, value in data.items() if isinstance(value, list) and len(value) == 3}
            except (OSError, ValueError):
                self.entries = {}

    @staticmethod
    def _stamp(path: str) -> t.Tuple[str, int, int]:
        info = os.stat(path)
        return os.path.realpath(path), info.st_size, info.st_mtime_ns

    def sha256(self, path: str) -> str:
        key, size, mtime = self._stamp(path)
        entry = self.entries.get(key)
        if entry and entry[0] == size and entry[1] == mtime:
            return entry[2]
        digest = file_sha256(path)
        self.remember(path, digest)
        return digest

    def remember(self, path: str, digest: str) -> None:
        key, size, mtime = self._stamp(path)
        self.entries[key] = [size, mtime, digest]
        self.dirty = True

    def save(self) -> None:
        if not self.path or not self.dirty:
            return
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".hash-cache-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(self.entries, stream, sort_keys=True)
        os.replace(tmp, self.path)


def deb_name(candidate: Candidate) -> str:
    return os.path.basename(candidate.filename)


def is_present(path: str, candidate: Candidate, cache: HashCache) -> bool:
    return (os.path.isfile(path) and os.path.getsize(path) == candidate.size
            and cache.sha256(path) == candidate.sha256)


def download(candidate: Candidate, path: str, opener: Opener, timeout: int, cache: HashCache) -> None:
    """Stream the .deb into a temporary file beside ``path``, check size and SHA-256
    against the index, then rename it into place."""
    url = candidate.url
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(path))
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = opener(url, timeout=timeout, follow_redirects="safe")
                try:
                    while True:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                finally:
                    response.close()
            except Exception as exc:  # noqa: BLE001 - URLError, HTTPError, timeouts, open_url's own
                raise RepoError("cannot fetch %s: %s" % (url, getattr(exc, "reason", None) or exc))
        if size != candidate.size or digest.hexdigest() != candidate.sha256:
            raise RepoError("%s does not match its index entry (size %d, sha256 %s; got %d bytes, sha256 %s)"
                            % (url, candidate.size, candidate.sha256, size, digest.hexdigest()))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        cache.remember(path, candidate.sha256)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def packages_text(candidates: t.Iterable[Candidate]) -> str:
    """The flat repository's Packages file: upstream paragraphs, local Filename."""
    paragraphs = []
    for candidate in sorted(candidates, key=lambda c: (c.name, c.version, c.arch)):
        lines = []
        for name in field_names(candidate.paragraph):
            value = "./" + deb_name(candidate) if name.lower() == "filename" else candidate.paragraph[name.lower()]
            lines.append("%s: %s" % (name, value) if value and not value.startswith("\n") else "%s:%s" % (name, value))
        paragraphs.append("\n".join(lines) + "\n")
    return "\n".join(paragraphs)


def release_text(target: str, arch: str, files: t.Dict[str, bytes], date: float) -> str:
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(date))
    lines = [
        "Origin: mlstack",
        "Label: mlstack bundle %s" % target,
        "Suite: %s" % target,
        "Codename: %s" % target,
        "Date: %s" % stamp,
        "Architectures: %s all" % arch,
        "Description: mlstack.platform bundle repository for %s" % target,
        "SHA256:",
    ]
    for name in sorted(files):
        lines.append(" %s %16d %s" % (hashlib.sha256(files[name]).hexdigest(), len(files[name]), name))
    return "\n".join(lines) + "\n"


@dataclass
class SigningKey:
    """The site's secret key imported into a temporary GNUPGHOME (``with`` block)."""

    key_file: str
    passphrase: t.Optional[str] = None
    gpg: str = "gpg"
    gpgv: str = "gpgv"

    def __enter__(self) -> "SigningKey":
        if not os.path.isfile(self.key_file):
            raise RepoError("signing_key %s does not exist" % self.key_file)
        self.home = tempfile.mkdtemp(prefix="mlstack-gnupg-")
        os.chmod(self.home, 0o700)
        try:
            self._gpg(["--import", self.key_file], "cannot import signing_key %s" % self.key_file)
            listing = self._gpg(["--with-colons", "--list-secret-keys"], "cannot list signing_key %s" % self.key_file)
            fingerprints = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
            if not listing.startswith("sec:") and "\nsec:" not in listing or not fingerprints:
                raise RepoError("signing_key %s holds no secret key" % self.key_file)
            self.fingerprint = fingerprints[0]
            self.public = os.path.join(self.home, "public.gpg")
            self._gpg(["--output", self.public, "--export", self.fingerprint], "cannot export the public key")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        # The gpg-agent started for this home is ours to stop.
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=self._env(), capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)

    def _env(self) -> t.Dict[str, str]:
        return dict(os.environ, GNUPGHOME=self.home, LC_ALL="C")

    def _gpg(self, args: t.List[str], failure: str, stdin: bytes = b"") -> str:
        proc = subprocess.run([self.gpg, "--batch", "--yes", "--no-tty"] + args, input=stdin,
                              capture_output=True, env=self._env(), check=False)
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
            raise RepoError("%s: %s" % (failure, lines[-1] if lines else "gpg exit %d" % proc.returncode))
        return proc.stdout.decode(errors="replace")

    def clearsign(self, text: str) -> bytes:
        source = os.path.join(self.home, "Release")
        signed = os.path.join(self.home, "InRelease")
        with open(source, "w", encoding="utf-8") as stream:
            stream.write(text)
        self._gpg(["--pinentry-mode", "loopback", "--passphrase-fd", "0", "--local-user", self.fingerprint,
                   "--digest-algo", "SHA512", "--clearsign", "--output", signed, source],
                  "cannot sign with signing_key %s (wrong signing_key_passphrase?)" % self.key_file,
                  stdin=(self.passphrase or "").encode() + b"\n")
        with open(signed, "rb") as stream:
            return stream.read()

    def signed_text(self, inrelease: str) -> t.Optional[str]:
        """What ``inrelease`` says if this key signed it, else None."""
        out = os.path.join(self.home, "verified")
        proc = subprocess.run([self.gpgv, "--keyring", self.public, "--output", out, inrelease],
                              capture_output=True, env=self._env(), check=False)
        if proc.returncode != 0 or not os.path.isfile(out):
            return None
        with open(out, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
        os.unlink(out)
        return text


def _read(path: str) -> t.Optional[bytes]:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError:
        return None


def _write_atomic(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def index_is_current(dest: str, packages: bytes, key: SigningKey) -> bool:
    """Whether dest's Packages is ``packages`` and its InRelease is ``key``'s signature of its Release."""
    if _read(os.path.join(dest, "Packages")) != packages or _read(os.path.join(dest, "Packages.gz")) != gz(packages):
        return False
    release = _read(os.path.join(dest, "Release"))
    inrelease = os.path.join(dest, "InRelease")
    if release is None or not os.path.isfile(inrelease):
        return False
    return key.signed_text(inrelease) == release.decode("utf-8", errors="replace")


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def write_index(dest: str, target: str, arch: str, packages: bytes, key: SigningKey) -> None:
    """Packages, Packages.gz, Release, then InRelease, each renamed into place."""
    files = {"Packages": packages, "Packages.gz": gz(packages)}
    release = release_text(target, arch, files, time.time())
    inrelease = key.clearsign(release)
    for name, data in files.items():
        _write_atomic(os.path.join(dest, name), data)
    _write_atomic(os.path.join(dest, "Release"), release.encode("utf-8"))
    _write_atomic(os.path.join(dest, "InRelease"), inrelease)


def stale_debs(dest: str, keep: t.Set[str]) -> t.List[str]:
    if not os.path.isdir(dest):
        return []
    return sorted(name for name in os.listdir(dest) if name.endswith(".deb") and name not in keep)
