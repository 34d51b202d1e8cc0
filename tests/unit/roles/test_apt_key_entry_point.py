# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Role common's entry point apt_key through ansible-playbook on the controller (as the
bundle role runs it): a key gpg made, served as a file:// URL, accepted with its
fingerprint, refused with another one (naming the URL and what it served), and check mode
on a fresh keyring directory reports the download without failing."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

from local_play import run_entry_point

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg makes the test key")


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    base = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run(base + ["--quick-generate-key", "repo <repo@example.invalid>", "ed25519", "sign", "never"],
                   check=True, capture_output=True)
    listing = subprocess.run(base + ["--with-colons", "--list-keys"], check=True, capture_output=True, text=True).stdout
    fingerprint = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][0]
    path = tmp_path_factory.mktemp("served") / "repo.asc"
    path.write_bytes(subprocess.run(base + ["--armor", "--export", fingerprint], check=True, capture_output=True).stdout)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)
    return path, fingerprint


def run(tmp_path: pathlib.Path, url: str, fingerprint: str, *args: str):
    (tmp_path / "keyrings").mkdir(exist_ok=True)
    return run_entry_point(tmp_path, "common", "apt_key", {
        "common_apt_key_name": "test repository", "common_apt_key_url": url,
        "common_apt_key_dest": str(tmp_path / "keyrings" / "repo.asc"), "common_apt_key_fingerprint": fingerprint}, *args)


def test_the_manifest_fingerprint_is_accepted(tmp_path, key):
    path, fingerprint = key
    result = run(tmp_path, path.as_uri(), fingerprint.lower())
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "keyrings" / "repo.asc").read_bytes() == path.read_bytes()


def test_another_fingerprint_is_refused_naming_the_url_and_what_it_served(tmp_path, key):
    path, fingerprint = key
    wanted = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
    result = run(tmp_path, path.as_uri(), wanted)
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert f"{path.as_uri()} served a key with fingerprint(s) {fingerprint}, not the manifest's {wanted}" in out


def test_check_mode_on_a_fresh_keyring_reports_the_download(tmp_path, key):
    path, fingerprint = key
    result = run(tmp_path, path.as_uri(), "0" * 40, "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.recap["changed"] == 1
    assert not (tmp_path / "keyrings" / "repo.asc").exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/repo.gpg", "file:///nonexistent/mlstack/repo.asc"])
def test_a_download_that_fails_is_one_line_naming_the_repository_and_url(tmp_path, url):
    """Nothing listens on 127.0.0.1:9 (discard) here, and the file does not exist: the entry
    point fails with a one-line message naming the repository and the URL (after get_url's
    own failure, which the rescue turns into it), and writes no key."""
    result = run(tmp_path, url, "0" * 40)
    assert result.returncode != 0 and result.recap["failed"] == 1, result.stdout[-3000:]
    fatal = [line for line in result.stdout.splitlines() if line.startswith("fatal: ")]
    assert len(fatal) == 2, result.stdout[-3000:]
    message = json.loads(fatal[-1].split(" => ", 1)[1])["msg"]
    assert message.startswith("Cannot download the signing key of test repository from %s: " % url), message
    assert "\n" not in message and message.endswith("(check the URL, the network path to it and mlstack_proxy).")
    assert "rescued=1" in result.stdout
    assert not (tmp_path / "keyrings" / "repo.asc").exists()
