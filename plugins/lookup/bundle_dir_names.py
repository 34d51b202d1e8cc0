# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Lookup mlstack.platform.bundle_dir_names: the names at the top of a would-be bundle
directory, read on the controller, so that bundle.yml can refuse a directory that is not
a bundle before it writes anything (without a module run)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bundle_dir_names
author: mlstack.platform developers (@mlstack)
short_description: The names at the top of a directory on the controller (hidden ones too)
description:
  - Lists the entries (files, directories, links, hidden ones included) directly in the
    directory given, sorted, on the controller. A directory that does not exist gives an
    empty list; a path that exists and is not a directory fails, naming it.
  - Role bundle compares them with the names a bundle may hold (docs/bundle-format.md), so
    that a wrong C(mlstack_bundle_dir) is refused before anything is fetched or written.
options:
  _terms:
    description: The directory (one).
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
- name: Refuse a directory that holds something a bundle does not
  ansible.builtin.assert:
    that: query('mlstack.platform.bundle_dir_names', mlstack_bundle_dir) | difference(allowed) | length == 0
  vars:
    allowed: [MANIFEST.json, SHA256SUMS, SHA256SUMS.sig, controller, python, apt, images, snaps, charts]
"""

RETURN = r"""
_list:
  description: The entry names, sorted; empty when the directory does not exist.
  type: list
  elements: str
"""

import os
import typing as t

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def dir_names(path: str) -> t.List[str]:
    """The sorted entry names of ``path``; [] when it does not exist; ValueError otherwise."""
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise ValueError("%s exists and is not a directory" % path) from None
    except OSError as exc:
        raise ValueError("%s cannot be listed: %s" % (path, exc.strerror)) from None


class LookupModule(LookupBase):

    def run(self, terms: t.List[t.Any], variables: t.Any = None, **kwargs: t.Any) -> t.List[str]:
        if len(terms) != 1 or not terms[0] or kwargs:
            raise AnsibleLookupError("bundle_dir_names: give one term, the directory, and no options")
        try:
            return dir_names(str(terms[0]))
        except ValueError as exc:
            raise AnsibleLookupError("bundle_dir_names: %s" % exc) from exc
