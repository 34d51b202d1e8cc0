# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Lookup mlstack.platform.oci_images: the named images of an OCI image layout on the
controller, with what a registry push needs (offline_registry's import)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: oci_images
author: mlstack.platform developers (@mlstack)
short_description: The named images of an OCI image layout, for pushing them to a registry
description:
  - Reads the layout's C(index.json) and each image's manifest (checked against its digest)
    on the controller; never reads layers.
  - For each image named by an C(org.opencontainers.image.ref.name) annotation, returns the
    name as written (what C(skopeo copy oci:LAYOUT:NAME) looks up), its path in a site
    registry (as mlstack.platform.registry_path gives it), its manifest and config digests.
options:
  _terms:
    description: The layout directory (one).
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
- name: Show the bundle's images
  ansible.builtin.debug:
    msg: "{{ query('mlstack.platform.oci_images', mlstack_bundle_dir ~ '/images/oci') | map(attribute='ref') }}"
"""

RETURN = r"""
_list:
  description: One dict per named image, in index order.
  type: list
  elements: dict
  contains:
    ref: {description: The name in the layout (the upstream reference)., type: str}
    target: {description: "Repository path and tag in a site registry (e.g. C(library/registry:3.1.0)).", type: str}
    manifest: {description: Digest of the image manifest., type: str}
    config: {description: Digest of the image config (the image ID)., type: str}
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mlstack.platform.plugins.filter.image_ref import registry_path
from ansible_collections.mlstack.platform.plugins.module_utils import _oci_layout


def layout_images(path):
    store = _oci_layout.open_layout(path)
    out = []
    for image in _oci_layout.read_images(store):
        name = image.annotations.get(_oci_layout.ANNOTATION_REF_NAME) or image.ref
        if not image.ref or not name:
            continue
        out.append({"ref": name, "target": registry_path(image.ref), "manifest": image.manifest.digest,
                    "config": image.config.digest})
    return out


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if len(terms) != 1:
            raise AnsibleLookupError("oci_images: give one layout directory")
        try:
            return layout_images(str(terms[0]))
        except _oci_layout.LayoutError as exc:
            raise AnsibleLookupError("oci_images: %s" % exc)
