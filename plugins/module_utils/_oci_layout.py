# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Read an OCI image layout (a directory, or the same inside a tar archive) and what
each of its images needs, and check its blobs against their digests.

A layout is ``oci-layout``, ``index.json`` and ``blobs/<algorithm>/<hex>``; the bundle
holds one (``images/oci/``, see docs/bundle-format.md), skopeo writes them
(``skopeo copy ... oci:DIR:REF``, ``oci-archive:FILE:REF``). Each entry of
``index.json`` is an image, named by its ``io.containerd.image.name`` annotation or,
when that is a whole reference, by ``org.opencontainers.image.ref.name``. A blob's
name is its digest: a blob is checked by hashing it while it is read, and one whose
bytes do not match its name is refused before its last byte is handed on.
"""

from __future__ import annotations

import hashlib
import json
import os
import typing as t
from dataclasses import dataclass, field

from ansible_collections.mlstack.platform.plugins.module_utils._image_ref import (
    InvalidReference,
    looks_like_reference,
    normalize,
)

CHUNK_SIZE = 1024 * 1024
MAX_JSON_SIZE = 32 * 1024 * 1024
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
DEFAULT_PLATFORM = ("linux", "amd64")


class LayoutError(Exception):
    """A layout, image or blob that cannot be used; the message names it."""


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str = ""

    @property
    def path(self) -> str:
        """The blob's path relative to the layout: ``blobs/sha256/<hex>``."""
        return blob_path(self.digest)


@dataclass
class LayoutImage:
    """One entry of index.json: its name, manifest, config and layers.

    ``index`` is the descriptor of a nested image index when the entry points at
    one (the platform manifest chosen from it is ``manifest``)."""

    ref: t.Optional[str]  # normalized reference, or None for an unnamed entry
    manifest: Blob
    config: Blob
    layers: t.List[Blob]
    index: t.Optional[Blob] = None
    annotations: t.Dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.ref or self.manifest.digest

    @property
    def blobs(self) -> t.List[Blob]:
        """Every blob the image needs, index (if any), manifest, config, layers."""
        return ([self.index] if self.index else []) + [self.manifest, self.config] + list(self.layers)

    @property
    def digests(self) -> t.Set[str]:
        return {blob.digest for blob in ([self.index] if self.index else []) + [self.manifest, self.config]}


def blob_path(digest: t.Any) -> str:
    if not isinstance(digest, str) or ":" not in digest:
        raise LayoutError("invalid digest %r" % (digest,))
    algorithm, dummy, encoded = digest.partition(":")
    if algorithm != "sha256" or len(encoded) != 64 or encoded.strip("0123456789abcdef"):
        raise LayoutError("unsupported or malformed digest %s (only sha256 is supported)" % digest)
    return "blobs/sha256/" + encoded


class BlobStore:
    """Where a layout's files are: :meth:`locate` gives ``(file, offset, size)``."""

    label = "image layout"
    path = ""

    def locate(self, name: str) -> t.Optional[t.Tuple[str, int, int]]:
        raise NotImplementedError

    def describe(self) -> str:
        return "%s %s" % (self.label, self.path)

    def read(self, name: str, what: str, limit: int = MAX_JSON_SIZE) -> bytes:
        where = self.locate(name)
        if where is None:
            raise LayoutError("%s: %s %s is missing" % (self.describe(), what, name))
        file_path, offset, size = where
        if size > limit:
            raise LayoutError("%s: %s %s is too large (%d bytes)" % (self.describe(), what, name, size))
        try:
            with open(file_path, "rb") as stream:
                stream.seek(offset)
                data = stream.read(size)
        except OSError as exc:
            raise LayoutError("%s: cannot read %s %s (%s)" % (self.describe(), what, name, exc))
        if len(data) != size:
            raise LayoutError("%s: %s %s is truncated" % (self.describe(), what, name))
        return data

    def read_json(self, name: str, what: str, digest: t.Optional[str] = None) -> t.Any:
        data = self.read(name, what)
        if digest is not None and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise LayoutError("%s: %s %s does not match its digest" % (self.describe(), what, name))
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise LayoutError("%s: %s %s is not valid JSON (%s)" % (self.describe(), what, name, exc))


