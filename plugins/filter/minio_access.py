# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The minio role's access model, computed from its one list ``minio_buckets``: the
consumers, each consumer's buckets, SeaweedFS' identities, MinIO's per-consumer policies
(and a comparable form of them), and the subject alternative names of the generated
certificate.

Documentation of the filters is beside this file (minio_consumers.yml, ...).
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# S3 actions of MinIO's policies: on the bucket, reading objects, writing objects.
BUCKET_ACTIONS = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
READ_ACTIONS = ["s3:GetObject"]
WRITE_ACTIONS = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject"]
# SeaweedFS' bucket-scoped actions (<Action>:<bucket>).
SEAWEEDFS_READ_WRITE = ["Read", "Write", "List", "Tagging"]
SEAWEEDFS_READ_ONLY = ["Read", "List"]
SEAWEEDFS_ROOT = {"name": "mlstack-root", "actions": ["Admin", "Read", "List", "Tagging", "Write"]}
# An IPv4 literal, or anything with a colon (an IPv6 literal), is an IP: name.
_IP_NAME = re.compile(r"^([0-9]+\.){3}[0-9]+$|:")


def _sorted(items):
    """Sorted as Jinja's sort sorts strings (case-insensitive, stable)."""
    return sorted(items, key=lambda item: item.lower() if isinstance(item, str) else item)


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _buckets(buckets, filter_name):
    """minio_buckets checked for what the filters read: a list of dicts with a name and
    lists of consumer names."""
    if buckets is None:
        return []
    if not isinstance(buckets, (list, tuple)):
        raise AnsibleFilterError("%s: minio_buckets must be a list of buckets, got %s" % (filter_name, type(buckets).__name__))
    checked = []
    for index, bucket in enumerate(buckets):
        if not isinstance(bucket, dict) or not to_text(bucket.get("name") or ""):
            raise AnsibleFilterError("%s: minio_buckets[%d] needs a name (got %r)" % (filter_name, index, bucket))
        entry = {"name": to_text(bucket["name"])}
        for access in ("read_write", "read_only"):
            consumers = bucket.get(access, [])
            if consumers is None:
                consumers = []
            if not isinstance(consumers, (list, tuple)) or not all(isinstance(c, str) for c in consumers):
                raise AnsibleFilterError("%s: minio_buckets[%d] (%s).%s must be a list of consumer names, got %r"
                                         % (filter_name, index, entry["name"], access, consumers))
            entry[access] = [to_text(c) for c in consumers]
        checked.append(entry)
    return checked


def minio_consumers(buckets):
    """Every consumer named in minio_buckets, once, sorted."""
    buckets = _buckets(buckets, "minio_consumers")
    named = [c for b in buckets for c in b["read_write"]] + [c for b in buckets for c in b["read_only"]]
    return _sorted(_unique(named))


def minio_consumer_buckets(buckets):
    """{consumer: {read_write: [bucket...], read_only: [bucket...]}} in bucket order; a
    consumer named in both lists of a bucket gets read_write."""
    checked = _buckets(buckets, "minio_consumer_buckets")
    result = {}
    for consumer in minio_consumers(buckets):
        read_write = [b["name"] for b in checked if consumer in b["read_write"]]
        read_only = [b["name"] for b in checked if consumer in b["read_only"] and b["name"] not in read_write]
        result[consumer] = {"read_write": read_write, "read_only": read_only}
    return result


def _key_pair(keys, who):
    if not isinstance(keys, dict) or not keys.get("access_key") or not keys.get("secret_key"):
        raise AnsibleFilterError("minio_seaweedfs_identities: the keys of %s need access_key and secret_key" % who)
    return [{"accessKey": keys["access_key"], "secretKey": keys["secret_key"]}]


