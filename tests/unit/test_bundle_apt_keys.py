# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The bundle fetches a third-party repository's key from the URL of the TARGET's
distribution (roles/bundle/tasks/apt-key.yml gives the manifest's key_url template the
target's facts: bundle.yml contacts no host), the same distribution bundle_deb_sources puts
into the repository's URL, and keeps one checked key per target."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.mlstack.platform.plugins.filter.bundle import bundle_deb_sources

ROOT = pathlib.Path(__file__).resolve().parents[2]


def trusted(node):
    if isinstance(node, str):
        return trust_as_template(node)
    if isinstance(node, dict):
        return {key: trusted(value) for key, value in node.items()}
    if isinstance(node, list):
        return [trusted(value) for value in node]
    return node


def manifest():
    return yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())["mlstack_artifacts_builtin"]


def include_vars():
    tasks = yaml.safe_load((ROOT / "roles/bundle/tasks/apt-key.yml").read_text())
    [task] = [t for t in tasks if (t.get("ansible.builtin.include_role") or {}).get("tasks_from") == "apt_key"]
    return task["vars"]


def render(expression, variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


@pytest.mark.parametrize("target", ["debian-bookworm", "ubuntu-jammy", "ubuntu-noble"])
def test_dockers_key_url_follows_the_target_distribution(target):
    artifacts = manifest()
    entry = artifacts["targets"][target]
    task_vars = include_vars()
    variables = dict(trusted(task_vars), mlstack_artifacts=trusted(artifacts), _bundle_repository="docker_upstream",
                     _bundle_target=target, _bundle_deb_target=entry)
    url = render(task_vars["common_apt_key_url"], variables)
    distribution = entry["distribution"].lower()
    assert url == "https://download.docker.com/linux/%s/gpg" % distribution
    # The repository the key signs, as bundle_debs reads it: the same distribution.
    [source] = [s for s in bundle_deb_sources(artifacts, target, {"docker_upstream": "/k.asc"}) if s["keyring"] == "/k.asc"]
    assert source["uri"] == "https://download.docker.com/linux/%s" % distribution
    assert url == source["uri"] + "/gpg"


def test_one_checked_key_per_target():
    """Two targets of one repository do not share a key file (get_url would not fetch the
    second target's key over the first's)."""
    role_vars = yaml.safe_load((ROOT / "roles/bundle/vars/main.yml").read_text())
    assert include_vars()["common_apt_key_dest"] == "{{ _bundle_apt_key_file }}"
    path = role_vars["_bundle_apt_key_file"]
    assert "{{ _bundle_target }}" in path and "{{ _bundle_repository }}" in path
