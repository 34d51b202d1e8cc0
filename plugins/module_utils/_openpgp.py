# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Fingerprints of an OpenPGP public key file, without gpg.

The apt repository keys of the manifest (Docker, NVIDIA, GitLab) are checked against their
recorded fingerprints before any source uses them, on the hosts (docker_host,
gitlab_runner) and on the connected side (bundle). ``gpg`` is not on every host (Debian's
minbase has only ``gpgv``), and parsing its colon listing three times was three copies of
one check; this reads the packets itself.

RFC 9580 (OpenPGP), section 4.2 (packet headers, old and new format), section 5.5.2
(public-key packets, versions 4 and 6) and 5.5.4 (fingerprints): a v4 fingerprint is the
SHA-1 of 0x99, the body's length in two octets and the body; a v6 one is the SHA-256 of
0x9B, the length in four octets and the body. v5 (the LibrePGP draft) is SHA-256 of 0x9A,
four octets and the body. Tags: 6 public key, 14 public subkey, 5 and 7 the secret ones.
"""

from __future__ import annotations

import hashlib
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._bundle_gpg import GpgError, dearmor

PUBLIC_KEY = 6
PUBLIC_SUBKEY = 14
SECRET_KEY = 5
SECRET_SUBKEY = 7


def packets(data: bytes, source: str) -> t.Iterator[t.Tuple[int, bytes]]:
    """(tag, body) of each packet; a header that runs past the end fails naming the file."""
    offset = 0
    while offset < len(data):
        header = data[offset]
        if not header & 0x80:
            raise GpgError("%s: byte %d is not an OpenPGP packet header" % (source, offset))
        offset += 1
        if header & 0x40:  # new format: tag in 6 bits, then one of three length encodings
            tag = header & 0x3F
            if offset >= len(data):
                raise GpgError("%s: packet header cut off at byte %d" % (source, offset))
            first = data[offset]
            if first < 192:
                length, offset = first, offset + 1
            elif first < 224:
                if offset + 2 > len(data):
                    raise GpgError("%s: packet header cut off at byte %d" % (source, offset))
                length, offset = ((first - 192) << 8) + data[offset + 1] + 192, offset + 2
            elif first == 255:
                if offset + 5 > len(data):
                    raise GpgError("%s: packet header cut off at byte %d" % (source, offset))
                length, offset = int.from_bytes(data[offset + 1:offset + 5], "big"), offset + 5
            else:
                # Partial body lengths are for data packets only, never for keys.
                raise GpgError("%s: a partial-length packet at byte %d (not a key file)" % (source, offset))
        else:  # old format: tag in 4 bits, length type in 2
            tag, kind = (header >> 2) & 0x0F, header & 0x03
            if kind == 3:
                raise GpgError("%s: an indeterminate-length packet at byte %d (not a key file)" % (source, offset))
            size = (1, 2, 4)[kind]
            if offset + size > len(data):
                raise GpgError("%s: packet header cut off at byte %d" % (source, offset))
            length, offset = int.from_bytes(data[offset:offset + size], "big"), offset + size
        if offset + length > len(data):
            raise GpgError("%s: a packet at byte %d runs past the end of the file (damaged or cut off)"
                           % (source, offset))
        yield tag, data[offset:offset + length]
        offset += length


def fingerprint(body: bytes, source: str) -> str:
    """The fingerprint of one public-key or public-subkey packet body, upper-case hex."""
    if not body:
        raise GpgError("%s: an empty key packet" % source)
    version = body[0]
    if version == 4:
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    if version == 5:
        return hashlib.sha256(b"\x9a" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    if version == 6:
        return hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    raise GpgError("%s: key packet version %d is not supported (only 4, 5 and 6)" % (source, version))


def fingerprints(data: t.Union[bytes, str], source: str, subkeys: bool = False) -> t.List[str]:
    """Fingerprints of the primary keys of an armoured or binary public key file (and of
    their subkeys with ``subkeys``), in file order. A secret key or a file without a
    public key fails: an apt keyring must hold public keys only."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    found = []
    for tag, body in packets(dearmor(data, source), source):
        if tag in (SECRET_KEY, SECRET_SUBKEY):
            raise GpgError("%s holds a secret key: refusing it as a repository key" % source)
        if tag == PUBLIC_KEY or (subkeys and tag == PUBLIC_SUBKEY):
            found.append(fingerprint(body, source))
    if not found:
        raise GpgError("%s holds no OpenPGP public key" % source)
    return found
