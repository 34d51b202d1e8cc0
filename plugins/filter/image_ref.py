# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Image references computed in one place (DESIGN.md): from an entry of the artifact
manifest (``mlstack_artifacts.images.<name>``) and ``mlstack_registry``.

Documentation of the filters is beside this file (image_ref.yml, registry_path.yml).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mlstack.platform.plugins.module_utils import _image_ref


def registry_path(ref):
    """The path of ``ref`` in a site registry: the reference without its registry host,
    with ``library/`` for Docker Hub's official images (the path Docker asks a registry
    mirror for). A tag or digest in ``ref`` is kept."""
    ref = to_text(ref)
    try:
        repository, tag, digest = _image_ref.parse(ref)
    except _image_ref.InvalidReference as exc:
        raise AnsibleFilterError("registry_path: %s" % exc)
    path = repository.split("/", 1)[1]
    # parse() adds ":latest" to a bare name; keep the caller's spelling instead.
    name = ref.partition("@")[0]
    has_tag = name.rfind(":") > name.rfind("/")
    return path + (":" + tag if has_tag and tag else "") + ("@" + digest if digest else "")


def image_ref(entry, registry="", from_archive=False, digest=False, with_tag=True):
    """``repository:tag`` of a manifest entry, rewritten to ``registry`` when one is set.

    ``from_archive``: the image is loaded from an archive, which carries the upstream
    name, so the reference is never rewritten. ``digest``: append the entry's
    ``@sha256:...`` (only for upstream references: a site registry re-pushes images, and
    a digest of a manifest list is not the digest of what was pushed). ``with_tag=False``:
    the repository alone, for charts that take repository and tag apart."""
    if not isinstance(entry, dict):
        raise AnsibleFilterError(
            "image_ref: expected a manifest entry (a dict with repository and tag), got %s"
            % type(entry).__name__)
    repository = to_text(entry.get("repository") or "")
    tag = to_text(entry.get("tag") or "")
    if not repository or not tag:
        raise AnsibleFilterError(
            "image_ref: the manifest entry %r lacks repository or tag" % (entry,))
    try:
        _image_ref.parse(repository + ":" + tag)
    except _image_ref.InvalidReference as exc:
        raise AnsibleFilterError("image_ref: %s" % exc)
    registry = to_text(registry or "").strip().rstrip("/")
    if registry and not from_archive:
        repository = registry + "/" + registry_path(repository)
    if not with_tag:
        return repository
    ref = repository + ":" + tag
    if registry and not from_archive:
        return ref
    if digest and entry.get("digest"):
        ref += "@" + to_text(entry["digest"])
    return ref


class FilterModule:
    """mlstack.platform's image reference filters."""

    def filters(self):
        return {
            "image_ref": image_ref,
            "registry_path": registry_path,
        }