class DirectoryStore(BlobStore):
    """A layout directory on disk."""

    def __init__(self, path: str) -> None:
        self.path = path

    def locate(self, name: str) -> t.Optional[t.Tuple[str, int, int]]:
        file_path = os.path.join(self.path, *name.split("/"))
        try:
            if not os.path.isfile(file_path):
                return None
            return file_path, 0, os.path.getsize(file_path)
        except OSError:
            return None


class TarStore(BlobStore):
    """A layout inside a plain tar archive: ``members`` maps a member name to its data
    offset and size (read from the tar headers)."""

    label = "image archive"

    def __init__(self, path: str, members: t.Dict[str, t.Tuple[int, int]]) -> None:
        self.path = path
        self._members = members

    def locate(self, name: str) -> t.Optional[t.Tuple[str, int, int]]:
        member = self._members.get(name)
        return (self.path, member[0], member[1]) if member else None


def _descriptor(store: BlobStore, value: t.Any, what: str) -> Blob:
    if not isinstance(value, dict) or not isinstance(value.get("size"), int):
        raise LayoutError("%s: index.json or a manifest holds an invalid %s descriptor" % (store.describe(), what))
    try:
        blob_path(value.get("digest"))
    except LayoutError as exc:
        raise LayoutError("%s: %s descriptor: %s" % (store.describe(), what, exc))
    return Blob(value["digest"], value["size"], str(value.get("mediaType") or ""))


def _descriptor_ref(store: BlobStore, annotations: t.Dict[str, str]) -> t.Optional[str]:
    name = annotations.get(ANNOTATION_IMAGE_NAME)
    if not name:
        ref_name = annotations.get(ANNOTATION_REF_NAME)
        name = ref_name if ref_name and looks_like_reference(ref_name) else None
    if not name:
        return None
    try:
        return normalize(name)
    except InvalidReference as exc:
        raise LayoutError("%s: index.json names an %s" % (store.describe(), exc))


def _platform_manifest(store: BlobStore, index: Blob, document: t.Dict[str, t.Any]) -> Blob:
    """The linux/amd64 manifest of a nested index, else its only present one."""
    present = []
    for child in document.get("manifests") or []:
        blob = _descriptor(store, child, "manifest")
        if store.locate(blob.path) is None:
            continue
        platform = child.get("platform") or {}
        if (platform.get("os"), platform.get("architecture")) == DEFAULT_PLATFORM:
            return blob
        present.append(blob)
    if len(present) == 1:
        return present[0]
    raise LayoutError("%s: the image index %s holds %s" % (
        store.describe(), index.path, "no manifest that is in the layout" if not present
        else "no linux/amd64 manifest and several others"))


def _read_entry(store: BlobStore, value: t.Any) -> LayoutImage:
    descriptor = _descriptor(store, value, "manifest")
    annotations = value.get("annotations") or {}
    document = store.read_json(descriptor.path, "manifest", descriptor.digest)
    index = None
    if descriptor.media_type in INDEX_TYPES or (isinstance(document, dict) and "manifests" in document):
        index, descriptor = descriptor, _platform_manifest(store, descriptor, document)
        document = store.read_json(descriptor.path, "manifest", descriptor.digest)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise LayoutError("%s: manifest %s has no config" % (store.describe(), descriptor.path))
    return LayoutImage(
        ref=_descriptor_ref(store, annotations),
        manifest=descriptor,
        config=_descriptor(store, document["config"], "config"),
        layers=[_descriptor(store, layer, "layer") for layer in document.get("layers") or []],
        index=index,
        annotations=dict(annotations),
    )


def read_images(store: BlobStore) -> t.List[LayoutImage]:
    """Every entry of the layout's index.json, with its manifest read (and checked
    against its digest); layers and configs are not read."""
    index = store.read_json("index.json", "index")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise LayoutError("%s: index.json has no manifests list" % store.describe())
    return [_read_entry(store, value) for value in index["manifests"]]


def open_layout(path: str) -> DirectoryStore:
    if not os.path.isdir(path):
        raise LayoutError("image layout %s: no such directory" % path)
    store = DirectoryStore(path)
    marker = store.read_json("oci-layout", "layout marker")
    if not isinstance(marker, dict) or "imageLayoutVersion" not in marker:
        raise LayoutError("image layout %s: oci-layout has no imageLayoutVersion" % path)
    return store


