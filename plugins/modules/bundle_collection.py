#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_collection
short_description: Put the collection's tarball into the bundle, replaced only when the collection changed
version_added: 0.1.0
description:
  - Runs on the connected side. Makes the tarball C(ansible-galaxy collection install --offline)
    takes, in a temporary directory outside the bundle. From a checkout (O(src) holds
    C(galaxy.yml)) with C(ansible-galaxy collection build); from an installed collection
    (which already holds C(MANIFEST.json) and C(FILES.json)) by packing the tree as it is,
    without C(__pycache__).
  - The tarball in the bundle (O(dest)) is replaced only when the digest of the new
    tarball's file list (C(MANIFEST.json) C(file_manifest_file.chksum_sha256), the digest of
    C(FILES.json), which holds every file's sha256) differs from the one O(dest) holds, so a
    re-run over an unchanged collection writes nothing and reports no change (a tarball
    rebuilt from the same files differs in its timestamps only).
  - The new tarball is written beside O(dest) under a temporary name and renamed into place.
  - Building costs seconds (C(ansible-galaxy) starts, walks, hashes and compresses the tree), so
    a re-run first computes a digest of the inputs (the sha256 of every file the build would
    take, by C(ansible-galaxy)'s own selection rules (C(build_ignore) of C(galaxy.yml), or every
    file of an installed tree but C(__pycache__)), C(galaxy.yml) itself and the ansible-core
    version) and skips the build when the last run recorded the same digest for the O(dest) that
    is still there (same size, mtime and inode). The record is kept in O(cache_dir) on the
    connected side only; any change of a file, a new or removed file, another O(dest) or a
    rewritten O(dest) builds again.
author:
  - mlstack.platform developers (@mlstack)
options:
  src:
    description: The collection's root (a checkout with C(galaxy.yml), or an installed collection).
    type: path
    required: true
  dest:
    description: The tarball in the bundle (C(<bundle>/controller/<namespace>-<name>-<version>.tar.gz)).
    type: path
    required: true
  galaxy:
    description: The ansible-galaxy binary (for a checkout).
    type: path
    default: ansible-galaxy
  cache_dir:
    description:
      - Where the digest of the inputs of the last build is kept (one file per O(dest)). An
        empty value builds every run.
    type: path
    default: ~/.cache/mlstack
attributes:
  check_mode:
    support: full
    description: Builds in a temporary directory and says whether O(dest) would be replaced; writes nothing there.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: An unchanged collection leaves O(dest) as it is.
"""

EXAMPLES = r"""
- name: Put the collection into the bundle
  mlstack.platform.bundle_collection:
    src: "{{ role_path | dirname | dirname }}"
    dest: /media/bundle/controller/mlstack-platform-0.1.0.tar.gz
"""

RETURN = r"""
files_sha256:
  description: The digest of the tarball's FILES.json (its MANIFEST.json's file_manifest_file.chksum_sha256).
  returned: success
  type: str
built_from:
  description: C(checkout) or C(installed).
  returned: success
  type: str
