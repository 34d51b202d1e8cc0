# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Lookup mlstack.platform.bundle_files: the files of one artifact of a bundle, with the
size and sha256 its MANIFEST.json records, so that a host's copy can be compared without
hashing anything on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bundle_files
author: mlstack.platform developers (@mlstack)
short_description: The files of one artifact of a bundle, with their recorded size and sha256
description:
  - Reads the bundle's C(MANIFEST.json) (docs/bundle-format.md) on the controller, the
    artifact's record (its C(id), e.g. C(chart/determined) or C(snap/microk8s)) and, for each
    pattern, the ONE file of that record the pattern matches, with the size and sha256 the
    manifest's C(files) map gives it. No file of the bundle is read or hashed (the bundle was
    verified as a whole by bundle_verify); each file's size is compared with the record.
  - Role common's entry points C(chart) and C(snap) copy these files to a host only when the
    host's copy differs (same size, then sha256 on the host).
  - Fails, naming it, on a directory that is not a bundle, an artifact the bundle does not
    hold, a pattern that matches none or several of its files, a file the manifest records
    without a size and sha256, and a file that is missing or has another size.
options:
  _terms:
    description: The bundle directory (one).
    required: true
    type: list
    elements: path
  artifact:
    description: The artifact's id in MANIFEST.json (C(<kind>/<key>)).
    required: true
    type: str
  patterns:
    description:
      - Shell patterns (C(fnmatch)) of file paths relative to the bundle, e.g.
        C(charts/determined-0.38.1.tgz) or C(snaps/core22_*.snap); each must match exactly one
        of the artifact's files. Empty gives every file of the artifact.
    type: list
    elements: str
    default: []
  dest:
    description:
      - A directory on the host; each result then has C(dest), the file's name in it.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Show the bundle's chart file of Determined
  ansible.builtin.debug:
    msg: >-
      {{ query('mlstack.platform.bundle_files', mlstack_bundle_dir, artifact='chart/determined',
               patterns=['charts/determined-0.38.1.tgz']) }}
"""

RETURN = r"""
_list:
  description: One dict per pattern, in the patterns' order (per file, sorted, without patterns).
  type: list
  elements: dict
  contains:
    path: {description: The path relative to the bundle., type: str}
    src: {description: The file's absolute path on the controller., type: str}
    size: {description: Its size in bytes (MANIFEST.json)., type: int}
    sha256: {description: Its sha256 in lower-case hex (MANIFEST.json)., type: str}
    dest: {description: "With O(dest), C(<dest>/<file name>).", type: str}
"""

import fnmatch
import json
import os
import typing as t

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

REMAKE = "make it with playbooks/bundle.yml for this inventory, or check mlstack_bundle_dir"


class BundleFilesError(ValueError):
    """A bundle, artifact or file that cannot be used as asked."""


def read_manifest(bundle: str) -> t.Dict[str, t.Any]:
    path = os.path.join(bundle, "MANIFEST.json")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise BundleFilesError("%s has no MANIFEST.json, so it is not a bundle: %s" % (bundle, REMAKE)) from None
    except (OSError, ValueError) as exc:
        raise BundleFilesError("%s cannot be read: %s" % (path, exc)) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), list) \
            or not isinstance(manifest.get("files"), dict):
        raise BundleFilesError("%s has no artifacts list and files map (docs/bundle-format.md)" % path)
    return manifest


def artifact_files(manifest: t.Mapping[str, t.Any], bundle: str, artifact: str) -> t.List[str]:
    for record in manifest["artifacts"]:
        if isinstance(record, dict) and record.get("id") == artifact:
            return sorted(str(name) for name in record.get("files") or [])
    raise BundleFilesError("the bundle %s holds no artifact %s (MANIFEST.json): %s" % (bundle, artifact, REMAKE))


def _match(names: t.Sequence[str], pattern: str, bundle: str, artifact: str) -> str:
    found = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise BundleFilesError("artifact %s of the bundle %s has no file %s (it has %s): %s"
                               % (artifact, bundle, pattern, ", ".join(names) or "none", REMAKE))
    raise BundleFilesError("artifact %s of the bundle %s has %d files %s (%s): one is expected"
                           % (artifact, bundle, len(found), pattern, ", ".join(found)))


def _entry(manifest: t.Mapping[str, t.Any], bundle: str, name: str) -> t.Dict[str, t.Any]:
    record = manifest["files"].get(name)
    if not isinstance(record, dict) or not isinstance(record.get("size"), int) \
            or not isinstance(record.get("sha256"), str) or len(record["sha256"]) != 64:
        raise BundleFilesError("%s/MANIFEST.json records no size and sha256 for %s: %s" % (bundle, name, REMAKE))
    src = os.path.join(bundle, *name.split("/"))
    state = ""
    if not os.path.isfile(src) or os.path.islink(src):
        state = "missing"
    elif os.stat(src).st_size != record["size"]:
        state = "%d bytes, not the %d MANIFEST.json records" % (os.stat(src).st_size, record["size"])
    if state:
        raise BundleFilesError("%s is %s: the bundle is damaged (playbooks/bundle_verify.yml names every such file)"
                               % (src, state))
    return {"path": name, "src": src, "size": record["size"], "sha256": record["sha256"].lower()}


def bundle_files(bundle: str, artifact: str, patterns: t.Sequence[str] = (),
                 dest: str = "") -> t.List[t.Dict[str, t.Any]]:
    """The files of ``artifact`` matching ``patterns`` (one each), as the manifest records
    them; with ``dest``, each with its path in that host directory."""
    manifest = read_manifest(bundle)
    names = artifact_files(manifest, bundle, artifact)
    chosen = [_match(names, str(p), bundle, artifact) for p in patterns] if patterns else names
    out = [_entry(manifest, bundle, name) for name in chosen]
    if dest:
        for entry in out:
            entry["dest"] = "%s/%s" % (dest.rstrip("/"), entry["path"].rsplit("/", 1)[-1])
    return out


def _options(kwargs: t.Mapping[str, t.Any]) -> t.Tuple[str, t.List[str], str]:
    unknown = sorted(set(kwargs) - {"artifact", "patterns", "dest"})
    if unknown:
        raise BundleFilesError("unknown option %s (artifact, patterns, dest)" % ", ".join(unknown))
    artifact, patterns, dest = kwargs.get("artifact"), kwargs.get("patterns") or [], kwargs.get("dest") or ""
    if not isinstance(artifact, str) or not artifact:
        raise BundleFilesError("artifact=<kind>/<key> is required")
    if isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns):
        raise BundleFilesError("patterns must be a list of strings")
    return artifact, list(patterns), str(dest)


class LookupModule(LookupBase):

    def run(self, terms: t.List[t.Any], variables: t.Any = None, **kwargs: t.Any) -> t.List[t.Dict[str, t.Any]]:
        try:
            if len(terms) != 1 or not terms[0]:
                raise BundleFilesError("give one term, the bundle directory")
            artifact, patterns, dest = _options(kwargs)
            return bundle_files(str(terms[0]), artifact, patterns, dest)
        except BundleFilesError as exc:
            raise AnsibleLookupError("bundle_files: %s" % exc) from exc
