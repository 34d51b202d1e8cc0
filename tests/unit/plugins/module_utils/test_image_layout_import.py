# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Streams built from OCI layouts, and the importer loading layouts and OCI archives
into an in-memory engine that reads what it is streamed like an engine would (the
stream is written out and read as an archive: docker-archive or OCI)."""

from __future__ import annotations

import json
import os
import tarfile

import pytest

from oci_fixtures import OciImage, blob_file, corrupt_blob, layer, oci_archive_file, sha256, write_layout

from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import (
    FORMAT_DOCKER,
    FORMAT_LAYOUT,
    FORMAT_OCI,
    read_archive,
    read_layout,
)
from ansible_collections.mlstack.platform.plugins.module_utils._image_import import (
    LOADED,
    PRESENT,
    RETAGGED,
    ImageImporter,
    ImageImportError,
)
from ansible_collections.mlstack.platform.plugins.module_utils._image_stream import (
    DOCKER_ARCHIVE,
    OCI_ARCHIVE,
    LayoutStream,
)
from ansible_collections.mlstack.platform.plugins.module_utils._oci_layout import (
    LayoutError,
    open_layout,
    read_images,
)

DEBIAN = "docker.io/mlstack-lab/debian:bookworm"
REGISTRY = "docker.io/mlstack-lab/registry:2.8"
PYPI = "docker.io/mlstack-lab/pypiserver:2.4.2"


@pytest.fixture
def layout(tmp_path):
    base = layer("base", 200000)  # several chunks of the stream's reads
    images = [OciImage(DEBIAN, "debian", shared=base), OciImage(REGISTRY, "registry", shared=base),
              OciImage(PYPI, "pypi")]
    return str(tmp_path / "oci"), images, write_layout(str(tmp_path / "oci"), images)


@pytest.fixture
def stream_engine(fake_engine, tmp_path):
    """An engine that receives a stream, writes it to a file and reads that as an
    archive (failing like an engine on a cut or unreadable stream)."""

    class StreamEngine(fake_engine):
        name = "stream"

        def __init__(self, refs=None, docker=True):
            super().__init__(refs)
            self.wants_docker_archive = docker
            self.received = []
            self.content = set()
            self.discarded = []

        def load(self, path, reader=None):
            self.calls.append(("load", path, type(reader).__name__))
            if reader is None:
                archive = read_archive(path)
            else:
                target = str(tmp_path / ("received-%d.tar" % len(self.received)))
                with open(target, "wb") as stream:
                    for chunk in reader:
                        stream.write(chunk)
                        self.content.add(("partial", target))
                archive = read_archive(target)
                self.received.append(archive)
            for image in archive.images:
                self.ids.add(image.id)
                for ref in image.refs:
                    self._refs[ref] = image.id

        def content_state(self):
            return set(self.content)

        def discard_new_content(self, before):
            self.discarded.append(self.content - before)
            self.content = set(before)
            return []

    return StreamEngine


def _stream_bytes(stream):
    data = b"".join(iter(lambda: stream.read(7000), b""))
    assert len(data) == len(stream)
    return data


@pytest.mark.parametrize("shape, expected_format", [(DOCKER_ARCHIVE, FORMAT_DOCKER), (OCI_ARCHIVE, FORMAT_OCI)])
def test_stream_is_a_complete_archive_of_the_chosen_images(layout, tmp_path, shape, expected_format):
    path, images, dummy = layout
    store = open_layout(path)
    chosen = [image for image in read_images(store) if image.ref in (DEBIAN, REGISTRY)]
    target = tmp_path / "stream.tar"
    with LayoutStream(store, chosen, shape) as stream:
        target.write_bytes(_stream_bytes(stream))
    archive = read_archive(str(target))
    assert archive.format == expected_format
    assert sorted((image.id, image.refs) for image in archive.images) == sorted(
        [(images[0].id, [DEBIAN]), (images[1].id, [REGISTRY])])
    with tarfile.open(str(target)) as tar:
        names = tar.getnames()
        assert len(names) == len(set(names))  # the shared layer once
        assert "blobs/sha256/" + sha256(images[0].layers[0]).split(":")[1] in names
        assert not any(sha256(data).split(":")[1] in name for data in images[2].blobs for name in names)
        if shape == DOCKER_ARCHIVE:
            manifest = json.loads(tar.extractfile("manifest.json").read())
            assert [entry["RepoTags"] for entry in manifest] == [["mlstack-lab/debian:bookworm"],
                                                                 ["mlstack-lab/registry:2.8"]]
            assert manifest[0]["Layers"] == ["blobs/sha256/" + sha256(data).split(":")[1] for data in images[0].layers]
        else:
            index = json.loads(tar.extractfile("index.json").read())
            assert [entry["annotations"]["io.containerd.image.name"] for entry in index["manifests"]] == [
                DEBIAN, REGISTRY]


def test_stream_of_a_damaged_blob_stops_before_the_blob_ends(layout):
    path, images, dummy = layout
    corrupt_blob(path, images[0].layers[0])
    store = open_layout(path)
    stream = LayoutStream(store, read_images(store)[:1], DOCKER_ARCHIVE)
    received = bytearray()
    with pytest.raises(LayoutError, match="image docker.io/mlstack-lab/debian:bookworm: blob blobs/sha256/%s does "
                       "not match its digest" % sha256(images[0].layers[0]).split(":")[1]):
        for chunk in stream:
            received += chunk
    assert len(received) < len(stream)
    assert bytes(images[0].layers[0][-1000:]) not in bytes(received)


def test_layout_loads_only_missing_images_and_then_is_present(layout, stream_engine):
    path, images, dummy = layout
    engine = stream_engine({DEBIAN: images[0].id})
    importer = ImageImporter(engine)
    archive = read_layout(path, [DEBIAN, "mlstack-lab/registry:2.8"])
    assert archive.format == FORMAT_LAYOUT
    plans = importer.plan([(archive, None)])
    assert [p.status for p in plans[0].images] == [PRESENT, LOADED]
    importer.verify_before(plans)
    importer.apply(plans[0])
    assert [sorted(image.refs) for image in engine.received[0].images] == [[REGISTRY]]  # debian not streamed
    assert engine.refs()[REGISTRY] == images[1].id
    result = plans[0].result()
    assert result["format"] == "oci-layout" and result["sha256_verified"] is True
    loads = len(engine.changes)
    plans = importer.plan([(read_layout(path, [DEBIAN, REGISTRY]), None)])
    importer.verify_before(plans)
    importer.apply(plans[0])
    assert plans[0].status == PRESENT and len(engine.changes) == loads


def test_layout_into_containerd_gets_an_oci_archive(layout, stream_engine):
    path, images, dummy = layout
    engine = stream_engine(docker=False)
    importer = ImageImporter(engine)
    plans = importer.plan([(read_layout(path), None)])
    importer.verify_before(plans)
    importer.apply(plans[0])
    assert engine.received[0].format == FORMAT_OCI
    assert sorted(engine.refs()) == sorted([DEBIAN, REGISTRY, PYPI])


def test_layout_image_under_another_name_is_retagged(layout, stream_engine):
    path, images, dummy = layout
    engine = stream_engine({"docker.io/library/other:1": images[2].id})
    importer = ImageImporter(engine)
    plans = importer.plan([(read_layout(path, [PYPI]), None)])
    assert plans[0].images[0].status == RETAGGED
    importer.apply(plans[0])
    assert engine.changes == [("tag", images[2].id, PYPI)]


@pytest.mark.parametrize("mode", ["before", "while", "never"])
def test_missing_blob_fails_before_anything_changes(layout, stream_engine, mode):
    path, images, dummy = layout
    os.remove(blob_file(path, images[1].layers[-1]))
    engine = stream_engine()
    importer = ImageImporter(engine, mode)
    plans = importer.plan([(read_layout(path), None)])
    with pytest.raises(ImageImportError, match="image layout %s: image docker.io/mlstack-lab/registry:2.8: blob "
                       "blobs/sha256/%s is missing; nothing was loaded" % (path, sha256(images[1].layers[-1])[7:])):
        importer.verify_before(plans)
    assert engine.changes == []


def test_damaged_blob_in_before_mode_fails_in_check_and_loads_nothing(layout, stream_engine):
    path, images, dummy = layout
    corrupt_blob(path, images[2].config)
    engine = stream_engine()
    importer = ImageImporter(engine, "before")
    plans = importer.plan([(read_layout(path), None)])
    with pytest.raises(ImageImportError, match="image docker.io/mlstack-lab/pypiserver:2.4.2: blob blobs/sha256/%s "
                       "does not match its digest.*; nothing was loaded" % images[2].id[7:]):
        importer.verify_before(plans)
    assert engine.changes == []


def test_damaged_blob_in_while_mode_fails_while_streaming_and_leaves_nothing(layout, stream_engine):
    path, images, dummy = layout
    corrupt_blob(path, images[1].layers[-1])
    engine = stream_engine({REGISTRY: "sha256:older"}, docker=False)
    engine.content.add("old-blob")
    importer = ImageImporter(engine, "while")
    plans = importer.plan([(read_layout(path), None)])
    importer.verify_before(plans)  # same size: only streaming finds it
    with pytest.raises(ImageImportError, match="image layout %s: image docker.io/mlstack-lab/registry:2.8: blob "
                       "blobs/sha256/%s does not match its digest .*; nothing of it is left in the engine"
                       % (path, sha256(images[1].layers[-1])[7:])):
        importer.apply(plans[0])
    assert engine.refs() == {REGISTRY: "sha256:older"}
    assert engine.received == []
    assert engine.discarded and engine.content == {"old-blob"}


def test_oci_archive_for_docker_is_converted_and_only_missing_images_streamed(layout, stream_engine, tmp_path):
    path, images, dummy = layout
    archive_path = oci_archive_file(str(tmp_path / "skopeo.tar"), path)
    archive = read_archive(archive_path)
    assert archive.format == FORMAT_OCI and archive.oci is not None
    engine = stream_engine({PYPI: images[2].id})
    importer = ImageImporter(engine)
    plans = importer.plan([(archive, None)])
    importer.verify_before(plans)
    importer.apply(plans[0])
    assert engine.received[0].format == FORMAT_DOCKER  # what Docker 20.10 can load
    assert sorted(ref for image in engine.received[0].images for ref in image.refs) == [DEBIAN, REGISTRY]
    assert engine.calls[[c[0] for c in engine.calls].index("load")][2] == "LayoutStream"


def test_oci_archive_for_containerd_is_streamed_as_it_is(layout, stream_engine, tmp_path):
    path = layout[0]
    archive_path = oci_archive_file(str(tmp_path / "skopeo.tar"), path)
    engine = stream_engine(docker=False)
    importer = ImageImporter(engine)
    plans = importer.plan([(read_archive(archive_path), None)])
    importer.apply(plans[0])
    assert ("load", archive_path, "NoneType") in engine.calls


def test_converted_oci_archive_is_hashed_before_even_in_while_mode(layout, stream_engine, tmp_path):
    path = layout[0]
    archive_path = oci_archive_file(str(tmp_path / "skopeo.tar"), path)
    engine = stream_engine()
    importer = ImageImporter(engine, "while")
    plans = importer.plan([(read_archive(archive_path), "0" * 64)])
    with pytest.raises(ImageImportError, match="skopeo.tar: sha256 mismatch.*nothing was loaded"):
        importer.verify_before(plans)
    assert engine.changes == []


def test_oci_archive_with_a_damaged_layer_fails_naming_it_for_docker(layout, stream_engine, tmp_path):
    path, images, dummy = layout
    corrupt_blob(path, images[2].layers[0])
    archive_path = oci_archive_file(str(tmp_path / "skopeo.tar"), path)
    engine = stream_engine()
    importer = ImageImporter(engine, "never")
    plans = importer.plan([(read_archive(archive_path), None)])
    importer.verify_before(plans)
    with pytest.raises(ImageImportError, match="image archive %s: image docker.io/mlstack-lab/pypiserver:2.4.2: blob "
                       "blobs/sha256/%s does not match" % (archive_path, sha256(images[2].layers[0])[7:])):
        importer.apply(plans[0])
    assert engine.refs() == {}


def test_failed_load_leaves_no_dangling_image(archives, fake_engine):
    """The archive's first image takes a name that held another image before; the load
    then fails: the name points back and the new image, nameless now, is removed."""
    d = archives.image("d", ["mlstack-test/d:1"])
    e = archives.image("e", ["mlstack-test/e:1"])
    path = archives.docker_save("de.tar", [d, e])
    engine = fake_engine({"docker.io/mlstack-test/d:1": "sha256:older"})
    engine.fail_load_after_images = 1
    importer = ImageImporter(engine)
    plans = importer.plan([(read_archive(path), None)])
    with pytest.raises(ImageImportError, match="loading into fake failed"):
        importer.apply(plans[0])
    assert engine.refs() == {"docker.io/mlstack-test/d:1": "sha256:older"}
    assert d.id not in engine.ids and e.id not in engine.ids
    assert ("remove", d.id) in engine.changes


def test_names_the_engine_added_are_removed_too(archives, fake_engine):
    d = archives.image("d", ["mlstack-test/d:1"])
    path = archives.docker_save("d.tar", [d])
    engine = fake_engine()
    load = engine.load

    def load_adding_a_name(archive_path, reader=None):
        load(archive_path, reader)
        engine._refs["docker.io/library/import-2026-12-01:d"] = d.id
        raise ImageImportError("image archive %s: the engine gave up" % archive_path)

    engine.load = load_adding_a_name
    importer = ImageImporter(engine)
    with pytest.raises(ImageImportError, match="gave up"):
        importer.apply(importer.plan([(read_archive(path), None)])[0])
    assert engine.refs() == {} and d.id not in engine.ids


def test_oci_archive_without_a_usable_platform_is_still_read(tmp_path, stream_engine):
    """An OCI archive whose entry is an index of two other platforms (no linux/amd64),
    both present: still an archive (identified by its index digest), but not converted
    for Docker: it is streamed as it is."""
    arm, ppc = OciImage(None, "arm"), OciImage(None, "ppc")
    path = write_layout(str(tmp_path / "multi"), [arm, ppc])
    index_doc = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.manifest_digest,
         "size": len(image.manifest), "platform": {"os": "linux", "architecture": arch}}
        for image, arch in ((arm, "arm64"), (ppc, "ppc64le"))]}).encode()
    with open(blob_file(path, index_doc), "wb") as stream:
        stream.write(index_doc)
    with open(os.path.join(path, "index.json"), "w", encoding="utf-8") as stream:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256(index_doc), "size": len(index_doc),
            "annotations": {"org.opencontainers.image.ref.name": "docker.io/mlstack-test/multi:1"}}]}, stream)
    archive = read_archive(oci_archive_file(str(tmp_path / "multi.tar"), path))
    assert archive.format == FORMAT_OCI and archive.oci is None
    assert archive.images[0].id == sha256(index_doc)
    engine = stream_engine()
    importer = ImageImporter(engine)
    assert importer.stream_shape(archive) is None
