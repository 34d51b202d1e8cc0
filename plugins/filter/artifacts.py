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


def image_mode(offline, registry="", archive="", source="auto"):
    """Where a role's missing images come from (common's entry point `image`):
    ``archive`` when an archive is given, ``pull`` online or through a site registry
    (``registry``: every image of the bundle is pushed there), ``layout`` (the bundle's OCI
    layout) offline without one. ``source`` other than auto wins."""
    source = str(source or "auto")
    if source not in ("auto", "pull", "layout", "archive"):
        raise AnsibleFilterError("image_mode: source must be auto, pull, layout or archive, got %r" % source)
    if source != "auto":
        return source
    if archive:
        return "archive"
    offline = offline if isinstance(offline, bool) else str(offline).lower() in ("1", "true", "yes", "on")
    return "pull" if (not offline or registry) else "layout"


def deb_packages(manifest, keys, target, major=""):
    """The apt package names (``name=version`` where pinned) of the deb set(s) ``keys``
    (a key or a list of keys) for ``target`` (e.g. debian-bookworm), each name once: what
    the roles install and bundle.yml bundles."""
    keys = [keys] if isinstance(keys, str) else list(keys or [])
    names = []
    try:
        for key in keys:
            for name in _artifacts.deb_packages(manifest, key, target, major=str(major or "")):
                if name not in names:
                    names.append(name)
    except _artifacts.ArtifactError as exc:
        raise AnsibleFilterError("deb_packages: %s" % exc)
    return names


class FilterModule:
    """mlstack.platform's artifact-layer filters."""

    def filters(self):
        return {"missing_images": missing_images, "deb_packages": deb_packages, "image_mode": image_mode}
