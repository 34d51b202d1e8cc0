# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_seal on real bundles with a real key: the result passes the real `sha256sum -c`
and `gpgv`; a re-seal of an unchanged bundle reads nothing and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess

from bundle_maker import Key, cache_dir, flip_byte, keys, make_bundle, needs_of, seal, sealed, sealed_template, write  # noqa: F401 pylint: disable=unused-import


def test_seal_passes_sha256sum_and_gpgv(sealed, keys, tmp_path):
    root, records = sealed
    check = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=root, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "MANIFEST.json: OK" in check.stdout
    listed = [line.split("  ", 1)[1] for line in open(os.path.join(root, "SHA256SUMS")).read().splitlines()]
    assert listed == sorted(listed) and len(listed) == 15
    keyring = str(tmp_path / "site.gpg")
    subprocess.run(["gpg", "--batch", "--yes", "--output", keyring, "--dearmor", keys["site"].public], check=True)
    good = subprocess.run(["gpgv", "--keyring", keyring, os.path.join(root, "SHA256SUMS.sig"),
                           os.path.join(root, "SHA256SUMS")], capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stderr
    assert open(os.path.join(root, "SHA256SUMS.sig")).read().startswith("-----BEGIN PGP SIGNATURE-----")
    manifest = json.load(open(os.path.join(root, "MANIFEST.json")))
    assert manifest["format"] == 1 and manifest["collection"] == {"name": "mlstack.platform", "version": "0.1.0"}
    assert sorted(manifest["files"]) == sorted(path for path in listed if path != "MANIFEST.json")
    assert [a["id"] for a in manifest["artifacts"]] == sorted(r["id"] for r in records)
    debs = [a for a in manifest["artifacts"] if a["kind"] == "debs"][0]
    assert debs["target"] == "debian-bookworm" and "ref" not in debs
    assert not [name for name in os.listdir(root) if name.startswith(".mlstack-tmp-")]


def test_reseal_unchanged_reads_nothing_and_keeps_bytes(capsys, sealed, sealed_template, keys, cache_dir):
    root, records = sealed
    top = ("MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig")
    before = {name: open(os.path.join(root, name), "rb").read() for name in top}
    first = seal(capsys, root, records, keys["site"], cache_dir)  # a copy: new inodes, the cache is cold
    assert first["changed"] is False and first["bytes_hashed"] == first["bytes"] > 0, first
    result = seal(capsys, root, records, keys["site"], cache_dir)
    assert result["changed"] is False and result["bytes_hashed"] == 0, result
    assert result["fingerprint"] == keys["site"].fingerprint
    after = {name: open(os.path.join(root, name), "rb").read() for name in before}
    assert after == before


def test_reseal_after_change_hashes_only_the_changed_file(capsys, sealed, sealed_template, keys, cache_dir):
    root, records = sealed
    seal(capsys, root, records, keys["site"], cache_dir)  # warm the cache
    chart = os.path.join(root, records[3]["files"][0])
    with open(chart, "wb") as stream:
        stream.write(b"another chart" * 100)
    result = seal(capsys, root, records, keys["site"], cache_dir, _ansible_diff=True)
    assert result["changed"] is True
    assert result["bytes_hashed"] == 1300
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=root, check=True)


def test_new_signing_key_reseals(capsys, sealed, sealed_template, keys, cache_dir):
    root, records = sealed
    result = seal(capsys, root, records, keys["other"], cache_dir)
    assert result["changed"] is True and result["fingerprint"] == keys["other"].fingerprint


def test_check_mode_writes_nothing(capsys, tmp_path, keys, cache_dir):
    root = str(tmp_path / "b")
    os.makedirs(root)
    records = make_bundle(root)
    result = seal(capsys, root, records, keys["site"], cache_dir, _ansible_check_mode=True)
    assert result["changed"] is True
    assert not os.path.exists(os.path.join(root, "MANIFEST.json"))
    assert not os.path.exists(cache_dir)


