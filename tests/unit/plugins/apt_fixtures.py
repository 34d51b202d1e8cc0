# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Apt archives on disk for the bundle_debs tests, shaped like the real ones.

* ``Archive.suite`` writes ``dists/<suite>/InRelease`` (clear-signed with a key made in
  the test by gpg), ``Release`` and per component ``binary-<arch>/Packages.xz`` and
  ``.gz``. Like Debian's and Ubuntu's Release files, the uncompressed ``Packages`` is
  listed (with MD5Sum, SHA1 and SHA256 sections) but not served; Ubuntu's carry
  ``Acquire-By-Hash: yes``.
* ``Archive.flat`` writes a flat repository (``InRelease`` and ``Packages.xz`` at the top,
  ``Filename: ./x.deb``), as NVIDIA's libnvidia-container repository is laid out.
* Every package gets a small real file under ``pool/`` whose size and SHA-256 the index
  carries, so downloads can be checked.
The archive is read through ``file://`` URIs, the same code path as ``http://``.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import subprocess
import tempfile
import typing as t


class GpgKey:
    """An ed25519 signing key in its own GNUPGHOME, exported armoured (secret and public)."""

    def __init__(self, directory: str, uid: str) -> None:
        self.home = tempfile.mkdtemp(prefix="gpg-", dir=directory)
        os.chmod(self.home, 0o700)
        self._gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
        self.secret = os.path.join(directory, uid.split()[0] + "-secret.asc")
        self.public = os.path.join(directory, uid.split()[0] + "-public.asc")
        self.keyring = os.path.join(directory, uid.split()[0] + "-keyring.gpg")
        self._gpg("--armor", "--output", self.secret, "--export-secret-keys")
        self._gpg("--armor", "--output", self.public, "--export")
        self._gpg("--output", self.keyring, "--export")

    def _gpg(self, *args: str, stdin: bytes = b"") -> bytes:
        proc = subprocess.run(["gpg", "--batch", "--yes", "--pinentry-mode", "loopback"] + list(args),
                              input=stdin, capture_output=True, env=dict(os.environ, GNUPGHOME=self.home), check=True)
        return proc.stdout

    def clearsign(self, text: bytes) -> bytes:
        return self._gpg("--passphrase", "", "--digest-algo", "SHA512", "--clearsign", stdin=text)

    def close(self) -> None:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=dict(os.environ, GNUPGHOME=self.home),
                       capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def paragraph(name: str, version: str, arch: str = "amd64", priority: str = "optional", **fields: str) -> t.Dict[str, str]:
    """A package: ``depends="a (>= 1) | b"``, ``pre_depends``, ``provides``, ``breaks``, ``essential``."""
    result = {"Package": name, "Version": version, "Architecture": arch, "Priority": priority}
    for key, value in fields.items():
        result["-".join(part.capitalize() for part in key.split("_"))] = value
    return result


