# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Image archives built on the fly from an OCI layout's blobs, as a stream.

Two shapes, chosen by what the engine reads:

* ``docker-archive`` (``docker save`` format, for the Docker Engine of any version,
  including 20.10 which cannot load OCI archives): ``manifest.json`` with ``Config``,
  ``RepoTags`` and ``Layers`` naming ``blobs/sha256/<hex>`` members. Docker untars the
  whole stream before it reads ``manifest.json`` and decompresses each layer itself
  (moby image/tarexport/load.go: ``untar`` then ``compression.DecompressStream``), so
  gzip layers and any member order are fine.
* ``oci-archive`` (for ``ctr images import``): ``oci-layout``, the blobs, and an
  ``index.json`` holding only the chosen images, each named by the
  ``io.containerd.image.name`` annotation.

Nothing is written to disk and no blob is held in memory: the stream reads each blob
from the layout in 1 MiB chunks while the engine reads the stream, and verifies the
blob's digest before handing on its last chunk (see _oci_layout.iter_blob).
"""

from __future__ import annotations

import json
import tarfile
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._image_ref import familiar
from ansible_collections.mlstack.platform.plugins.module_utils._oci_layout import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    Blob,
    BlobStore,
    LayoutImage,
    first_users,
    iter_blob,
)

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
OCI_LAYOUT_MARKER = b'{"imageLayoutVersion": "1.0.0"}'
_END_OF_ARCHIVE = b"\0" * (2 * tarfile.BLOCKSIZE)

Member = t.Tuple[str, t.Union[bytes, Blob]]


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def _unique_blobs(images: t.Sequence[LayoutImage], with_manifests: bool) -> t.List[Blob]:
    seen: t.Dict[str, Blob] = {}
    for image in images:
        blobs = image.blobs if with_manifests else [image.config] + list(image.layers)
        for blob in blobs:
            seen.setdefault(blob.digest, blob)
    return list(seen.values())


def docker_archive_members(images: t.Sequence[LayoutImage]) -> t.List[Member]:
    """Members of a docker-archive holding ``images`` (entries with one config are
    merged, their names all set)."""
    entries: t.Dict[str, t.Dict[str, t.Any]] = {}
    for image in images:
        entry = entries.setdefault(image.config.digest, {
            "Config": image.config.path, "RepoTags": [], "Layers": [layer.path for layer in image.layers]})
        if image.ref and familiar(image.ref) not in entry["RepoTags"]:
            entry["RepoTags"].append(familiar(image.ref))
    manifest = [dict(entry, RepoTags=entry["RepoTags"] or None) for entry in entries.values()]
    members: t.List[Member] = [(blob.path, blob) for blob in _unique_blobs(images, with_manifests=False)]
    members.append(("manifest.json", json.dumps(manifest, separators=(",", ":")).encode()))
    return members


def oci_archive_members(images: t.Sequence[LayoutImage]) -> t.List[Member]:
    """Members of an OCI archive whose index.json holds only ``images``."""
    descriptors = []
    for image in images:
        top = image.index or image.manifest
        annotations = dict(image.annotations)
        if image.ref:
            annotations[ANNOTATION_IMAGE_NAME] = image.ref
            annotations.setdefault(ANNOTATION_REF_NAME, image.ref)
        descriptor = {"mediaType": top.media_type or "application/vnd.oci.image.manifest.v1+json",
                      "digest": top.digest, "size": top.size}
        if annotations:
            descriptor["annotations"] = annotations
        descriptors.append(descriptor)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descriptors}
    members: t.List[Member] = [("oci-layout", OCI_LAYOUT_MARKER)]
    members.extend((blob.path, blob) for blob in _unique_blobs(images, with_manifests=True))
    members.append(("index.json", json.dumps(index, separators=(",", ":")).encode()))
    return members


class LayoutStream:
    """A read-only, file-like tar stream of ``members`` with a known length (so HTTP
    clients send a Content-Length); blobs come from ``store`` and are verified while
    they stream. Raises _oci_layout.LayoutError from :meth:`read` on a damaged blob."""

    def __init__(self, store: BlobStore, images: t.Sequence[LayoutImage], shape: str) -> None:
        self.store = store
        self.images = list(images)
        self.shape = shape
        members = docker_archive_members(images) if shape == DOCKER_ARCHIVE else oci_archive_members(images)
        self._members = members
        self._users = first_users(images)
        self._size = sum(len(_header(name, size)) + size + len(_padding(size))
                         for name, size in ((name, self._member_size(data)) for name, data in members)
                         ) + len(_END_OF_ARCHIVE)
        self._chunks = self._generate()
        self._buffer = b""
        self._offset = 0
        self.bytes_read = 0

    @staticmethod
    def _member_size(data: t.Union[bytes, Blob]) -> int:
        return len(data) if isinstance(data, bytes) else data.size

    def _generate(self) -> t.Iterator[bytes]:
        for name, data in self._members:
            size = self._member_size(data)
            yield _header(name, size)
            if isinstance(data, bytes):
                yield data
            else:
                yield from iter_blob(self.store, data, self._users[data.digest])
            yield _padding(size)
        yield _END_OF_ARCHIVE

    def __len__(self) -> int:
        return self._size

    def __enter__(self) -> "LayoutStream":
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self.close()

    def __iter__(self) -> t.Iterator[bytes]:
        while True:
            chunk = self.read(1024 * 1024)
            if not chunk:
                return
            yield chunk

    def read(self, size: int = -1) -> bytes:
        wanted = size if size and size > 0 else 1024 * 1024
        while len(self._buffer) - self._offset < wanted:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer = self._buffer[self._offset:] + chunk
            self._offset = 0
        data = self._buffer[self._offset:self._offset + wanted]
        self._offset += len(data)
        self.bytes_read += len(data)
        return data

    def drain(self) -> None:
        """Nothing to do: a layout stream has no bytes that only count for a checksum."""

    def close(self) -> None:
        self._chunks = iter(())
