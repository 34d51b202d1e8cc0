# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""OpenPGP for the bundle: the signing key and signatures with ``gpg`` in a throw-away
GNUPGHOME (connected side), verification with ``gpgv`` alone (offline side).

``gpgv`` is on every Debian host, minbase included (apt depends on it); ``gpg`` is not.
``gpgv`` 2.2 reads binary keyrings only (an armoured one fails with "invalid packet
(ctb=2d)"), so an armoured public key is de-armoured here (RFC 4880, section 6).
Status lines are those of GnuPG's doc/DETAILS (GOODSIG, VALIDSIG <fpr> ..., BADSIG,
ERRSIG ... <rc> with rc 9 for a missing public key, EXPKEYSIG, REVKEYSIG).
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import subprocess
import tempfile
import typing as t

Runner = t.Callable[..., t.Tuple[int, str, str]]

_ARMOR_BEGIN = "-----BEGIN PGP "
_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


class GpgError(Exception):
    """A key or signature problem; the message names the key or file."""


def subprocess_runner(args: t.Sequence[str], data: t.Optional[str] = None, **_kwargs: t.Any) -> t.Tuple[int, str, str]:
    """The runner outside Ansible (tests, benchmarks): same shape as module.run_command."""
    process = subprocess.run(list(args), input=data, capture_output=True, text=True, check=False)
    return process.returncode, process.stdout, process.stderr


def crc24(data: bytes) -> int:
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for _bit in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF


def dearmor(data: bytes, source: str) -> bytes:
    """Binary OpenPGP packets of a key file: armoured blocks decoded (their CRC checked)
    and concatenated, or the file itself when it is binary already."""
    if data[:1] and data[0] & 0x80:
        return data
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise GpgError("%s is neither an armoured nor a binary OpenPGP key" % source)
    packets = b""
    lines = [line.strip() for line in text.splitlines()]
    index = 0
    found = False
    while index < len(lines):
        if not lines[index].startswith(_ARMOR_BEGIN):
            index += 1
            continue
        found = True
        index += 1
        while index < len(lines) and lines[index]:  # armour headers (Version:, Comment:)
            if ":" not in lines[index]:
                break
            index += 1
        body, checksum = [], None
        while index < len(lines) and not lines[index].startswith("-----END PGP "):
            line = lines[index]
            if line.startswith("=") and len(line) == 5:
                checksum = line[1:]
            elif line:
                body.append(line)
            index += 1
        if index >= len(lines):
            raise GpgError("%s: armoured block without its END line" % source)
        try:
            block = base64.b64decode("".join(body), validate=True)
        except (binascii.Error, ValueError):
            raise GpgError("%s: armoured block is not valid base64" % source)
        if checksum is not None:
            try:
                expected = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
            except (binascii.Error, ValueError):
                raise GpgError("%s: armour checksum line is not valid base64" % source)
            if crc24(block) != expected:
                raise GpgError("%s: armour checksum mismatch (the key file is damaged)" % source)
        packets += block
        index += 1
    if not found or not packets:
        raise GpgError("%s holds no OpenPGP key block" % source)
    return packets


def _short_tmp() -> str:
    """A temporary directory with a short path: gpg-agent's socket path must stay under
    the 108 bytes of a Unix socket name."""
    base = tempfile.gettempdir()
    if len(base) > 40 and os.access("/tmp", os.W_OK):
        base = "/tmp"
    return tempfile.mkdtemp(prefix="mlstack-gpg-", dir=base)


def status_lines(output: str) -> t.List[t.List[str]]:
    return [line.split()[1:] for line in output.splitlines() if line.startswith("[GNUPG:] ")]


