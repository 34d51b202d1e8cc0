# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Sealing a bundle: MANIFEST.json from the artifact records and the files on disk,
SHA256SUMS over them, and the detached signature, each written beside its final name
and renamed into place."""

from __future__ import annotations

import datetime
import os
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import (
    DELTA,
    FORMAT,
    KINDS,
    MANIFEST,
    PER_TARGET_KINDS,
    SIGNATURE,
    SUMS,
    BundleError,
    check_relpath,
    parse_manifest,
    read_bytes,
    render_manifest,
    render_sums,
    sha256_bytes,
    split_id,
    walk,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_check import check_image, read_oci_index
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_hash import HashCache, HashResult


def normalize_record(record: t.Dict[str, t.Any], number: int) -> t.Dict[str, t.Any]:
    """One artifact of MANIFEST.json from its record; BundleError naming the artifact."""
    what = "artifacts[%d] (%s)" % (number, record.get("id") or "no id")
    kind, key, target = split_id(record.get("id") or "")
    if kind != record.get("kind") or key != record.get("key"):
        suffix = "@" + record["target"] if record.get("target") else ""
        raise BundleError("%s: the id must be %s/%s%s" % (what, record.get("kind"), record.get("key"), suffix))
    if kind not in KINDS:
        raise BundleError("%s: kind %r is not one of %s" % (what, kind, ", ".join(KINDS)))
    if (kind in PER_TARGET_KINDS) != bool(record.get("target")) or target != (record.get("target") or None):
        raise BundleError("%s: %s artifacts %s a target, spelt in the id as @<target>"
                          % (what, kind, "need" if kind in PER_TARGET_KINDS else "have no"))
    if kind == "image" and not record.get("ref"):
        raise BundleError("%s: an image needs its ref (the name in images/oci/index.json)" % what)
    files = sorted(set(check_relpath(path, what) for path in record.get("files") or []))
    artifact = {field: record.get(field) for field in ("id", "kind", "key", "name", "version", "source", "digest")}
    artifact["files"] = files
    if kind in PER_TARGET_KINDS:
        artifact["target"] = record["target"]
    if kind == "image":
        artifact["ref"] = record["ref"]
    return artifact


def normalize_records(records: t.Sequence[t.Dict[str, t.Any]]) -> t.List[t.Dict[str, t.Any]]:
    artifacts, seen = [], set()
    for number, record in enumerate(records, start=1):
        artifact = normalize_record(record, number)
        if artifact["id"] in seen:
            raise BundleError("artifacts[%d]: id %s is given twice" % (number, artifact["id"]))
        seen.add(artifact["id"])
        artifacts.append(artifact)
    return sorted(artifacts, key=lambda artifact: artifact["id"])


def bundle_files(root: str, artifacts: t.Sequence[t.Dict[str, t.Any]]) -> t.List[str]:
    """The files to seal; BundleError naming every missing artifact file and stray file."""
    if not os.path.isdir(root):
        raise BundleError("bundle directory %s does not exist" % root)
    if os.path.exists(os.path.join(root, DELTA)):
        raise BundleError("%s holds %s: it is a delta, not a bundle; merge it with bundle_merge" % (root, DELTA))
    files, problems = walk(root)
    present = set(files)
    for artifact in artifacts:
        for rel in artifact["files"]:
            if rel not in present:
                problems.append("artifact %s: file %s does not exist in %s" % (artifact["id"], rel, root))
    images = [artifact for artifact in artifacts if artifact["kind"] == "image"]
    if images:
        refs, problem = read_oci_index(root)
        if problem:
            problems.append(problem)
        else:
            for artifact in images:
                problems.extend(check_image(root, artifact["id"], artifact["ref"], t.cast(t.Dict[str, t.Any], refs)
                                            .get(artifact["ref"]), artifact.get("digest")))
    if problems:
        raise BundleError("cannot seal %s:\n%s" % (root, "\n".join(problems)))
    return files


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Seal:
    """The sealed state of a bundle as it would be written; compared with what is there."""

    def __init__(self, root: str, records: t.Sequence[t.Dict[str, t.Any]], collection: t.Dict[str, t.Any],
                 cache_dir: t.Optional[str], workers: int = 0) -> None:
        self.root = root
        self.artifacts = normalize_records(records)
        self.collection = {"name": collection.get("name"), "version": collection.get("version")}
        self.files = bundle_files(root, self.artifacts)
        self.cache = HashCache(cache_dir, root)
        self.hashes: HashResult = self.cache.hash(self.files, workers)
        if self.hashes.errors:
            raise BundleError("cannot read %s" % "; ".join("%s (%s)" % item for item in sorted(self.hashes.errors.items())))
        self.old_manifest = read_bytes(os.path.join(root, MANIFEST))
        self.old_sums = read_bytes(os.path.join(root, SUMS))
        self.manifest = render_manifest(self._manifest(self._created()))
        sums = {rel: self.hashes.digests[rel] for rel in self.files}
        sums[MANIFEST] = sha256_bytes(self.manifest)
        self.sums = render_sums(sums)

    def _manifest(self, created: str) -> t.Dict[str, t.Any]:
        files = {}
        for rel in self.files:
            files[rel] = {"size": os.path.getsize(os.path.join(self.root, rel)), "sha256": self.hashes.digests[rel]}
        return {"format": FORMAT, "collection": self.collection, "created": created,
                "artifacts": self.artifacts, "files": files}

    def _created(self) -> str:
        """The old ``created`` when nothing else changed, so a re-seal is byte-identical."""
        if self.old_manifest is not None:
            try:
                old = parse_manifest(self.old_manifest, os.path.join(self.root, MANIFEST))
            except BundleError:
                return utc_now()
            created = old.get("created")
            if isinstance(created, str) and render_manifest(self._manifest(created)) == self.old_manifest:
                return created
        return utc_now()

    @property
    def unchanged(self) -> bool:
        return self.manifest == self.old_manifest and self.sums == self.old_sums \
            and os.path.isfile(os.path.join(self.root, SIGNATURE))

    def diff(self) -> t.Dict[str, str]:
        def lines(manifest: t.Optional[bytes]) -> str:
            if manifest is None:
                return ""
            try:
                artifacts = parse_manifest(manifest, MANIFEST)["artifacts"]
            except BundleError:
                return "(unreadable MANIFEST.json)\n"
            return "".join("%s %s %s\n" % (a.get("id"), a.get("version"), a.get("digest") or "-")
                           for a in artifacts if isinstance(a, dict))
        return {"before": lines(self.old_manifest), "after": lines(self.manifest),
                "before_header": "%s artifacts" % MANIFEST, "after_header": "%s artifacts" % MANIFEST}