built:
  description: Whether a tarball was built this run (false when the digest of the inputs matched the last build's).
  returned: success
  type: bool
"""

import fnmatch
import glob
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._bundle import TEMP_PREFIX, atomic_write, sha256_bytes

CACHE_VERSION = 1
# What `ansible-galaxy collection build` always leaves out (ansible.galaxy.collection's
# _build_files_manifest_walk), before galaxy.yml's build_ignore patterns.
GALAXY_IGNORE_PATTERNS = ("MANIFEST.json", "FILES.json", "galaxy.yml", "galaxy.yaml", ".git", "*.pyc", "*.retry",
                          "tests/output", "{namespace}-{name}-*.tar.gz")
GALAXY_IGNORE_DIRS = frozenset(("CVS", ".bzr", ".hg", ".git", ".svn", "__pycache__", ".tox"))


def files_digest(tarball: str) -> t.Optional[str]:
    """The FILES.json digest a collection tarball's MANIFEST.json records, or None."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            member = tar.extractfile("MANIFEST.json")
            if member is None:
                return None
            manifest = json.load(member)
        return manifest["file_manifest_file"]["chksum_sha256"]
    except (OSError, KeyError, TypeError, ValueError, tarfile.TarError):
        return None


def pack_installed(src: str, out: str) -> None:
    """The installed tree as a tarball whose members are relative to its root."""
    def keep(info: tarfile.TarInfo) -> t.Optional[tarfile.TarInfo]:
        return None if "__pycache__" in info.name.split("/") else info
    with tarfile.open(out, "w:gz") as tar:
        for name in sorted(os.listdir(src)):
            tar.add(os.path.join(src, name), arcname=name, filter=keep)


def galaxy_selection(src: str) -> t.Optional[t.List[str]]:
    """The files (relative paths) `ansible-galaxy collection build` takes from a checkout, by
    its rules; None when galaxy.yml uses `manifest:` (distlib rules, not reproduced here) or
    cannot be read, so that the caller builds."""
    import yaml  # the controller's PyYAML, which Ansible needs anyway

    try:
        with open(os.path.join(src, "galaxy.yml"), "rb") as stream:
            meta = yaml.safe_load(stream)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(meta, dict) or meta.get("manifest") is not None:
        return None
    patterns = [p.format(namespace=meta.get("namespace"), name=meta.get("name")) for p in GALAXY_IGNORE_PATTERNS]
    patterns += [str(p) for p in meta.get("build_ignore") or []]
    selected: t.List[str] = []

    def walk(directory: str, rel_dir: str) -> None:
        for item in sorted(os.listdir(directory)):
            path, rel = os.path.join(directory, item), os.path.join(rel_dir, item) if rel_dir else item
            ignored = any(fnmatch.fnmatch(rel, pattern) for pattern in patterns)
            if os.path.isdir(path):
                if item in GALAXY_IGNORE_DIRS or ignored:
                    continue
                selected.append(rel + "/")
                if not os.path.islink(path):
                    walk(path, rel)
            elif not ignored:
                selected.append(rel)

    walk(src, "")
    return selected


def installed_selection(src: str) -> t.List[str]:
    """The files pack_installed puts into the tarball."""
    selected = []
    for directory, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel_dir = os.path.relpath(directory, src)
        for name in [d + "/" for d in dirs] + sorted(files):
            selected.append(name if rel_dir == "." else os.path.join(rel_dir, name))
    return selected


def inputs_digest(src: str, galaxy: str) -> t.Optional[str]:
    """A digest of everything the tarball is made from: each selected file's path and
    sha256 (a symbolic link's target too), galaxy.yml, and the ansible-core version that
    builds. None: no digest can be made (always build)."""
    from ansible.module_utils.ansible_release import __version__ as ansible_version

    checkout = os.path.isfile(os.path.join(src, "galaxy.yml"))
    selected = galaxy_selection(src) if checkout else installed_selection(src)
    if selected is None:
        return None
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, ansible_version, os.path.realpath(src), galaxy]).encode())
    for rel in (["galaxy.yml"] if checkout else []) + selected:
        path = os.path.join(src, rel)
        entry = [rel, os.readlink(path.rstrip("/")) if os.path.islink(path.rstrip("/")) else None]
        if not rel.endswith("/"):
            with open(path, "rb") as stream:
                entry.append(hashlib.sha256(stream.read()).hexdigest())
        digest.update(json.dumps(entry).encode() + b"\n")
    return digest.hexdigest()


