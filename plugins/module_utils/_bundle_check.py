# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What bundle_verify (and bundle_merge, for the merged result) check, each check
returning one problem line per missing, damaged or stray thing, so that a person sees
every problem of a bundle at once."""

from __future__ import annotations

import json
import os
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import (
    DELTA,
    MANIFEST,
    OCI_DIR,
    OCI_INDEX,
    REF_NAME,
    SIGNATURE,
    SUMS,
    BundleError,
    artifacts_by_id,
    load_manifest,
    read_sums,
    walk,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_gpg import gpgv_verify
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_hash import HashResult, hash_files

# {path: ([size, mtime_ns, inode], sha256)}: files the same process read and hashed itself
# (HashCache.known_now), with the stat taken before that read.
Known = t.Mapping[str, t.Tuple[t.List[t.Any], str]]

IMAGE_MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")


def consistency(manifest: t.Dict[str, t.Any], sums: t.Dict[str, str]) -> t.List[str]:
    """MANIFEST.json's file map and SHA256SUMS must list the same files with the same digests."""
    problems = []
    if MANIFEST not in sums:
        problems.append("%s: not listed in SHA256SUMS (the signature does not cover it)" % MANIFEST)
    files = manifest["files"]
    for rel in sorted(set(files) | set(sums) - {MANIFEST}):
        if rel not in sums:
            problems.append("%s: in MANIFEST.json but not in SHA256SUMS" % rel)
        elif rel not in files:
            problems.append("%s: in SHA256SUMS but not in MANIFEST.json" % rel)
        elif files[rel]["sha256"] != sums[rel]:
            problems.append("%s: MANIFEST.json and SHA256SUMS give different sha256" % rel)
    return problems


def check_files(root: str, manifest: t.Dict[str, t.Any], sums: t.Dict[str, str], checksums: bool = True,
                workers: int = 0, known: t.Optional[Known] = None) -> t.Tuple[t.List[str], HashResult]:
    """Every listed file present with its size and sha256; every present file listed.
    A file of ``known`` whose size, mtime and inode are still those it had when this very
    process read it is compared by that digest instead of being read again (bundle_seal's
    first seal; never a digest from an earlier run's cache)."""
    problems: t.List[str] = []
    present, stray = walk(root)
    problems.extend(stray)
    listed = set(sums)
    for rel in present:
        if rel not in listed:
            problems.append("%s: present but not listed in SHA256SUMS" % rel)
    present_set = set(present) | ({MANIFEST} if os.path.isfile(os.path.join(root, MANIFEST)) else set())
    to_hash = []
    for rel in sorted(listed):
        if rel not in present_set:
            problems.append("%s: missing" % rel)
            continue
        expected = manifest["files"].get(rel, {}).get("size")
        size = os.path.getsize(os.path.join(root, rel))
        if expected is not None and size != expected:
            problems.append("%s: damaged (%d bytes, MANIFEST.json says %d)" % (rel, size, expected))
            continue
        to_hash.append(rel)
    if not checksums:
        to_hash = [MANIFEST] if MANIFEST in to_hash else []
    already: t.Dict[str, str] = {}
    for rel in list(to_hash) if known else []:
        if rel in known:
            info = os.stat(os.path.join(root, rel))
            if [info.st_size, info.st_mtime_ns, info.st_ino] == list(known[rel][0]):
                already[rel] = known[rel][1]
                to_hash.remove(rel)
    result = hash_files(root, to_hash, workers)
    result.digests.update(already)
    for rel in sorted(result.errors):
        problems.append("%s: cannot be read (%s)" % (rel, result.errors[rel]))
    for rel in sorted(result.digests):
        if result.digests[rel] != sums[rel]:
            problems.append("%s: damaged (sha256 %s, SHA256SUMS says %s)" % (rel, result.digests[rel], sums[rel]))
    return problems, result


NEED_CHECKED = ("ref", "version", "digest")
# What the artifact layer's entries carry besides (informational here, not compared).
NEED_INFORMATIONAL = ("kind", "key", "target", "name", "source", "files", "hosts", "roles")


def normalize_needs(needs: t.Sequence[t.Any]) -> t.List[t.Dict[str, t.Optional[str]]]:
    """``needs`` entries: an artifact id, or a map with ``id`` and optionally ``ref`` (an
    image's name in the OCI layout), ``version`` and ``digest`` (compared with the
    bundle's record); the artifact layer's other fields are accepted and ignored."""
    normalized = []
    for number, need in enumerate(needs, start=1):
        if isinstance(need, str):
            need = {"id": need}
        if not isinstance(need, dict) or not isinstance(need.get("id"), str) or not need["id"]:
            raise BundleError("needs[%d]: %r is neither an artifact id nor a map with an id" % (number, need))
        unknown = set(need) - {"id"} - set(NEED_CHECKED) - set(NEED_INFORMATIONAL)
        if unknown:
            raise BundleError("needs[%d] (%s): unknown keys %s" % (number, need["id"], ", ".join(sorted(unknown))))
        entry: t.Dict[str, t.Optional[str]] = {"id": need["id"]}
        for field in NEED_CHECKED:
            value = need.get(field)
            entry[field] = str(value) if value not in (None, "") else None
        normalized.append(entry)
    return normalized


def read_oci_index(root: str) -> t.Tuple[t.Optional[t.Dict[str, t.Dict[str, t.Any]]], t.Optional[str]]:
    """Descriptors of images/oci/index.json by ref name, or (None, problem)."""
    path = os.path.join(root, OCI_INDEX)
    try:
        with open(path, "rb") as stream:
            index = json.loads(stream.read().decode("utf-8"))
    except FileNotFoundError:
        return None, "%s: missing (the bundle has no OCI image layout)" % OCI_INDEX
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return None, "%s: unreadable (%s)" % (OCI_INDEX, exc)
    refs: t.Dict[str, t.Dict[str, t.Any]] = {}
    for descriptor in index.get("manifests", []) if isinstance(index, dict) else []:
        if isinstance(descriptor, dict):
            name = (descriptor.get("annotations") or {}).get(REF_NAME)
            if name:
                refs[name] = descriptor
    return refs, None


