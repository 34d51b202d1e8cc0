# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Differential bundles: write a delta (the files whose content the base bundle does
not have, and the whole bundle's top files), and merge one into the bundle it was made
against, verifying the result before anything of that bundle is replaced."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import (
    DELTA,
    FORMAT,
    MANIFEST,
    SIGNATURE,
    SUMS,
    TEMP_PREFIX,
    BundleError,
    atomic_write,
    check_relpath,
    load_manifest,
    parse_manifest,
    read_bytes,
    read_manifest_file,
    read_sums,
    sha256_bytes,
    walk,
)
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_check import consistency
from ansible_collections.mlstack.platform.plugins.module_utils._bundle_hash import BUFFER_SIZE, stream_sha256

_NOT_LINKABLE = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES, errno.ENOTSUP)


def link_or_copy(source: str, target: str, link: bool = True) -> t.Tuple[str, bool]:
    """Hard-link ``source`` at ``target`` where the filesystem allows it, else copy it;
    (hex sha256 of what ``target`` holds, whether it is a link)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if link:
        try:
            os.link(source, target)
            return stream_sha256(target)[0], True
        except OSError as exc:
            if exc.errno not in _NOT_LINKABLE:
                raise
    digest = hashlib.sha256()
    buffer = bytearray(BUFFER_SIZE)
    view = memoryview(buffer)
    with open(source, "rb", buffering=0) as reader, open(target, "wb") as writer:
        while True:
            count = reader.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
            writer.write(view[:count])
    shutil.copystat(source, target)
    return digest.hexdigest(), False


def read_top(root: str) -> t.Tuple[bytes, bytes, bytes, t.Dict[str, str], t.Dict[str, t.Any]]:
    """A sealed bundle's (or delta's) MANIFEST.json, SHA256SUMS, signature, parsed sums
    and manifest; the manifest must be the one SHA256SUMS lists."""
    manifest_path = os.path.join(root, MANIFEST)
    manifest_bytes = read_bytes(manifest_path)
    if manifest_bytes is None:
        raise BundleError("%s is not a bundle: it has no %s" % (root, MANIFEST))
    manifest = parse_manifest(manifest_bytes, manifest_path)
    sums_bytes, sums = read_sums(root)
    signature = read_bytes(os.path.join(root, SIGNATURE))
    if signature is None:
        raise BundleError("%s is not signed: it has no %s" % (root, SIGNATURE))
    if sums.get(MANIFEST) != sha256_bytes(manifest_bytes):
        raise BundleError("%s does not match the one %s lists (altered after sealing)" % (manifest_path, SUMS))
    return manifest_bytes, sums_bytes, signature, sums, manifest


def delta_files(manifest: t.Dict[str, t.Any], base: t.Dict[str, t.Any]) -> t.List[str]:
    """Files whose content (sha256) the base bundle has under no path."""
    known = {entry["sha256"] for entry in base["files"].values()}
    return sorted(rel for rel, entry in manifest["files"].items() if entry["sha256"] not in known)


def delta_document(base_sha256: str, files: t.Sequence[str]) -> bytes:
    return (json.dumps({"format": FORMAT, "base_manifest_sha256": base_sha256, "files": list(files)},
                       indent=1, sort_keys=True) + "\n").encode()


class DeltaPlan:
    """What a delta of ``full_root`` against ``base_manifest`` holds."""

    def __init__(self, full_root: str, base_manifest: str) -> None:
        self.root = full_root
        self.manifest_bytes, self.sums_bytes, self.signature, _sums, self.manifest = read_top(full_root)
        base_bytes = read_bytes(base_manifest)
        if base_bytes is None:
            raise BundleError("base manifest %s does not exist" % base_manifest)
        base = read_manifest_file(base_manifest)
        self.base_sha256 = sha256_bytes(base_bytes)
        self.files = delta_files(self.manifest, base)
        self.bytes = sum(self.manifest["files"][rel]["size"] for rel in self.files)
        self.document = delta_document(self.base_sha256, self.files)

    def same_as(self, dest: str) -> bool:
        """Whether ``dest`` already is this delta (top files equal, every file of the size)."""
        if read_bytes(os.path.join(dest, DELTA)) != self.document:
            return False
        for name, data in ((MANIFEST, self.manifest_bytes), (SUMS, self.sums_bytes), (SIGNATURE, self.signature)):
            if read_bytes(os.path.join(dest, name)) != data:
                return False
        present, problems = walk(dest)
        if problems or present != sorted(self.files + [DELTA]):
            return False
        return all(os.path.getsize(os.path.join(dest, rel)) == self.manifest["files"][rel]["size"]
                   for rel in self.files)

    def write(self, dest: str, link: bool = True) -> t.Tuple[int, int]:
        """Build the delta in a temporary directory beside ``dest`` and rename it into place;
        (files linked, files copied)."""
        parent = os.path.dirname(os.path.abspath(dest))
        os.makedirs(parent, exist_ok=True)
        temp = tempfile.mkdtemp(prefix=TEMP_PREFIX + "delta-", dir=parent)
        linked = copied = 0
        try:
            for rel in self.files:
                digest, is_link = link_or_copy(os.path.join(self.root, rel), os.path.join(temp, rel), link)
                if digest != self.manifest["files"][rel]["sha256"]:
                    raise BundleError("%s: damaged in %s (sha256 %s, MANIFEST.json says %s)"
                                      % (rel, self.root, digest, self.manifest["files"][rel]["sha256"]))
                linked, copied = linked + is_link, copied + (not is_link)
            for name, data in ((MANIFEST, self.manifest_bytes), (SUMS, self.sums_bytes),
                               (SIGNATURE, self.signature), (DELTA, self.document)):
                atomic_write(os.path.join(temp, name), data)
            os.chmod(temp, 0o755)
            replace_dir(temp, dest)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return linked, copied


def replace_dir(temp: str, dest: str) -> None:
    """Rename ``temp`` to ``dest``; an existing ``dest`` is moved aside first and removed after."""
    old = None
    if os.path.lexists(dest):
        old = tempfile.mkdtemp(prefix=TEMP_PREFIX + "old-", dir=os.path.dirname(os.path.abspath(dest)))
        os.rmdir(old)
        os.rename(dest, old)
    os.rename(temp, dest)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def read_delta(delta_root: str) -> t.Dict[str, t.Any]:
    path = os.path.join(delta_root, DELTA)
    data = read_bytes(path)
    if data is None:
        raise BundleError("%s is not a delta: it has no %s" % (delta_root, DELTA))
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError("%s is not valid JSON: %s" % (path, exc))
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BundleError("%s: format %r; this collection reads format %d"
                          % (path, document.get("format") if isinstance(document, dict) else None, FORMAT))
    base = document.get("base_manifest_sha256")
    if not isinstance(base, str) or len(base) != 64:
        raise BundleError("%s: base_manifest_sha256 is not a sha256" % path)
    document["files"] = [check_relpath(rel, path) for rel in document.get("files") or []]
    return document


class MergePlan:
    """Merging ``delta_root`` into ``root``: every file of the new bundle, where it comes
    from (the delta, the bundle itself, another file of the bundle with that content),
    and what the bundle holds that the new one no longer lists."""

    def __init__(self, delta_root: str, root: str) -> None:
        self.delta_root, self.root = delta_root, root
        self.delta = read_delta(delta_root)
        self.manifest_bytes, self.sums_bytes, self.signature, self.sums, self.manifest = read_top(delta_root)
        problems = consistency(self.manifest, self.sums)
        if problems:
            raise BundleError("delta %s: %s" % (delta_root, "; ".join(problems)))
        old = load_manifest(root)
        self.old_sha256 = sha256_bytes(t.cast(bytes, read_bytes(os.path.join(root, MANIFEST))))
        new_sha256 = self.sums[MANIFEST]
        if self.old_sha256 not in (self.delta["base_manifest_sha256"], new_sha256):
            raise BundleError("bundle %s is not the base of delta %s: its MANIFEST.json has sha256 %s, the delta "
                              "was made against %s" % (root, delta_root, self.old_sha256,
                                                       self.delta["base_manifest_sha256"]))
        self.done = all(read_bytes(os.path.join(root, name)) == data for name, data in
                        ((MANIFEST, self.manifest_bytes), (SUMS, self.sums_bytes), (SIGNATURE, self.signature)))
        present, self.stray = walk(root)
        self.stray = [line for line in self.stray if not line.startswith(TEMP_PREFIX + "merge-")]
        present_set = set(present)
        by_content: t.Dict[str, str] = {}
        for rel, entry in old["files"].items():
            if rel in present_set:
                by_content.setdefault(entry["sha256"], rel)
        in_delta = set(self.delta["files"])
        self.staged: t.List[t.Tuple[str, str]] = []  # (path in the new bundle, source file)
        self.kept: t.List[str] = []
        self.missing: t.List[str] = []
        new_files = self.manifest["files"]
        for rel in sorted(new_files):
            digest = new_files[rel]["sha256"]
            if rel in in_delta and os.path.isfile(os.path.join(delta_root, rel)) \
                    and not (self.done and rel in present_set):
                self.staged.append((rel, os.path.join(delta_root, rel)))
            elif rel in present_set and (old["files"].get(rel, {}).get("sha256") == digest or self.done
                                         or digest not in by_content):
                self.kept.append(rel)
            elif digest in by_content:
                self.staged.append((rel, os.path.join(root, by_content[digest])))
            else:
                self.missing.append("%s: neither in the delta nor (by content) in the bundle" % rel)
        self.removed = sorted(present_set - set(new_files))

    @property
    def changes(self) -> bool:
        return not self.done or bool(self.staged or self.removed)


def check_merge(plan: MergePlan, staging: t.Optional[str]) -> t.Tuple[t.List[str], int]:
    """Stage the delta's files into ``staging`` (or, with None, only read them) and hash
    every file of the merged bundle against the signed SHA256SUMS; (problems, bytes read)."""
    problems = list(plan.stray) + list(plan.missing)
    total = 0
    for rel, source in plan.staged:
        try:
            if staging is None:
                digest, _count = stream_sha256(source)
            else:
                digest, _link = link_or_copy(source, os.path.join(staging, rel),
                                             link=not source.startswith(os.path.abspath(plan.root) + os.sep))
        except OSError as exc:
            problems.append("%s: cannot be read from %s (%s)" % (rel, source, exc.strerror))
            continue
        total += plan.manifest["files"][rel]["size"]
        if digest != plan.sums[rel]:
            problems.append("%s: damaged in %s (sha256 %s, SHA256SUMS says %s)" % (rel, source, digest, plan.sums[rel]))
    for rel in plan.kept:
        try:
            digest, count = stream_sha256(os.path.join(plan.root, rel))
        except OSError as exc:
            problems.append("%s: cannot be read (%s)" % (rel, exc.strerror))
            continue
        total += count
        if digest != plan.sums[rel]:
            problems.append("%s: damaged in the bundle (sha256 %s, SHA256SUMS says %s)" % (rel, digest, plan.sums[rel]))
    return problems, total


def remove_leftovers(root: str) -> None:
    for name in os.listdir(root):
        if name.startswith(TEMP_PREFIX + "merge-"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def apply_merge(plan: MergePlan, staging: str) -> None:
    """The final step: staged files into place, unlisted files removed, top files last."""
    root = plan.root
    for rel, _source in plan.staged:
        target = os.path.join(root, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(os.path.join(staging, rel), target)
    for rel in plan.removed:
        os.unlink(os.path.join(root, rel))
        directory = os.path.dirname(os.path.join(root, rel))
        while os.path.abspath(directory) != os.path.abspath(root) and not os.listdir(directory):
            os.rmdir(directory)
            directory = os.path.dirname(directory)
    for name, data in ((MANIFEST, plan.manifest_bytes), (SUMS, plan.sums_bytes), (SIGNATURE, plan.signature)):
        atomic_write(os.path.join(root, name), data)
    shutil.rmtree(staging, ignore_errors=True)


def listing_problems(plan: MergePlan) -> t.List[str]:
    """After the final step: the bundle lists exactly the new files, each of its size."""
    present, problems = walk(plan.root)
    expected = plan.manifest["files"]
    for rel in sorted(set(present) ^ set(expected)):
        problems.append("%s: %s after the merge" % (rel, "left over" if rel in present else "missing"))
    for rel in sorted(set(present) & set(expected)):
        if os.path.getsize(os.path.join(plan.root, rel)) != expected[rel]["size"]:
            problems.append("%s: wrong size after the merge" % rel)
    return problems


def make_staging(root: str) -> str:
    return tempfile.mkdtemp(prefix=TEMP_PREFIX + "merge-", dir=root)
