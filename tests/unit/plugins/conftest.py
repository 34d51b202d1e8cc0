# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Image archives made by the tests: docker save (before and since Docker 25), OCI
layouts, several images per archive, and the ways archives break; and an in-memory
engine that "loads" an archive by reading its index and can fail half-way."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import typing as t

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import read_archive
from ansible_collections.mlstack.platform.plugins.module_utils._image_engine import EngineError, ImageEngine


@pytest.fixture(autouse=True)
def _module_side_warnings(monkeypatch):
    """Modules run in-process here. Once anything imports Ansible's controller code (the
    filter plugins' tests import ansible.errors), ansible-core flags the process as the
    controller and AnsibleModule.warn() goes to the display instead of the module's
    result. A real module runs in its own process on the target, where the flag is off:
    keep it off for every test."""
    from ansible.module_utils import _internal
    monkeypatch.setattr(_internal, "is_controller", False)


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(content: bytes) -> bytes:
    """A real (tiny) layer: a tar holding one file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("data.bin")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class TestImage:
    """An image for the archives: its layers and config; ``id`` is the config digest."""

    __test__ = False  # not a pytest test class

    def __init__(self, seed: str, tags: t.Sequence[str] = (), layers: int = 2) -> None:
        self.tags = list(tags)
        self.layers = [layer_tar(("%s-%d" % (seed, n)).encode() * 100) for n in range(layers)]
        self.config = json.dumps({
            "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer) for layer in self.layers]},
        }, sort_keys=True).encode()
        self.id = sha256(self.config)
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.id, "size": len(self.config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}
                       for layer in self.layers],
        }, sort_keys=True).encode()
        self.manifest_digest = sha256(self.manifest)


class ArchiveWriter:
    """Writes members in order; the index files go last, as docker save does."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.members: t.List[t.Tuple[str, bytes]] = []

    def add(self, name: str, data: bytes) -> None:
        if name not in [member[0] for member in self.members]:
            self.members.append((name, data))

    def add_blob(self, data: bytes) -> str:
        digest = sha256(data)
        self.add("blobs/sha256/" + digest.split(":", 1)[1], data)
        return digest

    def write(self) -> str:
        with tarfile.open(self.path, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name, data in self.members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return self.path


def docker_save(path: str, images: t.Sequence[TestImage], layout: str = "old") -> str:
    """A docker save archive: ``old`` (<id>.json, <dir>/layer.tar) or ``new`` (Docker 25+)."""
    writer = ArchiveWriter(path)
    entries, index = [], []
    for image in images:
        if layout == "old":
            layers = []
            for layer in image.layers:
                directory = hashlib.sha256(layer + image.id.encode()).hexdigest()
                writer.add(directory + "/VERSION", b"1.0")
                writer.add(directory + "/json", b"{}")
                writer.add(directory + "/layer.tar", layer)
                layers.append(directory + "/layer.tar")
            config_name = image.id.split(":", 1)[1] + ".json"
            writer.add(config_name, image.config)
        else:
            layers = ["blobs/sha256/" + writer.add_blob(layer).split(":", 1)[1] for layer in image.layers]
            config_name = "blobs/sha256/" + writer.add_blob(image.config).split(":", 1)[1]
            writer.add_blob(image.manifest)
            for tag in image.tags or [None]:
                annotations = {}
                if tag:
                    repository, dummy, version = tag.partition(":")
                    qualified = "docker.io/%s%s:%s" % ("" if "/" in repository else "library/", repository,
                                                       version or "latest")
                    annotations = {"io.containerd.image.name": qualified,
                                   "org.opencontainers.image.ref.name": version or "latest"}
                index.append({"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                              "size": len(image.manifest), "annotations": annotations})
        entries.append({"Config": config_name, "RepoTags": image.tags or None, "Layers": layers})
    if layout == "new":
        writer.add("index.json", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}).encode())
        writer.add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    writer.add("manifest.json", json.dumps(entries).encode())
    return writer.write()


def oci_archive(path: str, images: t.Sequence[TestImage], ref_names: t.Optional[t.Sequence[t.Optional[str]]] = None,
                nested: bool = False) -> str:
    """An OCI layout as skopeo/buildah write it: ``org.opencontainers.image.ref.name``
    annotations only. ``nested`` wraps each image in an index that also names an
    arm64 manifest whose blobs are not in the archive (a single-platform export)."""
    writer = ArchiveWriter(path)
    writer.add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    descriptors = []
    for number, image in enumerate(images):
        for layer in image.layers:
            writer.add_blob(layer)
        writer.add_blob(image.config)
        writer.add_blob(image.manifest)
        descriptor = {"mediaType": OCI_MANIFEST, "digest": image.manifest_digest, "size": len(image.manifest)}
        if nested:
            index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                dict(descriptor, platform={"architecture": "amd64", "os": "linux"}),
                {"mediaType": OCI_MANIFEST, "digest": sha256(b"elsewhere"), "size": 9,
                 "platform": {"architecture": "arm64", "os": "linux"}}]}).encode()
            descriptor = {"mediaType": OCI_INDEX, "digest": writer.add_blob(index), "size": len(index)}
        name = ref_names[number] if ref_names else (image.tags[0] if image.tags else None)
        if name:
            descriptor["annotations"] = {"org.opencontainers.image.ref.name": name}
        descriptors.append(descriptor)
    writer.add("index.json", json.dumps({"schemaVersion": 2, "manifests": descriptors}).encode())
    return writer.write()


