# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The minio role's access model (plugins/filter/minio_access.py), over the buckets of the
example inventories and the role's defaults, the edge cases and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.minio_access import (
    FilterModule,
    minio_consumer_buckets,
    minio_consumers,
    minio_policy,
    minio_policy_keys,
    minio_seaweedfs_identities,
    minio_tls_sans,
)

ROOT = Path(__file__).resolve().parents[4]


def buckets_of(path):
    return yaml.safe_load((ROOT / path).read_text())["minio_buckets"]


SINGLE_NODE = "inventories/single_node/group_vars/all/main.yml"
DEFAULTS = "roles/minio/defaults/main.yml"


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"minio_consumers", "minio_consumer_buckets", "minio_seaweedfs_identities",
                                             "minio_policy", "minio_policy_keys", "minio_tls_sans"}


def test_consumers_of_the_single_node_site():
    # gitlab writes two buckets and seldon only reads one: each consumer once, sorted.
    assert minio_consumers(buckets_of(SINGLE_NODE)) == ["determined", "gitlab", "label_studio", "pachyderm", "seldon"]


def test_consumer_buckets_of_the_single_node_site():
    assert minio_consumer_buckets(buckets_of(SINGLE_NODE)) == {
        "determined": {"read_write": ["determined-checkpoints"], "read_only": []},
        "gitlab": {"read_write": ["seldon-models", "gitlab-artifacts"], "read_only": []},
        "label_studio": {"read_write": ["label-studio"], "read_only": []},
        "pachyderm": {"read_write": ["pachyderm"], "read_only": []},
        "seldon": {"read_write": [], "read_only": ["seldon-models"]},
    }


def test_defaults_have_no_read_only_consumer():
    result = minio_consumer_buckets(buckets_of(DEFAULTS))
    assert list(result) == ["determined", "gitlab", "label_studio", "pachyderm"]
    assert all(v["read_only"] == [] and len(v["read_write"]) == 1 for v in result.values())


def test_both_lists_give_read_write_and_missing_or_null_lists_are_empty():
    buckets = [{"name": "b1", "read_write": ["x"], "read_only": ["x", "y"]}, {"name": "b2", "read_only": None},
               {"name": "b3"}]
    assert minio_consumer_buckets(buckets) == {"x": {"read_write": ["b1"], "read_only": []},
                                               "y": {"read_write": [], "read_only": ["b1"]}}


def test_consumers_sorted_like_jinja_sort():
    # Jinja's sort ignores case; the vars used it (the role's assert refuses upper case anyway).
    assert minio_consumers([{"name": "b1", "read_write": ["beta", "Alpha", "beta"]}]) == ["Alpha", "beta"]


@pytest.mark.parametrize("empty", [[], None])
def test_no_buckets(empty):
    assert minio_consumers(empty) == []
    assert minio_consumer_buckets(empty) == {}


@pytest.mark.parametrize("buckets,message", [
    ({"name": "b"}, "minio_buckets must be a list"),
    ([{"read_write": ["x"]}], r"minio_buckets\[0\] needs a name"),
    (["b1"], r"minio_buckets\[0\] needs a name"),
    ([{"name": "b1"}, {"name": "b2", "read_write": "x"}], r"minio_buckets\[1\] \(b2\)\.read_write must be a list"),
    ([{"name": "b1", "read_only": [{"x": 1}]}], r"minio_buckets\[0\] \(b1\)\.read_only must be a list of consumer names"),
])
def test_bad_buckets_are_one_line_errors(buckets, message):
    for f in (minio_consumers, minio_consumer_buckets):
        with pytest.raises(AnsibleFilterError, match=message) as err:
            f(buckets)
        assert "\n" not in str(err.value)


ROOT_KEYS = {"access_key": "ROOTKEY", "secret_key": "rootsecret"}
KEYS = {"gitlab": {"access_key": "GL", "secret_key": "gls"}, "seldon": {"access_key": "SE", "secret_key": "ses"}}