def minio_seaweedfs_identities(consumer_buckets, root, consumer_keys):
    """SeaweedFS' s3.json: the root identity, then one identity per consumer with
    bucket-scoped actions only (no anonymous identity: unsigned requests are refused)."""
    if not isinstance(consumer_buckets, dict):
        raise AnsibleFilterError("minio_seaweedfs_identities: expected the consumers' buckets (a dict), got %s"
                                 % type(consumer_buckets).__name__)
    if not isinstance(consumer_keys, dict):
        raise AnsibleFilterError("minio_seaweedfs_identities: the consumers' keys must be a dict, got %s"
                                 % type(consumer_keys).__name__)
    identities = [{"name": SEAWEEDFS_ROOT["name"], "credentials": _key_pair(root, "the root identity"),
                   "actions": list(SEAWEEDFS_ROOT["actions"])}]
    for consumer, buckets in consumer_buckets.items():
        if consumer not in consumer_keys:
            raise AnsibleFilterError("minio_seaweedfs_identities: no keys for consumer %s" % consumer)
        actions = ["%s:%s" % (a, b) for a in SEAWEEDFS_READ_WRITE for b in buckets.get("read_write", [])]
        actions += ["%s:%s" % (a, b) for a in SEAWEEDFS_READ_ONLY for b in buckets.get("read_only", [])]
        identities.append({"name": consumer, "credentials": _key_pair(consumer_keys[consumer], consumer),
                           "actions": actions})
    return {"identities": identities}


def _arns(buckets, objects=False):
    return _sorted("arn:aws:s3:::" + b + ("/*" if objects else "") for b in buckets)


def minio_policy(policy_buckets):
    """MinIO's policy of one consumer from its {read_write, read_only} buckets: list the
    buckets and read their objects; write objects only in the read_write ones."""
    if not isinstance(policy_buckets, dict):
        raise AnsibleFilterError("minio_policy: expected a consumer's buckets ({read_write, read_only}), got %s"
                                 % type(policy_buckets).__name__)
    read_write = list(policy_buckets.get("read_write") or [])
    every = read_write + list(policy_buckets.get("read_only") or [])
    statements = [
        {"Effect": "Allow", "Action": list(BUCKET_ACTIONS), "Resource": _arns(every)},
        {"Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": _arns(every, objects=True)},
    ]
    if read_write:
        statements.append({"Effect": "Allow", "Action": list(WRITE_ACTIONS), "Resource": _arns(read_write, objects=True)})
    return {"Version": "2012-10-17", "Statement": statements}


def minio_policy_keys(policy):
    """A policy's statements as sorted "Effect|actions|resources" strings (lists sorted,
    a single action or resource as a one-element list), since MinIO gives a policy back
    with its own ordering. ``policy`` is a policy document or its list of statements;
    none (or no Statement) gives []."""
    if policy is None:
        return []
    if isinstance(policy, dict):
        policy = policy.get("Statement") or []
    if not isinstance(policy, (list, tuple)):
        raise AnsibleFilterError("minio_policy_keys: expected a policy or its statements, got %s" % type(policy).__name__)
    keys = []
    for statement in policy:
        if not isinstance(statement, dict):
            raise AnsibleFilterError("minio_policy_keys: a statement must be a dict, got %r" % (statement,))
        parts = []
        for field in ("Action", "Resource"):
            value = statement.get(field, [])
            parts.append(",".join(_sorted([value] if isinstance(value, str) else list(value))))
        keys.append("%s|%s|%s" % (to_text(statement.get("Effect", "")), parts[0], parts[1]))
    return _sorted(keys)


def minio_tls_sans(names):
    """Subject alternative names: IPv4 and IPv6 literals as IP: entries first, then every
    other name as a DNS: entry, each group in the order given."""
    if not isinstance(names, (list, tuple)):
        raise AnsibleFilterError("minio_tls_sans: expected a list of names, got %s" % type(names).__name__)
    names = [to_text(n) for n in names]
    return (["IP:" + n for n in names if _IP_NAME.search(n)]
            + ["DNS:" + n for n in names if not _IP_NAME.search(n)])


class FilterModule:
    """The minio role's access model."""

    def filters(self):
        return {
            "minio_consumers": minio_consumers,
            "minio_consumer_buckets": minio_consumer_buckets,
            "minio_seaweedfs_identities": minio_seaweedfs_identities,
            "minio_policy": minio_policy,
            "minio_policy_keys": minio_policy_keys,
            "minio_tls_sans": minio_tls_sans,
        }
