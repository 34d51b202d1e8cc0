# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters of the artifact layer (DESIGN.md): which of a role's images an engine lacks,
and the apt package names of a deb set on a target. Documentation beside this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.module_utils import _artifacts, _image_ref


def _normal(ref):
    try:
        return _image_ref.normalize(str(ref))
    except _image_ref.InvalidReference:
        return None


def missing_images(keys, refs, present):
    """The keys (in order) whose reference ``refs[key]`` is not among ``present``, the
    names an engine lists (Docker's RepoTags spell Docker Hub images short,
    containerd spells them in full: both are compared normalized)."""
    have = {n for n in (_normal(name) for name in (present or [])) if n}
    missing = []
    for key in keys or []:
        if key not in (refs or {}):
            raise AnsibleFilterError("missing_images: no reference for image %r" % (key,))
        wanted = _normal(refs[key])
        if wanted is None:
            raise AnsibleFilterError("missing_images: %r is not an image reference" % (refs[key],))
        if wanted not in have:
            missing.append(key)
    return missing


def deb_packages(manifest, key, target, major=""):
    """The apt package names (``name=version`` where pinned) of deb set ``key`` for
    ``target`` (e.g. debian-bookworm): what the roles install and bundle.yml bundles."""
    try:
        return _artifacts.deb_packages(manifest, key, target, major=str(major or ""))
    except _artifacts.ArtifactError as exc:
        raise AnsibleFilterError("deb_packages: %s" % exc)


class FilterModule:
    """mlstack.platform's artifact-layer filters."""

    def filters(self):
        return {"missing_images": missing_images, "deb_packages": deb_packages}