def truncate(path: str, size: int) -> str:
    with open(path, "r+b") as stream:
        stream.truncate(size)
    return path


def file_sha256(path: str) -> str:
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()


class Archives:
    """The ``archives`` fixture: builders bound to a temporary directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def docker_save(self, name: str, images: t.Sequence[TestImage], layout: str = "old") -> str:
        return docker_save(self.path(name), images, layout)

    def oci(self, name: str, images: t.Sequence[TestImage], **kwargs: t.Any) -> str:
        return oci_archive(self.path(name), images, **kwargs)

    image = staticmethod(TestImage)
    truncate = staticmethod(truncate)
    sha256 = staticmethod(file_sha256)


@pytest.fixture
def archives(tmp_path: t.Any) -> Archives:
    return Archives(str(tmp_path))


class FakeEngine(ImageEngine):
    name = "fake"

    def __init__(self, refs: t.Optional[t.Dict[str, str]] = None, ids: t.Iterable[str] = ()) -> None:
        self._refs = dict(refs or {})
        self.ids = set(ids) | set(self._refs.values())
        self.calls: t.List[t.Tuple[str, ...]] = []
        self.fail_load_after_images: t.Optional[int] = None  # raise after loading this many images
        self.load_without_tags = False

    def refresh(self) -> None:
        self.calls.append(("refresh",))

    def refs(self) -> t.Dict[str, str]:
        return self._refs

    def image_digests(self, key: str) -> t.Set[str]:
        return {key}

    def find_image(self, digests: t.Set[str]) -> t.Optional[str]:
        found = sorted(digests & self.ids)
        return found[0] if found else None

    def load(self, path: str, reader: t.Any = None) -> None:
        self.calls.append(("load", path))
        if reader is not None:
            for _chunk in reader:
                pass
        for number, image in enumerate(read_archive(path).images):
            if self.fail_load_after_images is not None and number >= self.fail_load_after_images:
                raise EngineError("archive/tar: invalid tar header")
            self.ids.add(image.id)
            if not self.load_without_tags:
                for ref in image.refs:
                    self._refs[ref] = image.id

    def tag(self, source: str, ref: str) -> None:
        self.calls.append(("tag", source, ref))
        self._refs[ref] = source

    def untag(self, ref: str) -> None:
        self.calls.append(("untag", ref))
        key = self._refs.pop(ref)
        if key not in self._refs.values():
            self.ids.discard(key)

    def restore(self, ref: str, key: str) -> None:
        self.calls.append(("restore", ref, key))
        self._refs[ref] = key

    def remove_image(self, key: str) -> None:
        self.calls.append(("remove", key))
        self.ids.discard(key)

    @property
    def changes(self) -> t.List[t.Tuple[str, ...]]:
        return [call for call in self.calls if call[0] != "refresh"]


@pytest.fixture
def fake_engine() -> t.Type[FakeEngine]:
    return FakeEngine
