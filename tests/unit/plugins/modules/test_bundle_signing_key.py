# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_signing_key with the real gpg: made once, 0600, public key beside it, never
returned; the key it makes signs a bundle that verifies."""

from __future__ import annotations

import os
import stat

from ansible_collections.mlstack.platform.plugins.modules import bundle_signing_key

from bundle_maker import cache_dir, make_bundle, run_module, seal, verify  # noqa: F401 pylint: disable=unused-import


class Files:
    def __init__(self, secret, public):
        self.secret, self.public = secret, public


def test_made_once_then_left_alone(capsys, tmp_path, cache_dir):
    path = str(tmp_path / "credentials" / "bundle-signing.key")
    result = run_module(capsys, bundle_signing_key, {"path": path})
    assert result["changed"] is True and result["generated"] is True
    public = str(tmp_path / "credentials" / "bundle-signing.pub.asc")
    assert result["public_key"] == public and len(result["fingerprint"]) == 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    secret = open(path).read()
    assert secret.startswith("-----BEGIN PGP PRIVATE KEY BLOCK-----")
    assert open(public).read().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert "PRIVATE KEY" not in str(result) and secret[40:120] not in str(result)
    again = run_module(capsys, bundle_signing_key, {"path": path})
    assert again["changed"] is False and again["fingerprint"] == result["fingerprint"]
    assert open(path).read() == secret
    # The key signs a bundle that bundle_verify accepts with the public key file.
    root = str(tmp_path / "bundle")
    os.makedirs(root)
    records = make_bundle(root, size=256)
    key = Files(path, public)
    assert seal(capsys, root, records, key, cache_dir)["fingerprint"] == result["fingerprint"]
    assert verify(capsys, root, key)["fingerprint"] == result["fingerprint"]


def test_public_key_written_again_and_a_foreign_one_refused(capsys, tmp_path):
    path = str(tmp_path / "site.asc")
    first = run_module(capsys, bundle_signing_key, {"path": path, "public_key_path": str(tmp_path / "pub.asc")})
    os.unlink(str(tmp_path / "pub.asc"))
    check = run_module(capsys, bundle_signing_key, {"path": path, "public_key_path": str(tmp_path / "pub.asc"),
                                                    "_ansible_check_mode": True})
    assert check["changed"] is True and not os.path.exists(str(tmp_path / "pub.asc"))
    result = run_module(capsys, bundle_signing_key, {"path": path, "public_key_path": str(tmp_path / "pub.asc")})
    assert result["changed"] is True and result["generated"] is False
    assert result["fingerprint"] == first["fingerprint"]
    other = run_module(capsys, bundle_signing_key, {"path": str(tmp_path / "other.key")})
    result = run_module(capsys, bundle_signing_key, {"path": path, "public_key_path": other["public_key"]})
    assert result["failed"] is True
    assert result["msg"].startswith("public key %s belongs to key %s, not to %s of %s"
                                    % (other["public_key"], other["fingerprint"], first["fingerprint"], path))


def test_check_mode_and_bad_inputs(capsys, tmp_path):
    path = str(tmp_path / "site.key")
    result = run_module(capsys, bundle_signing_key, {"path": path, "_ansible_check_mode": True})
    assert result["changed"] is True and result["fingerprint"] is None
    assert os.listdir(str(tmp_path)) == []
    open(str(tmp_path / "site.pub.asc"), "w").write("x")
    result = run_module(capsys, bundle_signing_key, {"path": path})
    assert result["msg"] == ("public key %s exists without its secret key %s; move it away to make a new key"
                             % (tmp_path / "site.pub.asc", path))
    result = run_module(capsys, bundle_signing_key, {"path": str(tmp_path)})
    assert result["msg"].endswith("is a directory; give the secret key file's path")
    open(path, "w").write("not a key")
    result = run_module(capsys, bundle_signing_key, {"path": path})
    assert result["failed"] is True and path in result["msg"]
