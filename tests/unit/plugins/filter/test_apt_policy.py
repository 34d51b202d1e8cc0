# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""apt_unsatisfied / apt_installed against real apt-cache policy output.

tests/unit/files/apt-cache-policy.txt is `LC_ALL=C apt-cache policy docker.io postgresql-15
nosuchpkg skopeo docker-ce` on a converged lab host (Debian 12, 2026-12-03): three packages
installed, one known but not installed (docker-ce: "(none)"), one apt does not know at all
(nothing printed on stdout for it)."""

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.apt_policy import apt_installed, apt_unsatisfied

POLICY = (Path(__file__).resolve().parents[2] / "files" / "apt-cache-policy.txt").read_text()


def test_installed_packages_are_satisfied():
    assert apt_unsatisfied(["docker.io", "postgresql-15", "skopeo"], POLICY) == []


def test_not_installed_and_unknown_packages_are_to_install():
    assert apt_unsatisfied(["docker-ce", "skopeo", "nosuchpkg"], POLICY) == ["docker-ce", "nosuchpkg"]


def test_a_pin_is_satisfied_only_by_that_version():
    assert apt_unsatisfied(["postgresql-15=15.18-0+deb12u1"], POLICY) == []
    assert apt_unsatisfied(["postgresql-15=15.17-0+deb12u1"], POLICY) == ["postgresql-15=15.17-0+deb12u1"]
    assert apt_unsatisfied(["docker-ce=5:27.3.1-1~debian.12~bookworm"], POLICY) == ["docker-ce=5:27.3.1-1~debian.12~bookworm"]


def test_a_pin_with_a_glob_matches_as_apt_does():
    assert apt_unsatisfied(["docker.io=20.10.*"], POLICY) == []
    assert apt_unsatisfied(["docker.io=24.*"], POLICY) == ["docker.io=24.*"]


def test_empty_policy_means_nothing_is_installed():
    assert apt_unsatisfied(["skopeo"], "") == ["skopeo"]
    assert apt_installed(["skopeo"], "") == []


def test_installed_names_in_input_order_pins_ignored():
    assert apt_installed(["skopeo", "docker-ce", "docker.io=1.0", "nosuchpkg"], POLICY) == ["skopeo", "docker.io=1.0"]


def test_bad_input_is_named():
    with pytest.raises(AnsibleFilterError, match="apt-cache policy"):
        apt_unsatisfied(["skopeo"], None)
    with pytest.raises(AnsibleFilterError, match="not a package name"):
        apt_unsatisfied(["=1.0"], POLICY)
