# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Lookup mlstack.platform.tree_digest: one digest for a directory tree on the controller,
without reading its files when a bundle's MANIFEST.json already knows them."""

from __future__ import annotations

DOCUMENTATION = r"""
name: tree_digest
author: mlstack.platform developers (@mlstack)
short_description: One digest of a directory tree, from the bundle's checksums when it has them
description:
  - Gives a C(sha256:) digest of the tree's regular files (relative paths and contents), which
    changes when a file is added, removed or changed. Role common's entry point C(tree)
    compares it with the digest recorded on the host and moves the tree only when they differ.
  - Inside a bundle (a parent directory holds C(MANIFEST.json) listing every file of the tree)
    the files' sha256 come from the manifest, so nothing is read. Elsewhere the digest is
    taken over each file's path, size and modification time (no file is read either), so a
    changed file with the same size and time is not seen, as with C(rsync)'s quick check.
options:
  _terms:
    description: The directory (one).
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
- name: Show the wheelhouse's digest
  ansible.builtin.debug:
    msg: "{{ lookup('mlstack.platform.tree_digest', mlstack_bundle_dir ~ '/python') }}"
"""

RETURN = r"""
_raw:
  description: C(sha256:<hex>) (C(content:) prefix when taken from a bundle's checksums, C(stat:) otherwise).
  type: list
  elements: str
"""

import hashlib
import json
import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def _files(root):
    out = []
    for base, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(base, name)
            if os.path.isfile(path) and not os.path.islink(path):
                out.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(out)


def _bundle_of(root):
    here = os.path.abspath(root)
    while True:
        if os.path.isfile(os.path.join(here, "MANIFEST.json")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def tree_digest(root):
    if not os.path.isdir(root):
        raise AnsibleLookupError("tree_digest: %s is not a directory" % root)
    files = _files(root)
    bundle = _bundle_of(root)
    digest = hashlib.sha256()
    if bundle:
        with open(os.path.join(bundle, "MANIFEST.json"), encoding="utf-8") as handle:
            known = (json.load(handle).get("files") or {})
        prefix = os.path.relpath(os.path.abspath(root), bundle).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        entries = [known.get(prefix + name) for name in files]
        if all(entry and entry.get("sha256") for entry in entries):
            for name, entry in zip(files, entries):
                digest.update(("%s\0%s\n" % (name, entry["sha256"])).encode())
            return "content:sha256:" + digest.hexdigest()
    for name in files:
        stat = os.stat(os.path.join(root, name))
        digest.update(("%s\0%d\0%d\n" % (name, stat.st_size, stat.st_mtime_ns)).encode())
    return "stat:sha256:" + digest.hexdigest()


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if len(terms) != 1:
            raise AnsibleLookupError("tree_digest: give one directory")
        return [tree_digest(str(terms[0]))]
