# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Damage a copy of an image archive for the failure tests.

    damage_archive.py truncate SRC DST          the first half of SRC only
    damage_archive.py corrupt-layer SRC DST     bytes overwritten inside the last layer of
                                                the last image of manifest.json (the tar
                                                stays readable; the engine's layer digest
                                                check fails), so that an engine loading in
                                                manifest order has loaded the others first
    damage_archive.py corrupt-blob LAYOUT REF   bytes overwritten inside the last layer blob
                                                of image REF of an OCI layout directory
                                                (same size); prints the blob's path
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile


def truncate(source: str, destination: str) -> None:
    shutil.copyfile(source, destination)
    with open(destination, "r+b") as stream:
        stream.seek(0, 2)
        stream.truncate(stream.tell() // 2)


def corrupt_layer(source: str, destination: str) -> None:
    shutil.copyfile(source, destination)
    with tarfile.open(destination) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        layer = tar.getmember(manifest[-1]["Layers"][-1])
    with open(destination, "r+b") as stream:
        stream.seek(layer.offset_data + layer.size // 2)
        stream.write(b"\xff" * 4096)


def corrupt_blob(layout: str, ref: str) -> None:
    with open("%s/index.json" % layout, encoding="utf-8") as stream:
        index = json.load(stream)
    entry = next(m for m in index["manifests"] if (m.get("annotations") or {}).get(
        "org.opencontainers.image.ref.name") == ref)
    with open("%s/blobs/sha256/%s" % (layout, entry["digest"].split(":", 1)[1]), encoding="utf-8") as stream:
        manifest = json.load(stream)
    path = "blobs/sha256/" + manifest["layers"][-1]["digest"].split(":", 1)[1]
    with open("%s/%s" % (layout, path), "r+b") as stream:
        stream.seek(0, 2)
        stream.seek(stream.tell() // 2)
        stream.write(b"\xff" * 4096)
    print(path)


def main() -> None:
    if sys.argv[1] == "truncate":
        truncate(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "corrupt-layer":
        corrupt_layer(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "corrupt-blob":
        corrupt_blob(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit("unknown action %s" % sys.argv[1])


if __name__ == "__main__":
    main()
