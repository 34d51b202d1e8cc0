# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_verify on real sealed bundles: signature with the real gpgv, every checksum,
stray files, completeness against what the site needs; every problem at once."""

from __future__ import annotations

import json
import os

from bundle_maker import cache_dir, flip_byte, forge_seal, keys, needs_of, seal, sealed, sealed_template, verify, write  # noqa: F401 pylint: disable=unused-import


def test_a_good_bundle_verifies(capsys, sealed, sealed_template, keys):
    root, records = sealed
    result = verify(capsys, root, keys["site"], needs_of(records))
    assert result.get("failed") is not True, result
    assert result["changed"] is False and result["problems"] == []
    assert result["fingerprint"] == keys["site"].fingerprint
    assert result["files"] == 15 and result["artifacts"] == 5 and result["images"] == 2
    assert result["bytes"] == sum(os.path.getsize(os.path.join(d, f)) for d, _s, fs in os.walk(root) for f in fs
                                  if f not in ("SHA256SUMS", "SHA256SUMS.sig"))


def test_one_changed_byte_is_named(capsys, sealed, sealed_template, keys):
    root, records = sealed
    damaged = records[2]["files"][0]
    flip_byte(os.path.join(root, damaged), 100)
    result = verify(capsys, root, keys["site"], needs_of(records))
    assert result["failed"] is True
    assert len(result["problems"]) == 1
    assert result["problems"][0].startswith("%s: damaged (sha256 " % damaged)
    assert result["msg"].splitlines()[0] == "bundle %s failed verification, 1 problem:" % root
    assert damaged in result["msg"].splitlines()[1]


def test_an_image_removed_from_the_index_is_named(capsys, sealed, sealed_template, keys, cache_dir):
    root, records = sealed
    index_path = os.path.join(root, "images/oci/index.json")
    index = json.load(open(index_path))
    index["manifests"] = [m for m in index["manifests"] if "minio" not in json.dumps(m)]
    write(root, "images/oci/index.json", json.dumps(index).encode())
    result = verify(capsys, root, keys["site"], needs_of(records))
    assert "images/oci/index.json: damaged" in result["msg"]
    line = "image quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z (image/minio): not named in images/oci/index.json"
    assert line in result["problems"]
    # The same when the bundle was signed like that (bundle_seal refuses to: a writer that
    # skipped its checks):
    forge_seal(root, keys["site"])
    result = verify(capsys, root, keys["site"], needs_of(records))
    assert result["problems"] == [line]


def test_missing_blobs_artifacts_and_stray_files_all_at_once(capsys, sealed, sealed_template, keys, cache_dir):
    root, records = sealed
    layer = records[0]["files"][1]
    os.unlink(os.path.join(root, layer))
    manifest = json.load(open(os.path.join(root, "MANIFEST.json")))
    for artifact in manifest["artifacts"]:
        if layer in artifact["files"]:
            artifact["files"].remove(layer)
    forge_seal(root, keys["site"], manifest["artifacts"])  # signed, but the image lacks a layer
    write(root, "charts/extra-0.1.0.tgz", b"not listed")
    os.unlink(os.path.join(root, records[4]["files"][0]))
    needs = needs_of(records) + ["wheels/label_studio@debian-bookworm"]
    result = verify(capsys, root, keys["site"], needs)
    problems = result["problems"]
    assert "charts/extra-0.1.0.tgz: present but not listed in SHA256SUMS" in problems
    assert "controller/mlstack-platform-0.1.0.tar.gz: missing" in problems
    assert "artifact collection/mlstack.platform: file controller/mlstack-platform-0.1.0.tar.gz missing" in problems
    assert "artifact wheels/label_studio@debian-bookworm: missing from MANIFEST.json" in problems
    assert "image docker.io/library/registry:2.8.3 (image/registry): blob %s missing" % layer in problems
    assert len(problems) == 5
    assert result["msg"].count("\n") == 5


def test_a_wrong_key_is_refused_naming_the_key_file(capsys, sealed, sealed_template, keys):
    root, _records = sealed
    result = verify(capsys, root, keys["other"])
    assert result["failed"] is True
    assert "which is not in the public key file %s" % keys["other"].public in result["msg"]
    assert keys["site"].fingerprint in result["msg"]


def test_an_altered_sha256sums_is_a_bad_signature(capsys, sealed, sealed_template, keys):
    root, _records = sealed
    sums = os.path.join(root, "SHA256SUMS")
    lines = open(sums).read().splitlines()
    write(root, "SHA256SUMS", ("\n".join(lines[:-1]) + "\n").encode())
    result = verify(capsys, root, keys["site"])
    assert result["failed"] is True
    assert "is a BAD signature" in result["msg"] and keys["site"].public in result["msg"]


def test_a_binary_public_key_works_too(capsys, sealed, sealed_template, keys, tmp_path):
    import subprocess
    root, _records = sealed
    binary = str(tmp_path / "site.gpg")
    subprocess.run(["gpg", "--batch", "--yes", "--output", binary, "--dearmor", keys["site"].public], check=True)
    result = verify(capsys, root, keys["site"], public_key=binary)
    assert result.get("failed") is not True, result


def test_not_a_bundle(capsys, tmp_path, keys):
    empty = str(tmp_path / "empty")
    os.makedirs(empty)
    result = verify(capsys, empty, keys["site"])
    assert result["msg"] == "%s is not a bundle: it has no MANIFEST.json" % empty
    write(empty, "MANIFEST.json", b'{"format": 2, "artifacts": [], "files": {}}')
    result = verify(capsys, empty, keys["site"])
    assert result["msg"] == "%s/MANIFEST.json has bundle format 2; this collection reads format 1" % empty
    write(empty, "MANIFEST.json", b"not json")
    assert "is not a bundle manifest" in verify(capsys, empty, keys["site"])["msg"]
    result = verify(capsys, str(tmp_path / "absent"), keys["site"])
    assert result["msg"] == "%s is not a bundle: no such directory" % (tmp_path / "absent")


def test_bad_inputs(capsys, sealed, sealed_template, keys, tmp_path):
    root, _records = sealed
    result = verify(capsys, root, keys["site"], [{"name": "minio"}])
    assert result["msg"].startswith("needs[1]: ")
    result = verify(capsys, root, keys["site"], [{"id": "image/minio", "tag": "x"}])
    assert result["msg"] == "needs[1] (image/minio): unknown keys tag"
    result = verify(capsys, root, keys["site"], public_key=str(tmp_path / "none.asc"))
    assert result["msg"] == "public key %s does not exist" % (tmp_path / "none.asc")
    junk = write(str(tmp_path), "junk.asc", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n@@@@\n-----END PGP PUBLIC KEY BLOCK-----\n")
    result = verify(capsys, root, keys["site"], public_key=os.path.join(str(tmp_path), junk))
    assert result["msg"] == "%s: armoured block is not valid base64" % os.path.join(str(tmp_path), junk)
    os.unlink(os.path.join(root, "SHA256SUMS.sig"))
    assert verify(capsys, root, keys["site"])["msg"] == "%s is not signed: it has no SHA256SUMS.sig" % root


def test_a_need_with_another_ref_is_named(capsys, sealed, sealed_template, keys):
    root, _records = sealed
    result = verify(capsys, root, keys["site"], [{"id": "image/registry", "ref": "docker.io/library/registry:3.0.0"}])
    assert "artifact image/registry: the site needs ref docker.io/library/registry:3.0.0, the bundle has " \
           "docker.io/library/registry:2.8.3" in result["problems"]
    assert "image docker.io/library/registry:3.0.0 (image/registry): not named in images/oci/index.json" \
        in result["problems"]


def test_needs_as_the_artifact_layer_gives_them(capsys, sealed, keys):
    """Entries with the layer's fields (kind, key, target, hosts, roles) are accepted; a
    version or digest given is compared with the bundle's record."""
    root, _records = sealed
    needs = [{"id": "debs/postgresql@debian-bookworm", "kind": "debs", "key": "postgresql",
              "target": "debian-bookworm", "hosts": ["db1"], "roles": ["postgres"], "version": "16"},
             {"id": "chart/seldon", "kind": "chart", "key": "seldon", "hosts": [], "roles": ["seldon"],
              "version": "1.17.1"}]
    result = verify(capsys, root, keys["site"], needs)
    assert result["problems"] == ["artifact debs/postgresql@debian-bookworm: the site needs version 16, "
                                  "the bundle has 15"]
