# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The offline_registry role's computed values (plugins/filter/offline_registry_import.py):
the server certificate's SANs and the bundle's images the registry still lacks."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.offline_registry_import import (
    FilterModule,
    offline_registry_probe_results,
    offline_registry_tls_sans,
    offline_registry_to_push,
)


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"offline_registry_tls_sans", "offline_registry_to_push",
                                             "offline_registry_probe_results"}


def test_tls_sans_of_the_lab_registry():
    # The lab's registry host: its name in mlstack_registry, inventory name, fqdn, bind addresses.
    names = ["mlstack-lab-registry", "mlstack-lab-host1", "host1.lab", "localhost", "10.64.140.11", "127.0.0.1"]
    assert offline_registry_tls_sans(names) == ["DNS:mlstack-lab-registry", "DNS:mlstack-lab-host1", "DNS:host1.lab",
                                                "DNS:localhost", "IP:10.64.140.11", "IP:127.0.0.1"]


def test_tls_sans_ipv6_needs_two_colons():
    assert offline_registry_tls_sans(["fd00::10", "::1", "host:5000", "r.example"]) == [
        "IP:fd00::10", "IP:::1", "DNS:host:5000", "DNS:r.example"]
    assert offline_registry_tls_sans([]) == []
    with pytest.raises(AnsibleFilterError, match="expected a list of names"):
        offline_registry_tls_sans("registry")


def item(name, config):
    return {"ref": "docker.io/library/%s" % name, "target": "library/%s" % name, "config": config}


def inspect(config_digest):
    return json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                                      "digest": config_digest}})


def test_to_push():
    probe = {"results": [
        # Held with the same config: nothing to do.
        {"rc": 0, "stdout": inspect("sha256:aa"), "item": item("registry:2.8.3", "sha256:aa")},
        # Held under the name, but another image (an older tag pushed again upstream).
        {"rc": 0, "stdout": inspect("sha256:old"), "item": item("minio:R", "sha256:bb")},
        # manifest unknown: not there.
        {"rc": 1, "stderr": "manifest unknown", "stdout": "", "item": item("pypiserver:v2", "sha256:cc")},
        # An answer without a manifest, or one that is not JSON.
        {"rc": 0, "stdout": "", "item": item("x:1", "sha256:dd")},
        {"rc": 0, "stdout": "<html>", "item": item("z:1", "sha256:ff")},
        # Not asked (check mode on a registry still to be started).
        {"skipped": True, "item": item("y:1", "sha256:ee")},
    ]}
    assert [i["config"] for i in offline_registry_to_push(probe)] == ["sha256:bb", "sha256:cc", "sha256:dd", "sha256:ff",
                                                                      "sha256:ee"]


def test_to_push_of_nothing():
    assert offline_registry_to_push({}) == []
    assert offline_registry_to_push({"results": []}) == []


def test_to_push_errors():
    with pytest.raises(AnsibleFilterError, match="expected the registered result"):
        offline_registry_to_push([])
    with pytest.raises(AnsibleFilterError, match="result 0 of the registry probe has no image item"):
        offline_registry_to_push({"results": [{"rc": 0}]})


REFS = [{"target": "library/registry:3.1.0", "config": "sha256:aa"}, {"target": "pypiserver/pypiserver:v2", "config": "sha256:bb"}]


def test_probe_results_pair_each_answer_with_its_image_and_feed_to_push():
    held = json.dumps({"config": {"digest": "sha256:aa"}})
    raw = {"rc": 0, "stdout": json.dumps([{"rc": 0, "stdout": held, "stderr": ""},
                                          {"rc": 1, "stdout": "", "stderr": "manifest unknown"}])}
    probe = offline_registry_probe_results(raw, REFS)
    assert [r["item"]["target"] for r in probe["results"]] == ["library/registry:3.1.0", "pypiserver/pypiserver:v2"]
    assert offline_registry_to_push(probe) == [REFS[1]]


def test_a_skipped_probe_holds_nothing():
    probe = offline_registry_probe_results({"skipped": True, "changed": False}, REFS)
    assert offline_registry_to_push(probe) == REFS


def test_a_probe_that_answers_for_other_images_is_refused():
    with pytest.raises(AnsibleFilterError, match="answered for 1 images, 2 were asked"):
        offline_registry_probe_results({"rc": 0, "stdout": json.dumps([{"rc": 1, "stdout": ""}])}, REFS)
    with pytest.raises(AnsibleFilterError, match="no JSON list"):
        offline_registry_probe_results({"rc": 0, "stdout": "Traceback"}, REFS)
