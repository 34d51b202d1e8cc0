# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The bundle's module_utils on their own: format helpers, hashing and its cache,
de-armouring (against the real `gpg --dearmor`), gpgv verdicts, part cutting."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils import _bundle as bundle
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_gpg import (
    GpgError,
    crc24,
    dearmor,
    gpgv_verify,
    subprocess_runner,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_hash import HashCache, hash_files, stream_sha256
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_parts import PartWriter

from bundle_maker import keys, write  # noqa: F401 pylint: disable=unused-import


def test_dearmor_equals_gpg_dearmor(keys, tmp_path):
    out = str(tmp_path / "k.gpg")
    subprocess.run(["gpg", "--batch", "--yes", "--output", out, "--dearmor", keys["site"].public], check=True)
    armoured = open(keys["site"].public, "rb").read()
    assert dearmor(armoured, "k") == open(out, "rb").read()
    assert dearmor(open(out, "rb").read(), "k") == open(out, "rb").read()  # binary stays as it is
    both = dearmor(armoured + open(keys["other"].public, "rb").read(), "k")
    assert both.startswith(open(out, "rb").read()) and len(both) > len(open(out, "rb").read())


def test_dearmor_refuses_damage():
    assert crc24(b"") == 0xB704CE
    good = (b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaw8x\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n")
    with pytest.raises(GpgError, match="armour checksum mismatch"):
        dearmor(good, "k.asc")
    with pytest.raises(GpgError, match="k.asc holds no OpenPGP key block"):
        dearmor(b"hello\n", "k.asc")
    with pytest.raises(GpgError, match="without its END line"):
        dearmor(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaw8x\n", "k.asc")


def test_gpgv_verdicts(keys, tmp_path):
    data = write(str(tmp_path), "data", b"content\n")
    sig = str(tmp_path / "data.sig")
    home = str(tmp_path / "home")
    os.makedirs(home, mode=0o700)
    subprocess.run(["gpg", "--homedir", home, "--batch", "--import", keys["site"].secret], check=True,
                   capture_output=True)
    subprocess.run(["gpg", "--homedir", home, "--batch", "--armor", "--detach-sign", "--output", sig,
                    os.path.join(str(tmp_path), data)], check=True, capture_output=True)
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
    path = os.path.join(str(tmp_path), data)
    assert gpgv_verify(subprocess_runner, "gpgv", keys["site"].public, sig, path) == keys["site"].fingerprint
    with pytest.raises(GpgError, match="not in the public key file %s" % keys["other"].public):
        gpgv_verify(subprocess_runner, "gpgv", keys["other"].public, sig, path)
    write(str(tmp_path), "data", b"content!\n")
    with pytest.raises(GpgError, match="BAD signature"):
        gpgv_verify(subprocess_runner, "gpgv", keys["site"].public, sig, path)
    write(str(tmp_path), "data.sig", b"junk")
    with pytest.raises(GpgError):
        gpgv_verify(subprocess_runner, "gpgv", keys["site"].public, sig, path)


def test_sums_round_trip_and_strictness():
    sums = {"b/x": "1" * 64, "MANIFEST.json": "2" * 64, "a": "3" * 64}
    data = bundle.render_sums(sums)
    assert data.decode().splitlines()[0] == "%s  MANIFEST.json" % ("2" * 64)
    assert bundle.parse_sums(data, "S") == sums
    for bad, problem in ((b"xyz  a\n", "line 1: not a"), (("%s  ../a\n" % ("1" * 64)).encode(), "plain relative"),
                         (("%s  a\n%s  a\n" % ("1" * 64, "2" * 64)).encode(), "listed twice"),
                         (("%s *a\n" % ("1" * 64)).encode(), "not a")):
        with pytest.raises(bundle.BundleError, match=problem):
            bundle.parse_sums(bad, "S")


def test_paths_ids_and_temp_names():
    for good in ("a", "images/oci/blobs/sha256/ab", "apt/debian-bookworm/x_1.0+deb12u1_amd64.deb"):
        assert bundle.check_relpath(good, "w") == good
    for bad in ("", "/etc/passwd", "a/../b", "a//b", "./a", "a\nb", "a\\b"):
        with pytest.raises(bundle.BundleError):
            bundle.check_relpath(bad, "w")
    assert bundle.split_id("debs/postgresql@debian-bookworm") == ("debs", "postgresql", "debian-bookworm")
    assert bundle.split_id("image/minio") == ("image", "minio", None)
    with pytest.raises(bundle.BundleError, match="is not <kind>/<key>"):
        bundle.split_id("minio")
    for name in (".mlstack-tmp-x", "a.part", "a.tmp", "a.partial", "a~", ".~lock"):
        assert bundle.is_temp_name(name)
    assert not bundle.is_temp_name("particle.deb")


def test_walk_names_what_cannot_be_in_a_bundle(tmp_path):
    root = str(tmp_path)
    for rel in ("MANIFEST.json", "SHA256SUMS", "a/b", "a/c.part", "sub/MANIFEST.json"):
        write(root, rel, b"x")
    os.symlink("b", os.path.join(root, "a", "link"))
    os.makedirs(os.path.join(root, ".mlstack-tmp-merge-1"))
    files, problems = bundle.walk(root)
    assert files == ["a/b", "sub/MANIFEST.json"]
    assert sorted(problems) == [".mlstack-tmp-merge-1/: a temporary directory left by an interrupted write",
                                "a/c.part: a temporary file left by an interrupted write or download",
                                "a/link: a symbolic link (a bundle holds regular files only)"]


def test_manifest_rendering_is_stable():
    manifest = {"format": 1, "files": {"b": {"size": 1, "sha256": "0" * 64}}, "artifacts": [], "created": "x"}
    data = bundle.render_manifest(manifest)
    assert data == bundle.render_manifest(dict(reversed(list(manifest.items()))))
    assert bundle.parse_manifest(data, "M") == manifest


def test_hashing_and_cache(tmp_path):
    root = str(tmp_path / "b")
    payload = os.urandom(5 * 1024 * 1024 + 3)
    write(root, "big", payload)
    write(root, "small", b"s")
    assert stream_sha256(os.path.join(root, "big")) == (hashlib.sha256(payload).hexdigest(), len(payload))
    result = hash_files(root, ["big", "small", "absent"], workers=2)
    assert result.digests["small"] == hashlib.sha256(b"s").hexdigest() and "absent" in result.errors
    cache = HashCache(str(tmp_path / "cache"), root)
    assert cache.hash(["big", "small"]).bytes_read == len(payload) + 1
    cache.save()
    again = HashCache(str(tmp_path / "cache"), root)
    assert again.hash(["big", "small"]).bytes_read == 0
    write(root, "small", b"t")  # rewritten: new inode or mtime
    assert again.hash(["big", "small"]).digests["small"] == hashlib.sha256(b"t").hexdigest()
    inside = HashCache(root, root)
    inside.hash(["small"])
    inside.save()
    assert not os.path.exists(os.path.join(root, "bundle-sha256"))


def test_part_writer_cuts_at_the_size(tmp_path):
    writer = PartWriter(str(tmp_path), 10)
    for chunk in (b"0123", b"456789abcdef", b"", b"ghijklmnopqrstu"):
        writer.write(chunk)
    writer.close()
    assert [(p["name"], p["size"]) for p in writer.parts] == [
        ("bundle.tar.0001", 10), ("bundle.tar.0002", 10), ("bundle.tar.0003", 10), ("bundle.tar.0004", 1)]
    assert open(str(tmp_path / "bundle.tar.0002"), "rb").read() == b"abcdefghij"
    assert writer.whole.hexdigest() == hashlib.sha256(b"0123456789abcdefghijklmnopqrstu").hexdigest()