def test_seaweedfs_identities():
    buckets = minio_consumer_buckets(buckets_of(SINGLE_NODE))
    buckets = {k: v for k, v in buckets.items() if k in KEYS}
    assert minio_seaweedfs_identities(buckets, ROOT_KEYS, KEYS) == {"identities": [
        {"name": "mlstack-root", "credentials": [{"accessKey": "ROOTKEY", "secretKey": "rootsecret"}],
         "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
        {"name": "gitlab", "credentials": [{"accessKey": "GL", "secretKey": "gls"}],
         "actions": ["Read:seldon-models", "Read:gitlab-artifacts", "Write:seldon-models", "Write:gitlab-artifacts",
                     "List:seldon-models", "List:gitlab-artifacts", "Tagging:seldon-models", "Tagging:gitlab-artifacts"]},
        {"name": "seldon", "credentials": [{"accessKey": "SE", "secretKey": "ses"}],
         "actions": ["Read:seldon-models", "List:seldon-models"]},
    ]}


def test_seaweedfs_identities_without_consumers_is_the_root_alone():
    assert [i["name"] for i in minio_seaweedfs_identities({}, ROOT_KEYS, {})["identities"]] == ["mlstack-root"]


@pytest.mark.parametrize("args,message", [
    (({"gitlab": {"read_write": ["b"]}}, ROOT_KEYS, {}), "no keys for consumer gitlab"),
    (({"gitlab": {"read_write": ["b"]}}, ROOT_KEYS, {"gitlab": {"access_key": "GL"}}), "keys of gitlab need"),
    (({}, {"access_key": "R"}, {}), "keys of the root identity need"),
    (([], ROOT_KEYS, {}), "expected the consumers' buckets"),
])
def test_seaweedfs_identities_errors(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        minio_seaweedfs_identities(*args)


def test_policy_of_a_writer_and_of_a_reader():
    writer = minio_policy({"read_write": ["seldon-models", "gitlab-artifacts"], "read_only": []})
    assert writer == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
         "Resource": ["arn:aws:s3:::gitlab-artifacts", "arn:aws:s3:::seldon-models"]},
        {"Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": ["arn:aws:s3:::gitlab-artifacts/*", "arn:aws:s3:::seldon-models/*"]},
        {"Effect": "Allow",
         "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
         "Resource": ["arn:aws:s3:::gitlab-artifacts/*", "arn:aws:s3:::seldon-models/*"]},
    ]}
    reader = minio_policy({"read_write": [], "read_only": ["seldon-models"]})
    # No write statement at all for a reader.
    assert [s["Action"][0] for s in reader["Statement"]] == ["s3:GetBucketLocation", "s3:GetObject"]
    assert reader["Statement"][1]["Resource"] == ["arn:aws:s3:::seldon-models/*"]


def test_policy_error():
    with pytest.raises(AnsibleFilterError, match="expected a consumer's buckets"):
        minio_policy(["b"])


def test_policy_keys_match_minio_s_own_ordering():
    ours = minio_policy({"read_write": [], "read_only": ["b", "a"]})
    # What `mc admin policy info` gives back: statements reordered, lists reordered, and a
    # single action or resource as a string.
    theirs = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/*", "arn:aws:s3:::a/*"]},
        {"Effect": "Allow", "Action": ["s3:ListBucketMultipartUploads", "s3:GetBucketLocation", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::a"]}]}
    assert minio_policy_keys(ours) == minio_policy_keys(theirs) == [
        "Allow|s3:GetBucketLocation,s3:ListBucket,s3:ListBucketMultipartUploads|arn:aws:s3:::a,arn:aws:s3:::b",
        "Allow|s3:GetObject|arn:aws:s3:::a/*,arn:aws:s3:::b/*"]
    # A policy that grants more is a different policy.
    theirs["Statement"][0]["Action"] = ["s3:GetObject", "s3:PutObject"]
    assert minio_policy_keys(ours) != minio_policy_keys(theirs)


@pytest.mark.parametrize("empty", [None, {}, {"Statement": None}, []])
def test_policy_keys_of_nothing(empty):
    assert minio_policy_keys(empty) == []


def test_policy_keys_errors():
    with pytest.raises(AnsibleFilterError, match="expected a policy"):
        minio_policy_keys("policy")
    with pytest.raises(AnsibleFilterError, match="a statement must be a dict"):
        minio_policy_keys({"Statement": ["Allow"]})


def test_tls_sans():
    names = ["s3.site.example", "ml1", "10.0.0.11", "localhost", "127.0.0.1", "fd00::5"]
    assert minio_tls_sans(names) == ["IP:10.0.0.11", "IP:127.0.0.1", "IP:fd00::5",
                                     "DNS:s3.site.example", "DNS:ml1", "DNS:localhost"]
    # Dotted names that are not four numbers stay DNS names.
    assert minio_tls_sans(["1.2.3", "v1.2.3.4.example"]) == ["DNS:1.2.3", "DNS:v1.2.3.4.example"]
    assert minio_tls_sans([]) == []
    with pytest.raises(AnsibleFilterError, match="expected a list of names"):
        minio_tls_sans("ml1")