def test_missing_artifact_files_and_temp_files_are_named_and_nothing_written(capsys, tmp_path, keys, cache_dir):
    root = str(tmp_path / "b")
    os.makedirs(root)
    records = make_bundle(root)
    os.unlink(os.path.join(root, records[3]["files"][0]))
    records[2]["files"].append("apt/debian-bookworm/absent_1.0_amd64.deb")
    write(root, "images/oci/blobs/sha256/abc.part", b"half a download")
    result = seal(capsys, root, records, keys["site"], cache_dir)
    assert result["failed"] is True
    lines = result["msg"].splitlines()
    assert lines[0] == "cannot seal %s:" % root
    assert "artifact chart/seldon: file charts/seldon-core-operator-1.17.1.tgz does not exist in %s" % root in lines
    assert any("apt/debian-bookworm/absent_1.0_amd64.deb does not exist" in line for line in lines)
    assert any(line.startswith("images/oci/blobs/sha256/abc.part: a temporary file") for line in lines)
    assert not os.path.exists(os.path.join(root, "MANIFEST.json"))


def test_bad_records_are_refused_naming_the_artifact(capsys, tmp_path, keys, cache_dir):
    root = str(tmp_path / "b")
    os.makedirs(root)
    records = make_bundle(root)
    bad = dict(records[2], id="debs/postgresql")
    result = seal(capsys, root, [bad], keys["site"], cache_dir)
    assert result["failed"] and "artifacts[1] (debs/postgresql)" in result["msg"]
    image = dict(records[0], ref=None)
    result = seal(capsys, root, [image], keys["site"], cache_dir)
    assert result["failed"] and "an image needs its ref" in result["msg"]
    escape = dict(records[3], files=["../outside"])
    result = seal(capsys, root, [escape], keys["site"], cache_dir)
    assert result["failed"] and "../outside is not a plain relative path" in result["msg"]
    result = seal(capsys, root, records + [records[3]], keys["site"], cache_dir)
    assert result["failed"] and "id chart/seldon is given twice" in result["msg"]
    result = seal(capsys, str(tmp_path / "nowhere"), records, keys["site"], cache_dir)
    assert result["failed"] and result["msg"] == "bundle directory %s does not exist" % (tmp_path / "nowhere")
    result = seal(capsys, root, records, keys["site"], cache_dir, signing_key=str(tmp_path / "no.key"))
    assert result["failed"] and result["msg"] == "signing key %s does not exist" % (tmp_path / "no.key")
    assert not os.path.exists(os.path.join(root, "MANIFEST.json"))


def test_passphrase_protected_key(capsys, tmp_path, cache_dir):
    key = Key(str(tmp_path), "guarded", passphrase="correct horse")
    root = str(tmp_path / "b")
    os.makedirs(root)
    records = make_bundle(root, size=512)
    result = seal(capsys, root, records, key, cache_dir, passphrase="wrong")
    assert result["failed"] and "cannot sign" in result["msg"] and key.secret in result["msg"]
    assert not os.path.exists(os.path.join(root, "SHA256SUMS.sig"))
    result = seal(capsys, root, records, key, cache_dir, passphrase="correct horse")
    assert result["changed"] is True, result


def test_an_image_the_layout_does_not_hold_is_refused(capsys, tmp_path, keys, cache_dir):
    root = str(tmp_path / "b")
    os.makedirs(root)
    records = make_bundle(root)
    records[0]["ref"] = "docker.io/library/registry:9.9"
    result = seal(capsys, root, records, keys["site"], cache_dir)
    assert "image docker.io/library/registry:9.9 (image/registry): not named in images/oci/index.json" \
        in result["msg"].splitlines()
    assert not os.path.exists(os.path.join(root, "MANIFEST.json"))


