# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Read what an image archive holds from its index alone.

Supported layouts, all plain (uncompressed) tar files:

* ``docker-save``: ``docker save`` before Docker 25: ``manifest.json`` naming
  ``<id>.json`` configs and ``<dir>/layer.tar`` layers.
* ``docker-save-oci``: ``docker save`` of Docker 25+: the same ``manifest.json``,
  with ``blobs/sha256/...`` paths, next to an OCI ``index.json`` and ``oci-layout``.
* ``oci``: an OCI image layout (``skopeo copy ... oci-archive:``, ``buildah push
  ... oci-archive:``, ``ctr images export``): ``index.json`` and ``blobs/``.

Only tar headers and the small JSON documents (index, manifests, configs) are read:
layer data is skipped by seeking, so reading a multi-gigabyte archive takes
milliseconds. The same pass detects truncated archives (a member that ends past the
end of the file, or a missing end-of-archive block) and archives whose index names
files that are not in the archive.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import typing as t
from dataclasses import dataclass, field

from ansible_collections.mlstack.platform.plugins.module_utils._image_ref import (
    InvalidReference,
    looks_like_reference,
    normalize,
)
from ansible_collections.mlstack.platform.plugins.module_utils._oci_layout import (
    BlobStore,
    LayoutError,
    LayoutImage,
    TarStore,
    open_layout,
    read_images,
    select,
)

FORMAT_DOCKER = "docker-save"
FORMAT_DOCKER_OCI = "docker-save-oci"
FORMAT_OCI = "oci"
FORMAT_LAYOUT = "oci-layout"

MAX_JSON_SIZE = 32 * 1024 * 1024
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
_COMPRESSION_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


class ArchiveError(Exception):
    """An archive that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__("image archive %s: %s" % (path, problem))
        self.path = path
        self.problem = problem


@dataclass
class ArchiveImage:
    """One image of an archive.

    ``id`` is the digest Docker uses as image ID (the config digest), or the
    descriptor digest of a multi-platform OCI entry. ``digests`` holds every digest
    an engine may report for this image: config, manifest and index digests.
    """

    id: str
    refs: t.List[str] = field(default_factory=list)
    digests: t.Set[str] = field(default_factory=set)

    def add_refs(self, refs: t.Iterable[str]) -> None:
        for ref in refs:
            if ref not in self.refs:
                self.refs.append(ref)


@dataclass
class OciSource:
    """The OCI view of an archive or layout, from which a stream can be built:
    where the blobs are and the images' manifests."""

    store: BlobStore
    images: t.List[LayoutImage]

    def images_for(self, ids: t.Iterable[str]) -> t.List[LayoutImage]:
        wanted = set(ids)
        return [image for image in self.images if image.config.digest in wanted or image.manifest.digest in wanted
                or (image.index is not None and image.index.digest in wanted)]


@dataclass
class ImageArchive:
    path: str
    format: str
    size: int
    images: t.List[ArchiveImage]
    oci: t.Optional[OciSource] = None

    @property
    def refs(self) -> t.List[str]:
        return [ref for image in self.images for ref in image.refs]

    @property
    def what(self) -> str:
        """How messages name it: ``image archive PATH`` or ``image layout DIR``."""
        return "image layout %s" % self.path if self.format == FORMAT_LAYOUT else "image archive %s" % self.path


