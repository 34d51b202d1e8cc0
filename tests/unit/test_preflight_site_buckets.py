# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The preflight's bucket rules through ansible-playbook (issue 15): the buckets Label
Studio's projects name, and Seldon's model storage consumer, are the S3 store's."""

from __future__ import annotations

from test_preflight_site import broken_copy, controller_paths, failure_lines, playbook, plays_that_ran

PREFLIGHT_ONLY = ["Preflight (every host's inputs, before anything changes)"]


def test_label_studio_projects_name_only_buckets_the_store_creates(tmp_path):
    copy = broken_copy(tmp_path, "lab", lambda text: text + (
        "label_studio_projects:\n"
        "  - title: Street scenes\n"
        "    s3_import: {bucket: pachyderm, prefix: street}\n"
        "    s3_export: {bucket: label-studioo}\n"
        "  - title: Fine\n"
        "    s3_export: {prefix: fine}\n"))
    rc, report, stderr = playbook(copy, "--check", *controller_paths(tmp_path))
    assert rc != 0
    assert failure_lines(report) == [
        "mlstack-lab-host1: label_studio_projects: Street scenes: s3_export: bucket label-studioo is not one of "
        "minio_buckets on mlstack-lab-host1, the store that creates the buckets; did you mean label-studio?",
        "mlstack-lab-host1: label_studio_projects: Street scenes: s3_import: bucket pachyderm in minio_buckets on "
        "mlstack-lab-host1 does not give label_studio (label_studio_s3_consumer) read_only or read_write",
    ]
    assert plays_that_ran(report) == PREFLIGHT_ONLY


def test_seldons_consumer_must_be_named_by_a_bucket(tmp_path):
    copy = broken_copy(tmp_path, "multi_node", lambda text: text.replace(
        "seldon_model_storage_consumer: seldon", "seldon_model_storage_consumer: serving"))
    rc, report, stderr = playbook(copy, "--check")
    assert rc != 0
    # Only on the first control-plane host, where the Helm apps are installed from.
    assert failure_lines(report) == [
        "k8s1: seldon_model_storage_consumer: serving is named by no bucket of minio_buckets on data1 "
        "(read_only or read_write), so the minio role makes no key for it"]
    assert plays_that_ran(report) == PREFLIGHT_ONLY