class GpgHome:
    """A throw-away GNUPGHOME: ``with GpgHome(run, gpg, gpgconf) as home: ...``; the agent
    it started is stopped and the directory removed on exit."""

    def __init__(self, run: Runner, gpg: str, gpgconf: t.Optional[str] = None, throwaway_s2k: bool = False) -> None:
        self.run = run
        self.gpg = gpg
        self.gpgconf = gpgconf
        self.home = ""
        self.throwaway_s2k = throwaway_s2k

    def __enter__(self) -> "GpgHome":
        self.home = _short_tmp()
        if self.throwaway_s2k:
            # An imported passphrase-protected key is re-protected in the agent's own store
            # on first use, with an S2K count the agent first calibrates (seconds on a busy
            # machine). That copy lives in this throw-away home for the one signature only,
            # so a fixed count is enough; the key file itself keeps its own protection.
            with open(os.path.join(self.home, "gpg-agent.conf"), "w", encoding="utf-8") as stream:
                stream.write("s2k-count 1048576\n")
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        if self.gpgconf:
            self.run([self.gpgconf, "--homedir", self.home, "--kill", "all"])
        shutil.rmtree(self.home, ignore_errors=True)

    def _gpg(self, args: t.Sequence[str], what: str, passphrase: t.Optional[str] = None) -> str:
        command = [self.gpg, "--homedir", self.home, "--batch", "--no-tty", "--status-fd", "1"]
        data = None
        if passphrase:  # through stdin: an argument would show in the process list
            command += ["--pinentry-mode", "loopback", "--passphrase-fd", "0"]
            data = passphrase
        elif passphrase is not None:
            command += ["--pinentry-mode", "loopback", "--passphrase", ""]
        rc, out, err = self.run(command + list(args), data=data)
        if rc != 0:
            lines = [line for line in err.splitlines() if line.strip() and "checking the trustdb" not in line]
            raise GpgError("%s: %s" % (what, lines[-1].strip() if lines else "gpg exited with %d" % rc))
        return out

    def generate(self, uid: str, algorithm: str, expires: str, passphrase: str) -> str:
        out = self._gpg(["--quick-generate-key", uid, algorithm, "sign", expires],
                        "cannot generate a %s key" % algorithm, passphrase)
        for fields in status_lines(out):
            if fields[:1] == ["KEY_CREATED"] and len(fields) >= 3:
                return fields[2]
        return self.secret_fingerprints("the generated key")[0]

    def import_key(self, path: str) -> None:
        self._gpg(["--import", path], "cannot import %s" % path)

    def secret_fingerprints(self, what: str) -> t.List[str]:
        out = self._gpg(["--with-colons", "--list-secret-keys"], "cannot list the keys of %s" % what)
        fingerprints, primary = [], False
        for line in out.splitlines():
            fields = line.split(":")
            if fields[0] in ("sec", "ssb"):
                primary = fields[0] == "sec"
            elif fields[0] == "fpr" and primary:
                fingerprints.append(fields[9])
                primary = False
        return fingerprints

    def show_fingerprints(self, path: str) -> t.List[str]:
        """Primary key fingerprints of a key file, without importing it."""
        out = self._gpg(["--with-colons", "--show-keys", path], "cannot read %s" % path)
        fingerprints, primary = [], False
        for line in out.splitlines():
            fields = line.split(":")
            if fields[0] in ("pub", "sec", "sub", "ssb"):
                primary = fields[0] in ("pub", "sec")
            elif fields[0] == "fpr" and primary:
                fingerprints.append(fields[9])
                primary = False
        return fingerprints

    def _export(self, args: t.Sequence[str], what: str, passphrase: t.Optional[str] = None) -> bytes:
        out = os.path.join(self.home, "export.asc")
        try:
            self._gpg(["--yes", "--armor", "--output", out] + list(args), what, passphrase)
            with open(out, "rb") as stream:
                return stream.read()
        finally:
            if os.path.exists(out):
                os.unlink(out)

    def export_public(self, fingerprint: str) -> bytes:
        return self._export(["--export", fingerprint], "cannot export key %s" % fingerprint)

    def export_secret(self, fingerprint: str, passphrase: str) -> bytes:
        return self._export(["--export-secret-keys", fingerprint], "cannot export key %s" % fingerprint, passphrase)

    def sign(self, key_path: str, fingerprint: str, data_path: str, out_path: str,
             passphrase: t.Optional[str]) -> None:
        self._gpg(["--yes", "--armor", "--detach-sign", "--local-user", fingerprint + "!",
                   "--output", out_path, data_path],
                  "cannot sign %s with %s" % (data_path, key_path), passphrase or "")


def import_signing_key(home: GpgHome, key_path: str) -> str:
    """Import the secret key file into ``home``; its one primary fingerprint."""
    if not os.path.isfile(key_path):
        raise GpgError("signing key %s does not exist" % key_path)
    home.import_key(key_path)
    fingerprints = home.secret_fingerprints(key_path)
    if len(fingerprints) != 1:
        raise GpgError("signing key %s holds %d secret keys; it must hold exactly one" % (key_path, len(fingerprints)))
    return fingerprints[0]


def gpgv_verify(run: Runner, gpgv: str, public_key: str, signature: str, data: str) -> str:
    """Check ``signature`` of ``data`` against the key(s) in ``public_key`` with gpgv in a
    temporary keyring; the signing key's fingerprint, or GpgError naming the key file."""
    try:
        with open(public_key, "rb") as stream:
            keyring = dearmor(stream.read(), public_key)
    except OSError as exc:
        raise GpgError("public key %s: %s" % (public_key, exc.strerror))
    home = _short_tmp()
    try:
        ring = os.path.join(home, "trusted.gpg")
        with open(ring, "wb") as stream:
            stream.write(keyring)
        rc, out, err = run([gpgv, "--homedir", home, "--status-fd", "1", "--keyring", ring, signature, data])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    status = status_lines(out)
    words = {fields[0]: fields[1:] for fields in status if fields}
    if rc == 0 and "GOODSIG" in words and "VALIDSIG" in words:
        return words["VALIDSIG"][0]
    if "BADSIG" in words:
        raise GpgError("%s is a BAD signature of %s by key %s of %s: the file was altered after signing"
                       % (signature, data, words["BADSIG"][0], public_key))
    for word in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG"):
        if word in words:
            raise GpgError("%s: signed by key %s of %s, which gpgv reports as %s"
                           % (signature, words[word][0], public_key, word))
    if "ERRSIG" in words:
        fields = words["ERRSIG"]
        signer = fields[6] if len(fields) > 6 and fields[6] != "-" else fields[0]
        if len(fields) > 5 and fields[5] == "9":
            raise GpgError("%s was signed by key %s, which is not in the public key file %s (wrong key?)"
                           % (signature, signer, public_key))
        raise GpgError("%s: gpgv cannot check the signature with %s (error %s)"
                       % (signature, public_key, fields[5] if len(fields) > 5 else "?"))
    if "NODATA" in words or "BADARMOR" in words:
        raise GpgError("%s is not an OpenPGP signature (checked with %s)" % (signature, public_key))
    lines = [line for line in err.splitlines() if line.strip()]
    raise GpgError("%s: gpgv refused it with %s: %s" % (signature, public_key, lines[-1] if lines else "rc=%d" % rc))
