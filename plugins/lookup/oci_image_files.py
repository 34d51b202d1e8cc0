# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Lookup mlstack.platform.oci_image_files: the blob files some images of an OCI image
layout need, to copy only those to a host before image_import loads them."""

from __future__ import annotations

DOCUMENTATION = r"""
name: oci_image_files
author: mlstack.platform developers (@mlstack)
short_description: The blob files that chosen images of an OCI image layout need
description:
  - Reads, on the controller, the layout's C(oci-layout), C(index.json) and the manifest of
    each chosen image (checked against its digest); never reads a layer or a config.
  - Returns the sorted, unique list of paths relative to the layout
    (C(blobs/sha256/<hex>)) of everything the images need, the manifest (and an image
    index the entry points at), the config and every layer. A layer shared by several
    images is listed once.
  - Blobs are named by their digest, so a copy that already exists on the host is the right
    one; copy them with M(ansible.builtin.copy) and C(force=false) (no checksum of large
    files on either end), together with C(oci-layout) and C(index.json), then load the
    images with M(mlstack.platform.image_import) and O(mlstack.platform.image_import#module:layout).
  - Returns the list itself with C(lookup()); C(query()) wraps it in a one-element list.
options:
  _terms:
    description:
      - The layout directory, then the image references to choose (a list, or several
        terms), spelt as in the layout's C(org.opencontainers.image.ref.name) annotations or
        in any equivalent form (C(registry:2.8) is C(docker.io/library/registry:2.8)).
      - Without references, every named image of the layout is chosen.
      - A reference the layout does not hold fails the lookup, naming it.
    required: true
    type: list
    elements: raw
"""

EXAMPLES = r"""
- name: Copy the blobs of the images this host needs to it (existing blobs are kept)
  ansible.builtin.copy:
    src: "{{ mlstack_bundle_dir }}/images/oci/{{ item }}"
    dest: "/var/lib/mlstack/oci/{{ item }}"
    force: false
    mode: "0644"
  loop: "{{ lookup('mlstack.platform.oci_image_files', mlstack_bundle_dir ~ '/images/oci', wanted_refs) }}"
"""

RETURN = r"""
_list:
  description: Paths relative to the layout directory, sorted, each once.
  type: list
  elements: str
  sample: [blobs/sha256/0b1c..., blobs/sha256/7a8f...]
"""

import typing as t

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mlstack.platform.plugins.module_utils import _oci_layout


def _refs(terms: t.Sequence[t.Any]) -> t.Optional[t.List[str]]:
    refs: t.List[str] = []
    for term in terms:
        if isinstance(term, (list, tuple)):
            refs.extend(str(ref) for ref in term)
        elif term is not None:
            refs.append(str(term))
    return refs if terms else None


class LookupModule(LookupBase):

    def run(self, terms: t.List[t.Any], variables: t.Any = None, **kwargs: t.Any) -> t.List[t.List[str]]:
        if not terms or not isinstance(terms[0], str) or not terms[0]:
            raise AnsibleLookupError("oci_image_files: the first term must be the layout directory")
        try:
            return [_oci_layout.needed_files(terms[0], _refs(terms[1:]))]
        except _oci_layout.LayoutError as exc:
            raise AnsibleLookupError("oci_image_files: %s" % exc)