class BuildRecord:
    """The digest of the inputs of the tarball last put at ``dest``, with that tarball's
    size, mtime and inode, in a file outside the bundle (connected side only)."""

    def __init__(self, cache_dir: t.Optional[str], dest: str) -> None:
        self.path = None
        if cache_dir:
            cache_dir = os.path.realpath(cache_dir)  # type path: expanded by the argument spec
            self.path = os.path.join(cache_dir, "bundle_collection",
                                     sha256_bytes(os.path.realpath(dest).encode())[:24] + ".json")
        self.dest = dest

    @staticmethod
    def _stat(path: str) -> t.Optional[t.List[int]]:
        try:
            info = os.stat(path)
        except OSError:
            return None
        return [info.st_size, info.st_mtime_ns, info.st_ino]

    def files_sha256(self, key: t.Optional[str]) -> t.Optional[str]:
        """FILES.json's digest of the tarball at dest, if it was made from inputs ``key``."""
        if not self.path or key is None:
            return None
        try:
            with open(self.path, encoding="utf-8") as stream:
                data = json.load(stream)
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("key") != key:
            return None
        stat = self._stat(self.dest)
        if stat is None or data.get("dest") != stat or not isinstance(data.get("files_sha256"), str):
            return None
        return t.cast(str, data["files_sha256"])

    def save(self, key: t.Optional[str], files_sha256: str) -> None:
        stat = self._stat(self.dest)
        if not self.path or key is None or stat is None:
            return
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        data = {"version": CACHE_VERSION, "key": key, "dest": stat, "files_sha256": files_sha256}
        atomic_write(self.path, json.dumps(data, sort_keys=True).encode(), mode=0o600)


def build(module: AnsibleModule, src: str, scratch: str) -> t.Tuple[str, str]:
    if os.path.isfile(os.path.join(src, "galaxy.yml")):
        galaxy = module.params["galaxy"]
        galaxy = galaxy if "/" in galaxy else module.get_bin_path(galaxy, required=True)
        rc, out, err = module.run_command([galaxy, "collection", "build", src, "--output-path", scratch])
        if rc != 0:
            module.fail_json(msg="bundle_collection: ansible-galaxy collection build %s failed: %s"
                             % (src, (err or out).strip().splitlines()[-1:] or "no output"))
        built = glob.glob(os.path.join(scratch, "*.tar.gz"))
        if len(built) != 1:
            module.fail_json(msg="bundle_collection: ansible-galaxy wrote %d tarballs in %s" % (len(built), scratch))
        return built[0], "checkout"
    if not os.path.isfile(os.path.join(src, "MANIFEST.json")):
        module.fail_json(msg="bundle_collection: %s is neither a checkout (galaxy.yml) nor an installed collection "
                         "(MANIFEST.json)" % src)
    out = os.path.join(scratch, "collection.tar.gz")
    pack_installed(src, out)
    return out, "installed"


def main() -> None:
    module = AnsibleModule(argument_spec=dict(
        src=dict(type="path", required=True),
        dest=dict(type="path", required=True),
        galaxy=dict(type="path", default="ansible-galaxy"),
        cache_dir=dict(type="path", default="~/.cache/mlstack"),
    ), supports_check_mode=True)
    src, dest = module.params["src"], module.params["dest"]
    built_from = "checkout" if os.path.isfile(os.path.join(src, "galaxy.yml")) else "installed"
    record = BuildRecord(module.params["cache_dir"] or None, dest)
    try:
        key = inputs_digest(src, module.params["galaxy"]) if os.path.isdir(src) else None
    except OSError:
        key = None
    known = record.files_sha256(key)
    if known is not None and files_digest(dest) == known:
        module.exit_json(changed=False, files_sha256=known, built_from=built_from, built=False, dest=dest)
    scratch = tempfile.mkdtemp(suffix=".mlstack-collection")
    try:
        tarball, built_from = build(module, src, scratch)
        new = files_digest(tarball)
        if new is None:
            module.fail_json(msg="bundle_collection: the tarball built from %s has no MANIFEST.json file list digest" % src)
        changed = files_digest(dest) != new
        if changed and not module.check_mode:
            directory = os.path.dirname(dest)
            os.makedirs(directory, mode=0o755, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
            try:
                with os.fdopen(fd, "wb") as out, open(tarball, "rb") as stream:
                    shutil.copyfileobj(stream, out, 4 * 1024 * 1024)
                os.chmod(temp, 0o644)
                os.replace(temp, dest)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not module.check_mode:
        try:
            record.save(key, new)
        except OSError as exc:
            module.warn("bundle_collection: cannot write %s: %s" % (record.path, exc.strerror))
    module.exit_json(changed=changed, files_sha256=new, built_from=built_from, built=True, dest=dest)


if __name__ == "__main__":
    main()
