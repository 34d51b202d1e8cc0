# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""OCI image layouts written by the tests, in the shape skopeo writes them
(``skopeo copy docker-daemon:IMG oci:DIR:REF``: gzip layers, an
``org.opencontainers.image.ref.name`` annotation with the whole reference), with a
layer shared between images, and the ways a copied layout breaks."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import typing as t

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(seed: str, size: int = 3000) -> t.Tuple[bytes, bytes]:
    """(gzip-compressed layer, uncompressed tar): a tar holding one file of ``size``
    bytes derived from ``seed``."""
    content = (hashlib.sha256(seed.encode()).hexdigest().encode() * (size // 64 + 1))[:size]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(seed + ".bin")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0), raw


class OciImage:
    """An image: gzip layers (``shared`` first when given), config and manifest."""

    def __init__(self, ref: t.Optional[str], seed: str, layers: int = 2,
                 shared: t.Optional[t.Tuple[bytes, bytes]] = None) -> None:
        self.ref = ref
        pairs = ([shared] if shared else []) + [layer("%s-%d" % (seed, n)) for n in range(layers)]
        self.layers = [compressed for compressed, dummy in pairs]
        self.config = json.dumps({
            "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(raw) for dummy, raw in pairs]},
        }, sort_keys=True).encode()
        self.id = sha256(self.config)
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.id, "size": len(self.config)},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(data), "size": len(data)}
                       for data in self.layers],
        }, sort_keys=True).encode()
        self.manifest_digest = sha256(self.manifest)

    @property
    def blobs(self) -> t.List[bytes]:
        return [self.manifest, self.config] + self.layers

    def blob_paths(self) -> t.Set[str]:
        return {"blobs/sha256/" + sha256(data).split(":", 1)[1] for data in self.blobs}


def write_layout(directory: str, images: t.Sequence[OciImage], ref_names: t.Optional[t.Sequence[str]] = None) -> str:
    """A layout directory holding ``images``, each named by its ref (or ``ref_names``)."""
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    with open(os.path.join(directory, "oci-layout"), "w", encoding="utf-8") as stream:
        stream.write('{"imageLayoutVersion": "1.0.0"}')
    descriptors = []
    for number, image in enumerate(images):
        for data in image.blobs:
            with open(os.path.join(blobs, sha256(data).split(":", 1)[1]), "wb") as stream:
                stream.write(data)
        descriptor: t.Dict[str, t.Any] = {"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                                          "size": len(image.manifest)}
        name = ref_names[number] if ref_names else image.ref
        if name:
            descriptor["annotations"] = {"org.opencontainers.image.ref.name": name}
        descriptors.append(descriptor)
    with open(os.path.join(directory, "index.json"), "w", encoding="utf-8") as stream:
        json.dump({"schemaVersion": 2, "manifests": descriptors}, stream)
    return directory


def blob_file(directory: str, data_or_digest: t.Union[bytes, str]) -> str:
    digest = data_or_digest if isinstance(data_or_digest, str) else sha256(data_or_digest)
    return os.path.join(directory, "blobs", "sha256", digest.split(":", 1)[1])


def corrupt_blob(directory: str, data: bytes) -> str:
    """Overwrite bytes in the middle of a blob, keeping its size."""
    path = blob_file(directory, data)
    with open(path, "r+b") as stream:
        stream.seek(len(data) // 2)
        stream.write(b"\xff" * min(16, len(data) - len(data) // 2))
    return path


def oci_archive_file(path: str, directory: str) -> str:
    """The layout as one plain tar, as ``skopeo copy ... oci-archive:FILE`` writes it."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ["oci-layout", "index.json"] + sorted(
                "blobs/sha256/" + entry for entry in os.listdir(os.path.join(directory, "blobs", "sha256"))):
            tar.add(os.path.join(directory, name), arcname=name)
    return path