def test_a_readable_signing_key_is_warned_about(capsys, sealed, keys, cache_dir, tmp_path):
    import shutil
    root, records = sealed
    loose = str(tmp_path / "loose.key")
    shutil.copy(keys["site"].secret, loose)
    os.chmod(loose, 0o644)
    key = Key.__new__(Key)
    key.secret = loose
    result = seal(capsys, root, records, key, cache_dir)
    assert any("readable by others" in str(warning) for warning in result.get("warnings", [])), result["warnings"]


def test_seal_then_verify_in_one_run_reads_each_new_file_once(capsys, tmp_path, keys, cache_dir):
    """A first seal with public_key: the verification (bundle_verify's checks) passes and
    reads again only what the seal did not read itself in this run (MANIFEST.json)."""
    root = str(tmp_path / "b")
    os.makedirs(root)
    records = make_bundle(root)
    result = seal(capsys, root, records, keys["site"], cache_dir, public_key=keys["site"].public, needs=needs_of(records))
    assert result["changed"] is True and result.get("failed") is not True, result
    verification = result["verification"]
    assert verification["problems"] == [] and verification["fingerprint"] == keys["site"].fingerprint
    assert verification["images"] == 2 and verification["artifacts"] == len(records)
    assert result["bytes_hashed"] == result["bytes"] > 0
    assert verification["bytes"] == os.path.getsize(os.path.join(root, "MANIFEST.json"))


def test_reseal_verification_reads_every_file_and_finds_damage_the_cache_hides(capsys, sealed, keys, cache_dir):
    """A re-seal knows every digest from its cache (reads nothing), the verification reads
    every file again: a byte flipped in place with size and mtime kept is named."""
    root, records = sealed
    seal(capsys, root, records, keys["site"], cache_dir)  # warm the cache
    again = seal(capsys, root, records, keys["site"], cache_dir, public_key=keys["site"].public, needs=needs_of(records))
    assert again["changed"] is False and again["bytes_hashed"] == 0
    assert again["verification"]["problems"] == []
    assert again["verification"]["bytes"] == again["bytes"] + os.path.getsize(os.path.join(root, "MANIFEST.json"))
    deb = os.path.join(root, records[2]["files"][0])
    info = os.stat(deb)
    flip_byte(deb, 100)
    os.utime(deb, ns=(info.st_atime_ns, info.st_mtime_ns))
    damaged = seal(capsys, root, records, keys["site"], cache_dir, public_key=keys["site"].public)
    assert damaged["failed"] is True and damaged["changed"] is False and damaged["bytes_hashed"] == 0
    assert "failed verification, 1 problem" in damaged["msg"]
    assert "%s: damaged (sha256" % records[2]["files"][0] in damaged["msg"]


def test_seal_verification_names_a_missing_need_and_a_wrong_key(capsys, sealed, keys, cache_dir):
    root, records = sealed
    missing = seal(capsys, root, records, keys["site"], cache_dir, public_key=keys["site"].public,
                   needs=needs_of(records) + ["chart/determined"])
    assert missing["failed"] is True
    assert "artifact chart/determined: missing from MANIFEST.json" in missing["msg"]
    wrong = seal(capsys, root, records, keys["site"], cache_dir, public_key=keys["other"].public)
    assert wrong["failed"] is True and keys["other"].public in wrong["msg"]
    bad = seal(capsys, root, records, keys["site"], cache_dir, public_key=keys["site"].public, needs=[{"no": "id"}])
    assert bad["failed"] is True and "needs[1]" in bad["msg"]


def test_check_mode_skips_the_verification_of_a_seal_it_would_change(capsys, tmp_path, keys, cache_dir):
    root = str(tmp_path / "b")
    os.makedirs(root)
    records = make_bundle(root)
    result = seal(capsys, root, records, keys["site"], cache_dir, public_key=keys["site"].public, _ansible_check_mode=True)
    assert result["changed"] is True and result["verification"] == {"skipped": True}