class _TarIndex:
    """The member list of a tar file, read by seeking over member data."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = os.path.getsize(path)
        self._check_not_compressed()
        try:
            self._tar = tarfile.open(path, mode="r:")  # pylint: disable=consider-using-with
            members = self._tar.getmembers()
        except (tarfile.TarError, EOFError) as exc:
            if "unexpected end of data" in str(exc):
                raise ArchiveError(path, "truncated: the file ends inside the data of a member")
            raise ArchiveError(path, "not a readable tar archive (%s)" % exc)
        self.members = {self._clean(m.name): m for m in members}
        self._check_complete(members, self._tar.offset)

    def close(self) -> None:
        self._tar.close()

    @staticmethod
    def _clean(name: str) -> str:
        while name.startswith("./"):
            name = name[2:]
        return name.lstrip("/")

    def _check_not_compressed(self) -> None:
        with open(self.path, "rb") as stream:
            head = stream.read(8)
        if not head:
            raise ArchiveError(self.path, "the file is empty")
        for magic, kind in _COMPRESSION_MAGIC:
            if head.startswith(magic):
                raise ArchiveError(
                    self.path, "the archive is %s-compressed; decompress it first (only plain tar "
                    "archives can be read without unpacking them)" % kind)

    def _check_complete(self, members: t.List[tarfile.TarInfo], end: int) -> None:
        for member in members:
            data_end = member.offset_data + (member.size if member.isreg() else 0)
            if data_end > self.size:
                raise ArchiveError(
                    self.path, "truncated: member %s ends at byte %d but the file has only %d bytes"
                    % (member.name, data_end, self.size))
        with open(self.path, "rb") as stream:
            stream.seek(end)
            trailer = stream.read(tarfile.BLOCKSIZE)
        if len(trailer) < tarfile.BLOCKSIZE:
            raise ArchiveError(self.path, "truncated: the tar end-of-archive marker is missing")
        if trailer.strip(b"\0"):
            raise ArchiveError(self.path, "corrupt: invalid tar header at byte %d" % end)

    def has(self, name: str) -> bool:
        return self._clean(name) in self.members

    def require(self, name: str, what: str) -> None:
        if not self.has(name):
            raise ArchiveError(self.path, "%s %s is named in the index but missing from the archive"
                               % (what, name))

    def read(self, name: str, what: str) -> bytes:
        self.require(name, what)
        member = self.members[self._clean(name)]
        if member.size > MAX_JSON_SIZE:
            raise ArchiveError(self.path, "%s %s is too large (%d bytes)" % (what, name, member.size))
        try:
            stream = self._tar.extractfile(member)
            data = stream.read() if stream else None
        except (tarfile.TarError, KeyError) as exc:
            raise ArchiveError(self.path, "cannot read %s %s: %s" % (what, name, exc))
        if data is None:
            raise ArchiveError(self.path, "%s %s is not a file" % (what, name))
        return data

    def read_json(self, name: str, what: str, digest: t.Optional[str] = None) -> t.Any:
        data = self.read(name, what)
        if digest is not None and _sha256(data) != digest:
            raise ArchiveError(self.path, "corrupt: %s %s does not match its digest" % (what, name))
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise ArchiveError(self.path, "corrupt: %s %s is not valid JSON (%s)" % (what, name, exc))


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob_path(digest: t.Any) -> str:
    if not isinstance(digest, str) or ":" not in digest:
        raise ValueError("invalid digest %r" % (digest,))
    algorithm, dummy, encoded = digest.partition(":")
    return "blobs/%s/%s" % (algorithm, encoded)


def _normalized_refs(path: str, refs: t.Iterable[str]) -> t.List[str]:
    result = []
    for ref in refs:
        try:
            result.append(normalize(ref))
        except InvalidReference as exc:
            raise ArchiveError(path, "the index names an %s" % exc)
    return result


def _read_docker_manifest(tar: _TarIndex) -> t.List[ArchiveImage]:
    entries = tar.read_json("manifest.json", "index")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ArchiveError(tar.path, "corrupt: manifest.json is not a list of image entries")
    images: t.Dict[str, ArchiveImage] = {}
    for entry in entries:
        config_name = entry.get("Config")
        if not isinstance(config_name, str):
            raise ArchiveError(tar.path, "corrupt: an entry of manifest.json has no Config")
        raw_config = tar.read(config_name, "image config")
        config_digest = _sha256(raw_config)
        try:
            config = json.loads(raw_config.decode("utf-8"))
        except ValueError as exc:
            raise ArchiveError(tar.path, "corrupt: image config %s is not valid JSON (%s)" % (config_name, exc))
        layers = entry.get("Layers") or []
        for layer in layers:
            tar.require(layer, "layer")
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
        if isinstance(diff_ids, list) and len(diff_ids) != len(layers):
            raise ArchiveError(tar.path, "corrupt: image config %s lists %d layers, manifest.json %d"
                               % (config_name, len(diff_ids), len(layers)))
        image = images.setdefault(config_digest, ArchiveImage(id=config_digest, digests={config_digest}))
        image.add_refs(_normalized_refs(tar.path, entry.get("RepoTags") or []))
    return list(images.values())


_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")


def _resolve(tar: _TarIndex, descriptor: t.Any, nested: bool = False) -> t.Optional[t.Tuple[t.Set[str], t.Set[str]]]:
    """Config digests and manifest digests reachable from an OCI descriptor.

    Returns None for a platform manifest of a nested index whose blob is absent
    (single-platform exports keep the index but only one platform's blobs)."""
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str):
        raise ArchiveError(tar.path, "corrupt: index.json holds an invalid descriptor")
    digest = descriptor["digest"]
    try:
        blob = _blob_path(digest)
    except ValueError as exc:
        raise ArchiveError(tar.path, "corrupt: %s" % exc)
    if nested and not tar.has(blob):
        return None
    document = tar.read_json(blob, "manifest", digest)
    if not isinstance(document, dict):
        raise ArchiveError(tar.path, "corrupt: manifest %s is not a JSON object" % blob)
    manifests = {digest}
    if descriptor.get("mediaType") in _INDEX_TYPES or "manifests" in document:
        configs: t.Set[str] = set()
        for child in document.get("manifests") or []:
            resolved = _resolve(tar, child, nested=True)
            if resolved:
                configs |= resolved[0]
                manifests |= resolved[1]
        if not configs:
            raise ArchiveError(tar.path, "the image index %s holds no complete image" % blob)
        return configs, manifests
    config = document.get("config")
    if not isinstance(config, dict):
        raise ArchiveError(tar.path, "corrupt: manifest %s has no config" % blob)
    try:
        tar.require(_blob_path(config.get("digest")), "image config")
        for layer in document.get("layers") or []:
            tar.require(_blob_path(layer.get("digest") if isinstance(layer, dict) else None), "layer")
    except ValueError as exc:
        raise ArchiveError(tar.path, "corrupt: manifest %s: %s" % (blob, exc))
    return {config["digest"]}, manifests


