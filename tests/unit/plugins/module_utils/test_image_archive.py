# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

import gzip
import json
import os
import tarfile

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import (
    FORMAT_DOCKER,
    FORMAT_DOCKER_OCI,
    FORMAT_OCI,
    ArchiveError,
    read_archive,
)


@pytest.mark.parametrize("layout, expected_format", [("old", FORMAT_DOCKER), ("new", FORMAT_DOCKER_OCI)])
def test_docker_save_single_image(archives, layout, expected_format):
    image = archives.image("a", ["mlstack-test/a:1", "busybox"])
    archive = read_archive(archives.docker_save("a.tar", [image], layout))
    assert archive.format == expected_format
    assert [i.id for i in archive.images] == [image.id]
    assert archive.images[0].refs == ["docker.io/mlstack-test/a:1", "docker.io/library/busybox:latest"]
    assert image.id in archive.images[0].digests
    if layout == "new":
        assert image.manifest_digest in archive.images[0].digests


@pytest.mark.parametrize("layout", ["old", "new"])
def test_docker_save_several_images(archives, layout):
    images = [archives.image("a", ["mlstack-test/a:1"]), archives.image("b", ["mlstack-test/b:1", "mlstack-test/b:2"]),
              archives.image("c", [])]
    archive = read_archive(archives.docker_save("multi.tar", images, layout))
    assert [i.id for i in archive.images] == [i.id for i in images]
    assert archive.refs == ["docker.io/mlstack-test/a:1", "docker.io/mlstack-test/b:1", "docker.io/mlstack-test/b:2"]
    assert archive.images[2].refs == []


def test_same_image_twice_in_manifest_is_merged(archives):
    image = archives.image("a", ["mlstack-test/a:1"])
    twin = archives.image("a", ["mlstack-test/a:2"])
    archive = read_archive(archives.docker_save("twice.tar", [image, twin]))
    assert len(archive.images) == 1
    assert archive.images[0].refs == ["docker.io/mlstack-test/a:1", "docker.io/mlstack-test/a:2"]


def test_oci_layout_with_full_reference_names(archives):
    images = [archives.image("a", ["registry.local:5000/team/a:1"]), archives.image("b", ["mlstack-test/b:1"])]
    archive = read_archive(archives.oci("oci.tar", images))
    assert archive.format == FORMAT_OCI
    assert archive.refs == ["registry.local:5000/team/a:1", "docker.io/mlstack-test/b:1"]
    assert archive.images[0].id == images[0].id
    assert archive.images[0].digests == {images[0].id, images[0].manifest_digest}


def test_oci_bare_tag_names_no_repository(archives):
    image = archives.image("a")
    archive = read_archive(archives.oci("bare.tar", [image], ref_names=["latest"]))
    assert archive.images[0].refs == []
    assert archive.images[0].id == image.id


def test_oci_nested_index_with_absent_platform(archives):
    image = archives.image("a", ["mlstack-test/a:1"])
    archive = read_archive(archives.oci("nested.tar", [image], nested=True))
    found = archive.images[0]
    assert found.id == image.id
    assert image.manifest_digest in found.digests
    assert len(found.digests) == 3  # config, platform manifest, index


def test_reading_skips_layer_data(archives, monkeypatch):
    """Only index, manifests and configs are read: a huge layer costs nothing."""
    image = archives.image("a", ["mlstack-test/a:1"], layers=1)
    image.layers[0] = b"\0" * (8 * 1024 * 1024)
    path = archives.docker_save("big.tar", [image])
    read_sizes = []
    original = tarfile.ExFileObject.read if hasattr(tarfile, "ExFileObject") else None

    def counting_read(self, *args, **kwargs):
        data = original(self, *args, **kwargs)
        read_sizes.append(len(data))
        return data

    if original is not None:
        monkeypatch.setattr(tarfile.ExFileObject, "read", counting_read)
    archive = read_archive(path)
    assert archive.size > 8 * 1024 * 1024
    assert sum(read_sizes) < 64 * 1024


def test_missing_file(tmp_path):
    with pytest.raises(ArchiveError, match="missing.tar: no such file"):
        read_archive(str(tmp_path / "missing.tar"))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.tar"
    path.write_bytes(b"")
    with pytest.raises(ArchiveError, match="empty.tar: the file is empty"):
        read_archive(str(path))


def test_not_a_tar(tmp_path):
    path = tmp_path / "garbage.tar"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ArchiveError, match="garbage.tar: not a readable tar archive"):
        read_archive(str(path))


def test_compressed_archive_is_refused(archives, tmp_path):
    plain = archives.docker_save("a.tar", [archives.image("a", ["mlstack-test/a:1"])])
    path = tmp_path / "a.tar.gz"
    with open(plain, "rb") as source:
        path.write_bytes(gzip.compress(source.read()))
    with pytest.raises(ArchiveError, match="a.tar.gz: the archive is gzip-compressed"):
        read_archive(str(path))


