#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: s3_backup
short_description: Dump S3 buckets with their checksums to a directory, or restore them from one
version_added: 0.1.0
description:
  - Works through the S3 API only, so it serves every S3 store the minio role runs (MinIO,
    SeaweedFS) and any other.
  - O(state=dump) downloads every object of O(buckets) into O(path) - C(blobs/<sha256>), each
    distinct content once - and writes C(objects.json), one entry per object (bucket, key,
    size, SHA-256, MD5, content type). Each object is hashed while it streams; nothing is held
    in memory.
  - O(state=restore) first checks every blob of the dump against its SHA-256 (a missing or
    damaged blob fails the task naming the file, before anything is written), creates missing
    buckets, then puts each object the store lacks or holds with other content (the object is
    replaced). Objects the store holds with the same content are left alone, so a restore onto
    a store that already holds the dump changes nothing. Objects of the store that are not in
    the dump are kept.
  - Restored objects carry their SHA-256 as user metadata (C(x-amz-meta-sha256)).
author:
  - mlstack.platform developers (@mlstack)
requirements:
  - boto3 on the host that runs the module
options:
  state:
    description:
      - V(dump) writes the buckets to O(path); V(restore) writes O(path) into the store.
    type: str
    choices: [dump, restore]
    required: true
  path:
    description:
      - The dump directory (made mode 0700 by O(state=dump)).
    type: path
    required: true
  buckets:
    description:
      - Buckets to dump; empty dumps every bucket the credentials list. Ignored by O(state=restore).
    type: list
    elements: str
    default: []
  endpoint_url:
    description:
      - The store's S3 endpoint.
    type: str
    required: true
  access_key:
    description:
      - Access key with read (dump) or write (restore) access to the buckets.
    type: str
    required: true
  secret_key:
    description:
      - Its secret key.
    type: str
    required: true
  region:
    description:
      - Region name the store answers to.
    type: str
    default: us-east-1
  ca_bundle:
    description:
      - CA file to verify the endpoint's certificate with; empty uses the system's CAs.
    type: path
attributes:
  check_mode:
    support: full
    description: O(state=restore) reports what it would upload; O(state=dump) writes nothing.
  diff_mode:
    support: none
    description: Nothing to show as a diff; the result lists the objects put or skipped.
  idempotent:
    support: partial
    description: A restore uploads only what differs; a dump always writes a new copy.
"""

EXAMPLES = r"""
- name: Dump every bucket of the store
  mlstack.platform.s3_backup:
    state: dump
    path: /var/backups/mlstack/run/s3
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ root_access_key }}"
    secret_key: "{{ root_secret_key }}"
  no_log: true

- name: Restore them
  mlstack.platform.s3_backup:
    state: restore
    path: /var/backups/mlstack/run/s3
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ root_access_key }}"
    secret_key: "{{ root_secret_key }}"
  no_log: true
"""

RETURN = r"""
buckets:
  description: The buckets dumped.
  returned: state=dump
  type: list
  elements: str
objects:
  description: Objects in the dump.
  returned: always
  type: int
bytes:
  description: Bytes dumped.
  returned: state=dump
  type: int
uploaded:
  description: bucket/key of each object put (or that would be, in check mode).
  returned: state=restore
  type: list
  elements: str
present:
  description: Objects the store already held with the same content.
  returned: state=restore
  type: int
buckets_created:
  description: Buckets created by the restore.
  returned: state=restore
  type: list
  elements: str
"""

import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mlstack.platform.plugins.module_utils import _s3_backup

try:
    import boto3
    from botocore.config import Config
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()


def make_client(params: dict) -> Any:
    return boto3.client(
        "s3", endpoint_url=params["endpoint_url"], aws_access_key_id=params["access_key"],
        aws_secret_access_key=params["secret_key"], region_name=params["region"],
        verify=params["ca_bundle"] or True,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", connect_timeout=10,
                      read_timeout=60, retries={"mode": "standard", "max_attempts": 5}))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["dump", "restore"]),
            path=dict(type="path", required=True),
            buckets=dict(type="list", elements="str", default=[]),
            endpoint_url=dict(type="str", required=True),
            access_key=dict(type="str", required=True, no_log=True),
            secret_key=dict(type="str", required=True, no_log=True),
            region=dict(type="str", default="us-east-1"),
            ca_bundle=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    params = module.params
    try:
        client = make_client(params)
        if params["state"] == "dump":
            if module.check_mode:
                names = _s3_backup.bucket_names(client, params["buckets"])
                module.exit_json(changed=True, buckets=names, objects=0, bytes=0)
            result = _s3_backup.dump(client, params["buckets"], params["path"])
            module.exit_json(changed=True, **result)
        result = _s3_backup.restore(client, params["path"], check_mode=module.check_mode)
        module.exit_json(changed=bool(result["uploaded"] or result["buckets_created"]), **result)
    except _s3_backup.BackupError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # botocore errors: one line naming the endpoint
        module.fail_json(msg="S3 store %s: %s" % (params["endpoint_url"], exc))


if __name__ == "__main__":
    main()