def _descriptor_refs(descriptor: t.Dict[str, t.Any]) -> t.List[str]:
    annotations = descriptor.get("annotations") or {}
    name = annotations.get(ANNOTATION_IMAGE_NAME)
    if not name:
        ref_name = annotations.get(ANNOTATION_REF_NAME)
        name = ref_name if ref_name and looks_like_reference(ref_name) else None
    return [name] if name else []


def _read_oci_index(tar: _TarIndex) -> t.List[t.Tuple[t.Dict[str, t.Any], t.Set[str], t.Set[str]]]:
    index = tar.read_json("index.json", "index")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise ArchiveError(tar.path, "corrupt: index.json has no manifests list")
    entries = []
    for descriptor in index["manifests"]:
        resolved = _resolve(tar, descriptor)
        if resolved is None:  # only nested descriptors may be absent
            raise ArchiveError(tar.path, "corrupt: index.json names a manifest that is not in the archive")
        entries.append((descriptor, resolved[0], resolved[1]))
    return entries


def _oci_images(tar: _TarIndex) -> t.List[ArchiveImage]:
    images: t.Dict[str, ArchiveImage] = {}
    for descriptor, configs, manifests in _read_oci_index(tar):
        image_id = next(iter(configs)) if len(configs) == 1 else descriptor["digest"]
        image = images.setdefault(image_id, ArchiveImage(id=image_id))
        image.digests |= configs | manifests
        image.add_refs(_normalized_refs(tar.path, _descriptor_refs(descriptor)))
    return list(images.values())


def read_archive(path: str) -> ImageArchive:
    """Read the index of the archive at ``path``; raises ArchiveError."""
    if not os.path.exists(path):
        raise ArchiveError(path, "no such file")
    if not os.path.isfile(path):
        raise ArchiveError(path, "not a regular file")
    try:
        tar = _TarIndex(path)
    except OSError as exc:
        raise ArchiveError(path, "cannot read the file (%s)" % exc)
    oci = None
    try:
        if tar.has("manifest.json"):
            images = _read_docker_manifest(tar)
            archive_format = FORMAT_DOCKER
            if tar.has("index.json"):
                archive_format = FORMAT_DOCKER_OCI
                for _descriptor, configs, manifests in _read_oci_index(tar):
                    for image in images:
                        if image.id in configs:
                            image.digests |= manifests
        elif tar.has("index.json"):
            images = _oci_images(tar)
            archive_format = FORMAT_OCI
            oci = _oci_source(tar)
        else:
            raise ArchiveError(path, "not an image archive: it has neither manifest.json (docker save) "
                               "nor index.json (OCI layout)")
        if not images:
            raise ArchiveError(path, "the archive holds no image")
        return ImageArchive(path=path, format=archive_format, size=tar.size, images=images, oci=oci)
    finally:
        tar.close()


def _oci_source(tar: _TarIndex) -> t.Optional[OciSource]:
    """The archive's images as an OCI layout inside the tar (blobs by offset), so that
    they can be streamed to an engine that cannot read OCI archives; None when that
    view cannot be had (e.g. an index of several platforms without linux/amd64): the
    archive is then only streamed as it is."""
    members = {name: (member.offset_data, member.size) for name, member in tar.members.items() if member.isreg()}
    store = TarStore(tar.path, members)
    try:
        return OciSource(store, read_images(store))
    except LayoutError:
        return None


def layout_images(images: t.Sequence[LayoutImage]) -> t.List[ArchiveImage]:
    """ArchiveImages (as the importer plans them) for a layout's images; entries with
    the same config are one image with several names."""
    merged: t.Dict[str, ArchiveImage] = {}
    for image in images:
        archive_image = merged.setdefault(image.config.digest, ArchiveImage(id=image.config.digest))
        archive_image.digests |= image.digests
        archive_image.add_refs([image.ref] if image.ref else [])
    return list(merged.values())


def read_layout(path: str, refs: t.Optional[t.Sequence[str]] = None) -> ImageArchive:
    """The images ``refs`` (all named ones when None) of the OCI layout directory at
    ``path``, from its index.json and manifests; raises LayoutError."""
    store = open_layout(path)
    chosen = select(store, read_images(store), refs)
    return ImageArchive(path=path, format=FORMAT_LAYOUT, size=0, images=layout_images(chosen),
                        oci=OciSource(store, chosen))