class Archive:
    """An apt archive under ``root`` (served as ``file://root``)."""

    def __init__(self, root: str, key: GpgKey, arch: str = "amd64") -> None:
        self.root = root
        self.key = key
        self.arch = arch
        os.makedirs(root, exist_ok=True)

    @property
    def uri(self) -> str:
        return "file://" + self.root

    def _deb(self, pkg: t.Dict[str, str], pool: str) -> t.Dict[str, str]:
        data = ("%s %s %s\n" % (pkg["Package"], pkg["Version"], pkg["Architecture"])).encode() * 40
        name = "%s_%s_%s.deb" % (pkg["Package"], pkg["Version"].split(":")[-1], pkg["Architecture"])
        path = os.path.join(self.root, pool, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as stream:
            stream.write(data)
        entry = dict(pkg)
        entry.update({"Filename": "%s/%s" % (pool, name) if pool != "." else "./" + name,
                      "Size": str(len(data)), "SHA256": hashlib.sha256(data).hexdigest(),
                      "Description": "fixture package %s\n  built by the bundle_debs tests" % pkg["Package"]})
        return entry

    @staticmethod
    def _packages(entries: t.Sequence[t.Dict[str, str]]) -> bytes:
        return "\n".join("".join("%s: %s\n" % item for item in entry.items()) for entry in entries).encode()

    def _release(self, directory: str, fields: t.Dict[str, str], files: t.Dict[str, bytes],
                 listed_only: t.Sequence[t.Tuple[str, bytes]] = (), tamper: t.Optional[str] = None,
                 signer: t.Optional[GpgKey] = None) -> None:
        lines = ["%s: %s" % item for item in fields.items()]
        entries = list(files.items()) + list(listed_only)
        for section, algorithm in (("MD5Sum", hashlib.md5), ("SHA1", hashlib.sha1), ("SHA256", hashlib.sha256)):
            lines.append(section + ":")
            for name, data in sorted(entries):
                lines.append(" %s %16d %s" % (algorithm(data).hexdigest(), len(data), name))
        release = ("\n".join(lines) + "\n").encode()
        for name, data in files.items():
            path = os.path.join(directory, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as stream:
                stream.write(data if name != tamper else data + b"\n")
        with open(os.path.join(directory, "Release"), "wb") as stream:
            stream.write(release)
        with open(os.path.join(directory, "InRelease"), "wb") as stream:
            stream.write((signer or self.key).clearsign(release))

    def suite(self, suite: str, components: t.Dict[str, t.Sequence[t.Dict[str, str]]], origin: str = "Debian",
              codename: t.Optional[str] = None, tamper: t.Optional[str] = None, signer: t.Optional[GpgKey] = None) -> None:
        directory = os.path.join(self.root, "dists", suite)
        files, listed = {}, []
        for component, packages in components.items():
            entries = [self._deb(pkg, "pool/%s/%s" % (component, pkg["Package"][0])) for pkg in packages]
            plain = self._packages(entries)
            base = "%s/binary-%s/Packages" % (component, self.arch)
            files[base + ".xz"] = lzma.compress(plain)
            files[base + ".gz"] = gzip.compress(plain, mtime=0)
            listed.append((base, plain))  # listed in Release, not served (as on the real mirrors)
        fields = {"Origin": origin, "Label": origin, "Suite": suite, "Codename": codename or suite.split("-")[0],
                  "Date": "Sat, 01 Nov 2025 10:00:00 UTC", "Architectures": "amd64 arm64 i386",
                  "Components": " ".join(components)}
        if origin == "Ubuntu":
            fields["Acquire-By-Hash"] = "yes"
        self._release(directory, fields, files, listed, tamper, signer)

    def flat(self, packages: t.Sequence[t.Dict[str, str]], subdir: str = "") -> None:
        directory = os.path.join(self.root, subdir)
        entries = [self._deb(pkg, subdir or ".") for pkg in packages]
        if subdir:  # Filename relative to the URI, as apt reads it
            for entry in entries:
                entry["Filename"] = "%s/%s" % (subdir, os.path.basename(entry["Filename"]))
        plain = self._packages(entries)
        self._release(directory, {"Origin": "third party", "Date": "Sat, 01 Nov 2025 10:00:00 UTC"},
                      {"Packages.xz": lzma.compress(plain), "Packages.gz": gzip.compress(plain, mtime=0)},
                      [("Packages", plain)])


def debian_minbase_suite() -> t.List[t.Dict[str, str]]:
    """A small release suite with the shape of bookworm's minbase: required packages
    with their first-alternative closure, apt, usr-is-merged, and the usrmerge trap."""
    return [
        paragraph("libc6", "2.36-9+deb12u1", priority="required", depends="libgcc-s1"),
        paragraph("libgcc-s1", "12.2.0-14", priority="optional", depends="gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)"),
        paragraph("gcc-12-base", "12.2.0-14", priority="required"),
        paragraph("libc-bin", "2.36-9+deb12u1", priority="required", depends="libc6 (= 2.36-9+deb12u1)"),
        paragraph("base-files", "12.4+deb12u1", priority="required", essential="yes"),
        paragraph("dpkg", "1.21.22", priority="required", essential="yes",
                  pre_depends="libc6 (>= 2.34), tar (>= 1.28-1)", depends="perl-base | awk-virtual"),
        paragraph("tar", "1.34+dfsg-1.2", priority="required", essential="yes", pre_depends="libc6 (>= 2.34)"),
        paragraph("perl-base", "5.36.0-7+deb12u1", priority="required", essential="yes",
                  pre_depends="libc6 (>= 2.35)", provides="perlapi-5.36.0"),
        paragraph("mawk", "1.3.4-3", priority="required", provides="awk"),
        paragraph("apt", "2.6.1", priority="important", depends="libapt-pkg6.0 (>= 2.6.1), gpgv | gpgv2, libc6"),
        paragraph("libapt-pkg6.0", "2.6.1", priority="optional", depends="libc6 (>= 2.34)"),
        paragraph("gpgv", "2.2.40-1.1", priority="optional", depends="libc6"),
        paragraph("gpgv2", "2.2.40-1.1", priority="optional", depends="gpgv"),
        paragraph("init-system-helpers", "1.65.2", priority="required", depends="usrmerge | usr-is-merged, perl-base"),
        paragraph("usrmerge", "37~deb12u1", priority="optional", depends="perl"),
        paragraph("usr-is-merged", "37~deb12u1", priority="optional"),
        paragraph("perl", "5.36.0-7+deb12u1", priority="standard", depends="perl-base (= 5.36.0-7+deb12u1)"),
        # Packages a set may need: outside the minimal host.
        paragraph("libpq5", "15.4-0+deb12u1", depends="libc6 (>= 2.34), libssl3 (>= 3.0.0)"),
        paragraph("libssl3", "3.0.11-1~deb12u1", depends="libc6 (>= 2.34)"),
        paragraph("postgresql-15", "15.4-0+deb12u1",
                  depends="libpq5 (>= 15~), postgresql-common (>= 240~), mail-transport-agent | exim4, libc6:any, "
                          "locales | locales-all, tzdata"),
        paragraph("postgresql-common", "248", arch="all", depends="perl:any, ucf"),
        paragraph("ucf", "3.0043", arch="all", depends="sensible-utils, coreutils (>= 5.91)"),
        paragraph("sensible-utils", "0.0.17", arch="all"),
        paragraph("coreutils", "9.1-1", priority="required", essential="yes"),
        paragraph("exim4", "4.96-15", arch="all", depends="exim4-daemon-light | exim4-daemon-heavy"),
        paragraph("exim4-daemon-light", "4.96-15", provides="mail-transport-agent"),
        paragraph("postfix", "3.7.6-0+deb12u2", provides="mail-transport-agent, default-mta"),
        paragraph("locales", "2.36-9+deb12u1", arch="all", depends="libc-bin (>> 2.36), debconf | debconf-2.0"),
        paragraph("debconf", "1.5.82", arch="all", priority="required", provides="debconf-2.0"),
        paragraph("tzdata", "2024a-0+deb12u1", arch="all", priority="required"),
        paragraph("libc6", "2.36-9+deb12u1", arch="i386", priority="required"),  # other architectures are ignored
        paragraph("python3-psycopg2", "2.9.5-1+b1", depends="python3 (<< 3.12), python3 (>= 3.11~), python3:any, libpq5"),
        paragraph("python3", "3.11.2-1+b1", depends="python3.11 (>= 3.11.2-1~)", provides="python3-profiler"),
        paragraph("python3.11", "3.11.2-6", depends="libc6 (>= 2.36)"),
        paragraph("acl", "2.3.1-3", depends="libacl1 (= 2.3.1-3), libc6 (>= 2.34)"),
        paragraph("libacl1", "2.3.1-3", priority="required"),
        paragraph("nvidia-toolkit", "1.18.0-1", depends="nvidia-toolkit-base (= 1.18.0-1)"),
        paragraph("nvidia-toolkit", "1.17.8-1", depends="nvidia-toolkit-base (= 1.17.8-1)"),
        paragraph("nvidia-toolkit-base", "1.18.0-1"),
        paragraph("nvidia-toolkit-base", "1.17.8-1"),
        paragraph("needs-old-base", "1.0", depends="nvidia-toolkit-base (<< 1.18), nvidia-toolkit"),
        paragraph("broken", "1.0", depends="no-such-package (>= 2) | also-missing"),
    ]


def debian_updates_suite() -> t.List[t.Dict[str, str]]:
    """bookworm-updates/-security shaped: newer builds of host packages."""
    return [
        paragraph("libc6", "2.36-9+deb12u4", priority="required", depends="libgcc-s1",
                  breaks="locales (<< 2.36-9+deb12u4)"),
        paragraph("libc-bin", "2.36-9+deb12u4", priority="required", depends="libc6 (= 2.36-9+deb12u4)"),
        paragraph("locales", "2.36-9+deb12u4", arch="all", depends="libc-bin (>> 2.36), debconf | debconf-2.0"),
        paragraph("needs-new-libc", "1.0", depends="libc6 (>= 2.36-9+deb12u4)"),
        paragraph("libpq5", "15.8-0+deb12u1", depends="libc6 (>= 2.34), libssl3 (>= 3.0.0)"),
    ]


def make_gpg_keys(tmp_path_factory: t.Any) -> t.Iterator[t.Dict[str, GpgKey]]:
    """For a session fixture: the archive's key, another key (a bad signature) and the
    bundle's signing key; their gpg-agents are stopped afterwards."""
    directory = str(tmp_path_factory.mktemp("gpg"))
    keys = {name: GpgKey(directory, "%s <%s@mlstack.invalid>" % (name, name)) for name in ("archive", "other", "bundle")}
    yield keys
    for key in keys.values():
        key.close()


def bookworm_archive(root: str, key: GpgKey) -> Archive:
    archive = Archive(root, key)
    archive.suite("bookworm", {"main": debian_minbase_suite()})
    archive.suite("bookworm-updates", {"main": debian_updates_suite()})
    return archive
