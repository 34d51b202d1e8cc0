# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""openpgp_fingerprints against gpg's own listing of keys gpg made (plugins/filter/openpgp.py,
plugins/module_utils/_openpgp.py)."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.openpgp import openpgp_fingerprints

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg makes the test keys")


def gpg(home, *args, data=None):
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
                           "--passphrase", "", *args], input=data, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two keys made by gpg (ed25519 with a cv25519 subkey, RSA 2048), their exports and
    gpg's fingerprints (primary and subkey) from --with-colons."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    made = {}
    for uid, algo in (("ed <ed@example.invalid>", "ed25519"), ("rsa <rsa@example.invalid>", "rsa2048")):
        gpg(home, "--quick-generate-key", uid, algo, "sign", "never")
        listing = gpg(home, "--with-colons", "--list-keys", uid).decode()
        primary = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][0]
        if algo == "ed25519":
            gpg(home, "--quick-add-key", primary, "cv25519", "encr", "never")
        listing = gpg(home, "--with-colons", "--list-keys", uid).decode()
        made[algo] = {"fprs": [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")],
                      "armored": gpg(home, "--armor", "--export", primary),
                      "binary": gpg(home, "--export", primary),
                      "secret": gpg(home, "--armor", "--export-secret-keys", primary)}
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)
    return made


def test_primary_fingerprints_match_gpg_for_armored_and_binary_keys(keys):
    for key in keys.values():
        assert openpgp_fingerprints(key["armored"].decode()) == key["fprs"][:1]
        assert openpgp_fingerprints(base64.b64encode(key["binary"]).decode(), base64_encoded=True) == key["fprs"][:1]


def test_subkeys_on_request(keys):
    ed = keys["ed25519"]
    assert len(ed["fprs"]) == 2
    assert openpgp_fingerprints(ed["armored"], subkeys=True) == ed["fprs"]


def test_a_keyring_of_two_keys_gives_both_in_file_order(keys):
    both = keys["ed25519"]["binary"] + keys["rsa2048"]["binary"]
    assert openpgp_fingerprints(both) == [keys["ed25519"]["fprs"][0], keys["rsa2048"]["fprs"][0]]


def test_new_format_packet_headers_give_the_same_fingerprint(keys):
    # gpg writes old-format headers for keys; RFC 9580 section 4.2.1 new format (tag | 0xC0,
    # then a one-, two- or five-octet length) must read the same.
    data = keys["rsa2048"]["binary"]
    out, offset = b"", 0
    while offset < len(data):
        header = data[offset]
        tag, kind = (header >> 2) & 0x0F, header & 0x03
        size = (1, 2, 4)[kind]
        length = int.from_bytes(data[offset + 1:offset + 1 + size], "big")
        body = data[offset + 1 + size:offset + 1 + size + length]
        out += bytes([0xC0 | tag, 255]) + length.to_bytes(4, "big") + body
        offset += 1 + size + length
    assert openpgp_fingerprints(out) == keys["rsa2048"]["fprs"][:1]


def test_a_damaged_key_is_refused_naming_the_source(keys):
    binary = keys["rsa2048"]["binary"]
    with pytest.raises(AnsibleFilterError, match="docker.asc: a packet at byte .* runs past the end"):
        openpgp_fingerprints(binary[:len(binary) // 2], source="docker.asc")
    armored = keys["rsa2048"]["armored"].decode().splitlines()
    armored[3] = ("B" if armored[3][0] != "B" else "C") + armored[3][1:]
    with pytest.raises(AnsibleFilterError, match="nvidia.asc: armour checksum mismatch"):
        openpgp_fingerprints("\n".join(armored), source="nvidia.asc")


def test_a_secret_key_or_no_key_is_refused(keys):
    with pytest.raises(AnsibleFilterError, match="k.asc holds a secret key"):
        openpgp_fingerprints(keys["ed25519"]["secret"], source="k.asc")
    with pytest.raises(AnsibleFilterError, match="page.html is neither an armoured nor a binary OpenPGP key"):
        openpgp_fingerprints(b"<html>\xff\xfe</html>", source="page.html")
    with pytest.raises(AnsibleFilterError, match="holds no OpenPGP key block"):
        openpgp_fingerprints("<html>proxy login</html>", source="proxy.html")