def test_tar_without_index(tmp_path):
    path = tmp_path / "plain.tar"
    with tarfile.open(str(path), "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        tar.addfile(info)
    with pytest.raises(ArchiveError, match="plain.tar: not an image archive"):
        read_archive(str(path))


@pytest.mark.parametrize("layout", ["old", "new"])
def test_truncated_inside_a_layer(archives, layout):
    image = archives.image("a", ["mlstack-test/a:1"])
    path = archives.docker_save("t.tar", [image], layout)
    with tarfile.open(path) as tar:
        layer = [m for m in tar.getmembers() if m.size == len(image.layers[0])][0]
    archives.truncate(path, layer.offset_data + 10)
    with pytest.raises(ArchiveError, match=r"t.tar: truncated"):
        read_archive(path)


def test_truncated_at_a_member_boundary(archives):
    path = archives.docker_save("t.tar", [archives.image("a", ["mlstack-test/a:1"])])
    with tarfile.open(path) as tar:
        last = tar.getmembers()[-1]
    archives.truncate(path, last.offset_data + ((last.size + 511) // 512) * 512)
    with pytest.raises(ArchiveError, match="t.tar: truncated: the tar end-of-archive marker is missing"):
        read_archive(path)


def test_truncated_before_the_index(archives):
    path = archives.docker_save("t.tar", [archives.image("a", ["mlstack-test/a:1"])])
    with tarfile.open(path) as tar:
        manifest = tar.getmember("manifest.json")
    archives.truncate(path, manifest.offset)
    with pytest.raises(ArchiveError, match="t.tar: truncated"):
        read_archive(path)


def test_corrupt_header_in_the_middle(archives):
    path = archives.docker_save("c.tar", [archives.image("a", ["mlstack-test/a:1"])])
    with tarfile.open(path) as tar:
        second = tar.getmembers()[1]
    with open(path, "r+b") as stream:
        stream.seek(second.offset)
        stream.write(b"\xff" * 512)
    with pytest.raises(ArchiveError, match="c.tar: corrupt: invalid tar header at byte %d" % second.offset):
        read_archive(path)


def _rewrite(path, name, data):
    """Replace one member's data, keeping the others."""
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w") as tar:
        for member, content in members:
            if member.name == name:
                content = data
                member.size = len(data)
            tar.addfile(member, tarfile.io.BytesIO(content))


def test_manifest_names_missing_layer(archives):
    image = archives.image("a", ["mlstack-test/a:1"])
    path = archives.docker_save("m.tar", [image])
    with tarfile.open(path) as tar:
        entries = json.loads(tar.extractfile("manifest.json").read())
    entries[0]["Layers"][0] = "nothere/layer.tar"
    _rewrite(path, "manifest.json", json.dumps(entries).encode())
    with pytest.raises(ArchiveError, match="m.tar: layer nothere/layer.tar is named in the index but missing"):
        read_archive(path)


def test_manifest_not_json(archives):
    path = archives.docker_save("m.tar", [archives.image("a", ["mlstack-test/a:1"])])
    _rewrite(path, "manifest.json", b"[{not json")
    with pytest.raises(ArchiveError, match="m.tar: corrupt: index manifest.json is not valid JSON"):
        read_archive(path)


def test_layer_count_mismatch(archives):
    image = archives.image("a", ["mlstack-test/a:1"])
    path = archives.docker_save("m.tar", [image])
    with tarfile.open(path) as tar:
        entries = json.loads(tar.extractfile("manifest.json").read())
    entries[0]["Layers"] = entries[0]["Layers"][:1]
    _rewrite(path, "manifest.json", json.dumps(entries).encode())
    with pytest.raises(ArchiveError, match="lists 2 layers, manifest.json 1"):
        read_archive(path)


def test_oci_manifest_blob_does_not_match_digest(archives):
    image = archives.image("a", ["mlstack-test/a:1"])
    path = archives.oci("o.tar", [image])
    blob = "blobs/sha256/" + image.manifest_digest.split(":", 1)[1]
    _rewrite(path, blob, image.manifest.replace(b"amd64", b"arm64") + b" ")
    with pytest.raises(ArchiveError, match="o.tar: corrupt: manifest %s does not match its digest" % blob):
        read_archive(path)


def test_invalid_tag_in_archive(archives):
    path = archives.docker_save("bad.tar", [archives.image("a", ["Not/A/Valid:Ref"])])
    with pytest.raises(ArchiveError, match="bad.tar: the index names an invalid image reference"):
        read_archive(path)
