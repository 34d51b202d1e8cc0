# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils._image_ref import (
    InvalidReference,
    familiar,
    looks_like_reference,
    normalize,
)


@pytest.mark.parametrize("ref, expected", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("mlstack-test/a:1", "docker.io/mlstack-test/a:1"),
    ("docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("localhost/a:1", "localhost/a:1"),
    ("localhost:5000/a/b:1", "localhost:5000/a/b:1"),
    ("registry.example.com/team/app", "registry.example.com/team/app:latest"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
    ("busybox:1@sha256:" + "a" * 64, "docker.io/library/busybox:1@sha256:" + "a" * 64),
])
def test_normalize(ref, expected):
    assert normalize(ref) == expected


@pytest.mark.parametrize("ref", ["", " busybox", "upper/Case:1", "a:bad tag", "a@sha256", "a//b:1"])
def test_invalid(ref):
    with pytest.raises(InvalidReference):
        normalize(ref)


@pytest.mark.parametrize("ref, expected", [
    ("docker.io/library/busybox:1", "busybox:1"),
    ("docker.io/mlstack-test/a:1", "mlstack-test/a:1"),
    ("registry.example.com/a:1", "registry.example.com/a:1"),
    ("docker.io/library/busybox", "busybox"),
])
def test_familiar(ref, expected):
    assert familiar(ref) == expected


@pytest.mark.parametrize("name, expected", [
    ("latest", False), ("1.0", False), ("mlstack-test/a:1", True), ("busybox:1", True), ("Bad/Name:1", False)])
def test_looks_like_reference(name, expected):
    assert looks_like_reference(name) is expected