def select(store: BlobStore, images: t.Sequence[LayoutImage], refs: t.Optional[t.Sequence[str]]) -> t.List[LayoutImage]:
    """The images named ``refs`` (normalized first), in that order; all named images
    when ``refs`` is None. Fails naming every reference the layout does not hold."""
    named = [image for image in images if image.ref]
    if refs is None:
        if not named:
            raise LayoutError("%s: index.json names no image (no %s or full %s annotation)"
                              % (store.describe(), ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME))
        return named
    by_ref = {image.ref: image for image in named}
    chosen, unknown = [], []
    for ref in refs:
        try:
            wanted = normalize(ref)
        except InvalidReference as exc:
            raise LayoutError("%s: %s" % (store.describe(), exc))
        if wanted in by_ref:
            if by_ref[wanted] not in chosen:
                chosen.append(by_ref[wanted])
        else:
            unknown.append(ref)
    if unknown:
        raise LayoutError("%s: index.json has no image %s (it holds: %s)" % (
            store.describe(), ", ".join(unknown), ", ".join(sorted(by_ref)) or "no named image"))
    return chosen


def needed_files(path: str, refs: t.Optional[t.Sequence[str]] = None) -> t.List[str]:
    """Sorted unique ``blobs/sha256/<hex>`` paths the images ``refs`` of the layout at
    ``path`` need (index, manifest, config, layers); all named images when None."""
    store = open_layout(path)
    chosen = select(store, read_images(store), refs)
    return sorted({blob.path for image in chosen for blob in image.blobs})


def first_users(images: t.Sequence[LayoutImage]) -> t.Dict[str, LayoutImage]:
    """Blob digest -> the first image that needs it (the one named when it is damaged)."""
    users: t.Dict[str, LayoutImage] = {}
    for image in images:
        for blob in image.blobs:
            users.setdefault(blob.digest, image)
    return users


def check_present(store: BlobStore, images: t.Sequence[LayoutImage]) -> None:
    """Fail, naming the image and the blob, when a blob is missing or has another
    size than its descriptor says; cheap (no blob is read)."""
    for blob, image in sorted(first_users(images).items()):
        where = store.locate(blob_path(blob))
        if where is None:
            raise LayoutError("%s: image %s: blob %s is missing" % (store.describe(), image.label, blob_path(blob)))
        expected = next(b.size for b in image.blobs if b.digest == blob)
        if where[2] != expected:
            raise LayoutError("%s: image %s: blob %s has %d bytes, its descriptor says %d (damaged or "
                              "incompletely copied)" % (store.describe(), image.label, blob_path(blob), where[2], expected))


def iter_blob(store: BlobStore, blob: Blob, image: LayoutImage) -> t.Iterator[bytes]:
    """The blob's bytes in chunks, hashed as they are read; the last chunk is only
    handed out once the digest matched, so a reader never gets a whole damaged blob."""
    where = store.locate(blob.path)
    if where is None:
        raise LayoutError("%s: image %s: blob %s is missing" % (store.describe(), image.label, blob.path))
    file_path, offset, size = where
    digest = hashlib.sha256()
    remaining = size
    try:
        with open(file_path, "rb") as stream:
            stream.seek(offset)
            while remaining:
                chunk = stream.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise LayoutError("%s: image %s: blob %s ends after %d of %d bytes" % (
                        store.describe(), image.label, blob.path, size - remaining, size))
                digest.update(chunk)
                remaining -= len(chunk)
                if not remaining and "sha256:" + digest.hexdigest() != blob.digest:
                    raise LayoutError("%s: image %s: blob %s does not match its digest (its content hashes to "
                                      "sha256:%s)" % (store.describe(), image.label, blob.path, digest.hexdigest()))
                yield chunk
    except OSError as exc:
        raise LayoutError("%s: image %s: cannot read blob %s (%s)" % (store.describe(), image.label, blob.path, exc))
    if size == 0 and "sha256:" + digest.hexdigest() != blob.digest:
        raise LayoutError("%s: image %s: blob %s does not match its digest" % (store.describe(), image.label, blob.path))


def verify_blobs(store: BlobStore, images: t.Sequence[LayoutImage]) -> None:
    """Hash every blob the images need, once each; fails naming image and blob."""
    check_present(store, images)
    users = first_users(images)
    done: t.Set[str] = set()
    for image in images:
        for blob in image.blobs:
            if blob.digest not in done:
                for _chunk in iter_blob(store, blob, users[blob.digest]):
                    pass
                done.add(blob.digest)