def blob_path(digest: t.Any) -> t.Optional[str]:
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
        return None
    return "%s/blobs/sha256/%s" % (OCI_DIR, digest[7:])


def check_image(root: str, artifact_id: str, ref: str, descriptor: t.Optional[t.Dict[str, t.Any]],
                digest: t.Optional[str]) -> t.List[str]:
    """The image named ``ref`` in index.json: its manifest blob and the blobs it names."""
    if descriptor is None:
        return ["image %s (%s): not named in %s" % (ref, artifact_id, OCI_INDEX)]
    problems = []
    if descriptor.get("mediaType") in INDEX_TYPES:
        problems.append("image %s (%s): %s points at an index, not an image manifest" % (ref, artifact_id, OCI_INDEX))
    if digest and descriptor.get("digest") != digest:
        problems.append("image %s (%s): %s names %s, MANIFEST.json records %s"
                        % (ref, artifact_id, OCI_INDEX, descriptor.get("digest"), digest))
    manifest_blob = blob_path(descriptor.get("digest"))
    if manifest_blob is None or not os.path.isfile(os.path.join(root, manifest_blob)):
        return problems + ["image %s (%s): manifest blob %s missing" % (ref, artifact_id, manifest_blob)]
    try:
        with open(os.path.join(root, manifest_blob), "rb") as stream:
            image = json.loads(stream.read().decode("utf-8"))
        blobs = [image["config"]] + list(image.get("layers", []))
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError):
        return problems + ["image %s (%s): manifest blob %s is not an image manifest" % (ref, artifact_id, manifest_blob)]
    for blob in blobs:
        path = blob_path(blob.get("digest") if isinstance(blob, dict) else None)
        if path is None or not os.path.isfile(os.path.join(root, path)):
            problems.append("image %s (%s): blob %s missing" % (ref, artifact_id, path or blob))
    return problems


def check_needs(root: str, manifest: t.Dict[str, t.Any], sums: t.Dict[str, str],
                needs: t.Sequence[t.Dict[str, t.Optional[str]]]) -> t.Tuple[t.List[str], int]:
    """Completeness: every needed artifact in MANIFEST.json with all its files, every
    needed image named in the OCI layout with its blobs. (problems, images checked)"""
    problems: t.List[str] = []
    artifacts = artifacts_by_id(manifest)
    refs: t.Optional[t.Dict[str, t.Dict[str, t.Any]]] = None
    images = 0
    for need in needs:
        artifact = artifacts.get(need["id"])
        if artifact is None:
            problems.append("artifact %s%s: missing from MANIFEST.json"
                            % (need["id"], " (%s)" % need["ref"] if need["ref"] else ""))
            continue
        for rel in artifact.get("files") or []:
            if rel not in sums:
                problems.append("artifact %s: file %s not in the bundle's SHA256SUMS" % (need["id"], rel))
            elif not os.path.isfile(os.path.join(root, rel)):
                problems.append("artifact %s: file %s missing" % (need["id"], rel))
        ref = need["ref"] or (artifact.get("ref") if artifact.get("kind") == "image" else None)
        for field in NEED_CHECKED:
            if need.get(field) and artifact.get(field) is not None and need[field] != str(artifact[field]):
                problems.append("artifact %s: the site needs %s %s, the bundle has %s"
                                % (need["id"], field, need[field], artifact[field]))
        if ref:
            if refs is None:
                refs, problem = read_oci_index(root)
                if problem:
                    problems.append(problem)
            if refs is not None:
                images += 1
                problems.extend(check_image(root, need["id"], ref, refs.get(ref), artifact.get("digest")))
    return problems, images


def verify_bundle(run: t.Any, gpgv: str, root: str, public_key: str, needs: t.Sequence[t.Any], checksums: bool = True,
                  workers: int = 0, known: t.Optional[Known] = None) -> t.Dict[str, t.Any]:
    """What bundle_verify checks, in its order: a bundle of this format, not a delta, signed;
    the signature against ``public_key`` (GpgError: nothing else is checked then); MANIFEST.json
    against SHA256SUMS; every file (see check_files); every need. Returns the figures and
    ``problems`` (one line each, empty when the bundle is good)."""
    normalized = normalize_needs(needs)
    if not os.path.isfile(public_key):
        raise BundleError("public key %s does not exist" % public_key)
    manifest = load_manifest(root)
    if os.path.exists(os.path.join(root, DELTA)):
        raise BundleError("%s is a delta, not a whole bundle: merge it with bundle_merge into the bundle it was made "
                          "against, and verify that" % root)
    _data, sums = read_sums(root)
    signature = os.path.join(root, SIGNATURE)
    if not os.path.isfile(signature):
        raise BundleError("%s is not signed: it has no %s" % (root, SIGNATURE))
    fingerprint = gpgv_verify(run, gpgv, public_key, signature, os.path.join(root, SUMS))
    problems = consistency(manifest, sums)
    file_problems, hashes = check_files(root, manifest, sums, checksums, workers, known)
    problems.extend(file_problems)
    need_problems, images = check_needs(root, manifest, sums, normalized)
    problems.extend(need_problems)
    return dict(fingerprint=fingerprint, files=len(sums), bytes=hashes.bytes_read, seconds=round(hashes.seconds, 3),
                throughput_mb_s=round(hashes.throughput, 1), artifacts=len(normalized), images=images,
                problems=problems)
