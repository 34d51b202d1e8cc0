# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils._archive_sources import (
    SourceError,
    check_required_images,
    collect_sources,
)
from ansible_collections.mlstack.platform.plugins.module_utils._checksum import (
    ChecksumError,
    HashingReader,
    file_sha256,
    normalize_sha256,
    read_sha256sums,
)
from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import ArchiveError, read_archive


def _write(path, data):
    with open(path, "wb") as stream:
        stream.write(data)
    return str(path)


def test_file_sha256_matches_hashlib(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = _write(tmp_path / "f", data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_hashing_reader_streams_and_hashes(tmp_path):
    data = os.urandom(2 * 1024 * 1024 + 5)
    path = _write(tmp_path / "f", data)
    with HashingReader(path) as reader:
        assert len(reader) == len(data)
        parts = [reader.read(8192)]
        parts.extend(reader)
        assert b"".join(parts) == data
        assert reader.complete
        assert reader.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("value", ["A" * 64, "sha256:" + "a" * 64, " " + "a" * 64 + "\n"])
def test_normalize_sha256(value):
    assert normalize_sha256(value) == "a" * 64


@pytest.mark.parametrize("value", ["abc", "g" * 64, "md5:" + "a" * 32])
def test_normalize_sha256_rejects(value):
    with pytest.raises(ChecksumError):
        normalize_sha256(value)


def test_read_sha256sums_both_styles(tmp_path):
    (tmp_path / "images").mkdir()
    sums = _write(tmp_path / "SHA256SUMS", (
        "# comment\n"
        + "a" * 64 + "  images/one.tar\n"
        + "B" * 64 + " *two.tar\n"
        + "SHA256 (three.tar) = " + "c" * 64 + "\n").encode())
    result = read_sha256sums(sums)
    assert result == {
        os.path.realpath(str(tmp_path / "images" / "one.tar")): "a" * 64,
        os.path.realpath(str(tmp_path / "two.tar")): "b" * 64,
        os.path.realpath(str(tmp_path / "three.tar")): "c" * 64,
    }


def test_read_sha256sums_bad_line(tmp_path):
    sums = _write(tmp_path / "SHA256SUMS", b"not a checksum line\n")
    with pytest.raises(ChecksumError, match="SHA256SUMS, line 1"):
        read_sha256sums(sums)


def test_collect_sources_from_directory_files_and_entries(archives, tmp_path):
    image = archives.image("a", ["mlstack-test/a:1"])
    first = archives.docker_save("b.tar", [image])
    second = archives.docker_save("a.tar", [image])
    _write(tmp_path / "notes.txt", b"x")
    sources = collect_sources(
        [str(tmp_path), first], ["*.tar"],
        [{"path": second, "sha256": "sha256:" + "A" * 64, "images": ["mlstack-test/a:1"]}])
    assert [s.path for s in sources] == [second, first]
    assert sources[0].sha256 == "a" * 64
    assert sources[0].images == ["docker.io/mlstack-test/a:1"]


def test_collect_sources_with_sha256sums(archives, tmp_path):
    path = archives.docker_save("a.tar", [archives.image("a", ["mlstack-test/a:1"])])
    digest = archives.sha256(path)
    sums = _write(tmp_path / "SHA256SUMS", ("%s  a.tar\n" % digest).encode())
    sources = collect_sources([path], ["*.tar"], [], sums)
    assert sources[0].sha256 == digest


def test_collect_sources_archive_not_in_sha256sums(archives, tmp_path):
    path = archives.docker_save("a.tar", [archives.image("a", ["mlstack-test/a:1"])])
    sums = _write(tmp_path / "SHA256SUMS", ("%s  other.tar\n" % ("a" * 64)).encode())
    with pytest.raises(SourceError, match="a.tar is not listed in .*SHA256SUMS"):
        collect_sources([path], ["*.tar"], [], sums)


def test_collect_sources_errors(tmp_path):
    with pytest.raises(SourceError, match="nothere.tar: no such file or directory"):
        collect_sources([str(tmp_path / "nothere.tar")], ["*.tar"], [])
    with pytest.raises(SourceError, match="holds no file matching \\*.tar"):
        collect_sources([str(tmp_path)], ["*.tar"], [])
    with pytest.raises(SourceError, match="x.tar: 'zz' is not a SHA-256 digest"):
        collect_sources([], ["*.tar"], [{"path": "x.tar", "sha256": "zz"}])


def test_required_image_missing(archives):
    path = archives.docker_save("a.tar", [archives.image("a", ["mlstack-test/a:1"])])
    source = collect_sources([], [], [{"path": path, "images": ["mlstack-test/a:2"]}])[0]
    with pytest.raises(ArchiveError, match="a.tar: it does not contain docker.io/mlstack-test/a:2 "
                                           "\\(it holds: docker.io/mlstack-test/a:1\\)"):
        check_required_images(source, read_archive(path))
