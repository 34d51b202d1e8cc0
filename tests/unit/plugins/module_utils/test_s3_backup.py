# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""_s3_backup against an in-memory S3 client that behaves as boto3's does for the calls used
(ETag = MD5 of a single-part upload, 404 ClientError-shaped errors, user metadata)."""

from __future__ import annotations

import hashlib
import io
import json
import os

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils import _s3_backup


class FakeError(Exception):
    def __init__(self, code: str):
        super().__init__("An error occurred (%s)" % code)
        self.response = {"Error": {"Code": code}}


class FakePaginator:
    def __init__(self, store, page_size=2):
        self.store, self.page_size = store, page_size

    def paginate(self, Bucket):
        keys = sorted(self.store.buckets[Bucket])
        for start in range(0, max(len(keys), 1), self.page_size):
            chunk = keys[start:start + self.page_size]
            yield {"Contents": [{"Key": k} for k in chunk]} if chunk else {}


class FakeS3:
    def __init__(self):
        self.buckets = {}
        self.puts = []

    def add(self, bucket, key, data, content_type="application/octet-stream", metadata=None):
        self.buckets.setdefault(bucket, {})[key] = {"data": data, "type": content_type, "meta": metadata or {}}

    def list_buckets(self):
        return {"Buckets": [{"Name": n} for n in self.buckets]}

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        return FakePaginator(self)

    def get_object(self, Bucket, Key):
        obj = self.buckets[Bucket][Key]
        return {"Body": io.BytesIO(obj["data"]), "ContentType": obj["type"]}

    def head_object(self, Bucket, Key):
        if Bucket not in self.buckets or Key not in self.buckets[Bucket]:
            raise FakeError("404")
        obj = self.buckets[Bucket][Key]
        return {"ContentLength": len(obj["data"]), "ETag": '"%s"' % hashlib.md5(obj["data"]).hexdigest(),
                "Metadata": dict(obj["meta"])}

    def head_bucket(self, Bucket):
        if Bucket not in self.buckets:
            raise FakeError("404")

    def create_bucket(self, Bucket):
        self.buckets[Bucket] = {}

    def put_object(self, Bucket, Key, Body, ContentLength, Metadata, ContentType=None):
        data = Body.read()
        assert len(data) == ContentLength
        self.puts.append((Bucket, Key))
        self.add(Bucket, Key, data, ContentType or "binary/octet-stream", Metadata)


@pytest.fixture
def store():
    s3 = FakeS3()
    s3.add("labelstudio", "lab/a.json", b'{"a": 1}', "application/json")
    s3.add("labelstudio", "lab/b.bin", os.urandom(3 * 1024 * 1024 + 5))
    s3.add("labelstudio", "lab/copy-of-a.json", b'{"a": 1}', "application/json")
    s3.add("determined", "ckpt/1", b"checkpoint")
    s3.create_bucket("empty")
    return s3


def test_dump_writes_each_content_once_with_its_checksums(store, tmp_path):
    summary = _s3_backup.dump(store, [], str(tmp_path))
    assert summary["buckets"] == ["determined", "empty", "labelstudio"]
    assert summary["objects"] == 4
    index = json.loads((tmp_path / "objects.json").read_text())
    by_key = {(e["bucket"], e["key"]): e for e in index["objects"]}
    data = store.buckets["labelstudio"]["lab/b.bin"]["data"]
    entry = by_key[("labelstudio", "lab/b.bin")]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["md5"] == hashlib.md5(data).hexdigest()
    assert (tmp_path / "blobs" / entry["sha256"]).read_bytes() == data
    assert by_key[("labelstudio", "lab/a.json")]["content_type"] == "application/json"
    # Two objects with the same content share one blob; no partial file is left.
    assert len(os.listdir(tmp_path / "blobs")) == 3
    assert summary["bytes"] == sum(len(o["data"]) for b in store.buckets.values() for o in b.values())


def test_dump_of_named_buckets_refuses_a_missing_one(store, tmp_path):
    with pytest.raises(_s3_backup.BackupError, match="buckets not found in the store: nope"):
        _s3_backup.dump(store, ["labelstudio", "nope"], str(tmp_path))


def test_restore_onto_an_empty_store_puts_everything_back_identical(store, tmp_path):
    _s3_backup.dump(store, [], str(tmp_path))
    fresh = FakeS3()
    result = _s3_backup.restore(fresh, str(tmp_path))
    assert sorted(result["buckets_created"]) == ["determined", "empty", "labelstudio"]
    assert len(result["uploaded"]) == 4 and result["present"] == 0
    for bucket, objects in store.buckets.items():
        assert {k: v["data"] for k, v in fresh.buckets[bucket].items()} == {k: v["data"] for k, v in objects.items()}
    assert fresh.buckets["labelstudio"]["lab/a.json"]["type"] == "application/json"


def test_restore_again_changes_nothing_and_replaces_what_differs(store, tmp_path):
    _s3_backup.dump(store, [], str(tmp_path))
    fresh = FakeS3()
    _s3_backup.restore(fresh, str(tmp_path))
    fresh.puts.clear()
    again = _s3_backup.restore(fresh, str(tmp_path))
    assert again["uploaded"] == [] and again["present"] == 4 and again["buckets_created"] == []
    assert fresh.puts == []
    # Same size, other content (metadata sha256 says so) -> replaced; an extra object is kept.
    fresh.add("determined", "ckpt/1", b"CHECKPOINT", metadata={"sha256": "0" * 64})
    fresh.add("determined", "extra", b"kept")
    third = _s3_backup.restore(fresh, str(tmp_path))
    assert third["uploaded"] == ["determined/ckpt/1"]
    assert fresh.buckets["determined"]["ckpt/1"]["data"] == b"checkpoint"
    assert fresh.buckets["determined"]["extra"]["data"] == b"kept"


def test_restore_onto_the_source_store_uses_the_etag(store, tmp_path):
    """Objects written by another client carry no sha256 metadata: the MD5 ETag decides."""
    _s3_backup.dump(store, [], str(tmp_path))
    result = _s3_backup.restore(store, str(tmp_path))
    assert result["uploaded"] == [] and result["present"] == 4


def test_check_mode_reports_and_writes_nothing(store, tmp_path):
    _s3_backup.dump(store, [], str(tmp_path))
    fresh = FakeS3()
    result = _s3_backup.restore(fresh, str(tmp_path), check_mode=True)
    assert len(result["uploaded"]) == 4
    assert fresh.buckets == {} and fresh.puts == []


def test_a_changed_byte_is_refused_naming_the_file_before_anything_is_written(store, tmp_path):
    _s3_backup.dump(store, [], str(tmp_path))
    entry = next(e for e in json.loads((tmp_path / "objects.json").read_text())["objects"] if e["key"] == "lab/b.bin")
    blob = tmp_path / "blobs" / entry["sha256"]
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0x01
    blob.write_bytes(bytes(data))
    fresh = FakeS3()
    with pytest.raises(_s3_backup.BackupError, match=r"blobs/%s: checksum mismatch \(object labelstudio/lab/b.bin" % entry["sha256"]):
        _s3_backup.restore(fresh, str(tmp_path))
    assert fresh.buckets == {} and fresh.puts == []


def test_a_missing_blob_or_a_bad_index_is_refused(store, tmp_path):
    _s3_backup.dump(store, ["determined"], str(tmp_path))
    entry = json.loads((tmp_path / "objects.json").read_text())["objects"][0]
    (tmp_path / "blobs" / entry["sha256"]).unlink()
    with pytest.raises(_s3_backup.BackupError, match="missing \\(object determined/ckpt/1\\)"):
        _s3_backup.restore(FakeS3(), str(tmp_path))
    (tmp_path / "objects.json").write_text('{"format": 9, "objects": []}')
    with pytest.raises(_s3_backup.BackupError, match="objects.json: not an S3 dump of format 1"):
        _s3_backup.restore(FakeS3(), str(tmp_path))
    (tmp_path / "objects.json").write_text("{")
    with pytest.raises(_s3_backup.BackupError, match="objects.json: cannot read the index"):
        _s3_backup.restore(FakeS3(), str(tmp_path))


def test_other_errors_of_the_store_are_not_taken_for_absence(store, tmp_path):
    _s3_backup.dump(store, ["determined"], str(tmp_path))

    class Denied(FakeS3):
        def head_bucket(self, Bucket):
            raise FakeError("AccessDenied")

    with pytest.raises(FakeError, match="AccessDenied"):
        _s3_backup.restore(Denied(), str(tmp_path))
