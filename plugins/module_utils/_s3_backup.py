# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Dump S3 buckets to a directory and restore them, through the S3 API only (so the same
code serves every engine: MinIO, SeaweedFS, any S3 store). Private to the collection.

A dump directory holds ``objects.json`` (format 1: one entry per object, bucket, key, size,
sha256, md5, content type) and ``blobs/<sha256>`` (each distinct content once). The client
is anything with boto3's S3 client methods used here (list_buckets, get_paginator,
get_object, head_object, head_bucket, create_bucket, put_object)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any, Callable, Dict, Iterable, List, Optional

INDEX = "objects.json"
BLOBS = "blobs"
FORMAT = 1
CHUNK = 1024 * 1024
# The user metadata key restored objects carry their SHA-256 in (x-amz-meta-sha256).
META_SHA256 = "sha256"


class BackupError(Exception):
    """A problem the caller reports as one line (the message names the file or object)."""


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", ""))


def bucket_names(client: Any, wanted: Iterable[str]) -> List[str]:
    """The buckets to dump: ``wanted`` (each must exist), or every bucket the client lists."""
    existing = sorted(b["Name"] for b in client.list_buckets().get("Buckets", []))
    wanted = list(wanted)
    if not wanted:
        return existing
    missing = sorted(set(wanted) - set(existing))
    if missing:
        raise BackupError("buckets not found in the store: %s" % ", ".join(missing))
    return wanted


def list_objects(client: Any, bucket: str) -> Iterable[Dict[str, Any]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        yield from page.get("Contents", []) or []


def _stream_to(body: Any, directory: str) -> Dict[str, Any]:
    """Write a streaming body to a temporary file of ``directory``; hash it on the way."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0  # nosec: md5 compares S3 ETags only
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = body.read(CHUNK)
                if not chunk:
                    break
                sha256.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return {"tmp": tmp, "sha256": sha256.hexdigest(), "md5": md5.hexdigest(), "size": size}


def dump(client: Any, buckets: Iterable[str], path: str) -> Dict[str, Any]:
    """Download every object of ``buckets`` into ``path``; return the summary."""
    blobs = os.path.join(path, BLOBS)
    os.makedirs(blobs, mode=0o700, exist_ok=True)
    names = bucket_names(client, buckets)
    entries: List[Dict[str, Any]] = []
    for bucket in names:
        for listed in list_objects(client, bucket):
            key = listed["Key"]
            response = client.get_object(Bucket=bucket, Key=key)
            got = _stream_to(response["Body"], blobs)
            os.replace(got["tmp"], os.path.join(blobs, got["sha256"]))
            entries.append({"bucket": bucket, "key": key, "size": got["size"], "sha256": got["sha256"],
                            "md5": got["md5"], "content_type": response.get("ContentType") or ""})
    write_index(path, names, entries)
    return {"buckets": names, "objects": len(entries), "bytes": sum(e["size"] for e in entries)}


def write_index(path: str, buckets: List[str], entries: List[Dict[str, Any]]) -> None:
    data = {"format": FORMAT, "buckets": buckets, "objects": entries}
    fd, tmp = tempfile.mkstemp(dir=path, prefix=".%s." % INDEX)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=1, sort_keys=True)
        out.write("\n")
    os.replace(tmp, os.path.join(path, INDEX))


def read_index(path: str) -> Dict[str, Any]:
    index = os.path.join(path, INDEX)
    try:
        with open(index, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BackupError("%s: cannot read the index of the S3 dump: %s" % (index, exc))
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("objects"), list):
        raise BackupError("%s: not an S3 dump of format %d" % (index, FORMAT))
    for number, entry in enumerate(data["objects"]):
        if not isinstance(entry, dict) or not all(k in entry for k in ("bucket", "key", "size", "sha256", "md5")):
            raise BackupError("%s: object entry %d lacks bucket, key, size, sha256 or md5" % (index, number))
    return data


def file_digests(path: str) -> Dict[str, Any]:
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0  # nosec: md5 compares S3 ETags only
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest(), "size": size}


def verify(path: str, data: Dict[str, Any]) -> None:
    """Every blob the index names is there with its checksum: before anything is written."""
    checked: Dict[str, bool] = {}
    for entry in data["objects"]:
        digest = entry["sha256"]
        if digest in checked:
            continue
        blob = os.path.join(path, BLOBS, digest)
        if not os.path.isfile(blob):
            raise BackupError("%s: missing (object %s/%s)" % (blob, entry["bucket"], entry["key"]))
        got = file_digests(blob)
        if got["sha256"] != digest or got["size"] != entry["size"]:
            raise BackupError("%s: checksum mismatch (object %s/%s: sha256 %s, expected %s)"
                              % (blob, entry["bucket"], entry["key"], got["sha256"], digest))
        checked[digest] = True


def _is_not_found(exc: Exception) -> bool:
    return _client_error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def object_matches(client: Any, entry: Dict[str, Any]) -> Optional[bool]:
    """True when the store holds this object with this content, False when it holds other
    content, None when it does not hold it."""
    try:
        head = client.head_object(Bucket=entry["bucket"], Key=entry["key"])
    except Exception as exc:  # botocore's ClientError; a fake client's in tests
        if _is_not_found(exc):
            return None
        raise
    if int(head.get("ContentLength", -1)) != int(entry["size"]):
        return False
    meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    if META_SHA256 in meta:
        return meta[META_SHA256] == entry["sha256"]
    # A single-part upload's ETag is the MD5 of the content (multipart ETags carry a "-").
    return str(head.get("ETag", "")).strip('"') == entry["md5"]


def ensure_bucket(client: Any, bucket: str, check_mode: bool) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except Exception as exc:
        if not _is_not_found(exc):
            raise
    if not check_mode:
        client.create_bucket(Bucket=bucket)
    return True


def restore(client: Any, path: str, check_mode: bool = False,
            opener: Callable[[str], Any] = lambda p: open(p, "rb")) -> Dict[str, Any]:
    """Put every object of the dump that the store lacks or holds with other content;
    leave the others. Verifies every blob first."""
    data = read_index(path)
    verify(path, data)
    created: List[str] = []
    for bucket in sorted({e["bucket"] for e in data["objects"]} | set(data.get("buckets") or [])):
        if ensure_bucket(client, bucket, check_mode):
            created.append(bucket)
    uploaded: List[str] = []
    present = 0
    for entry in data["objects"]:
        if entry["bucket"] not in created and object_matches(client, entry):
            present += 1
            continue
        uploaded.append("%s/%s" % (entry["bucket"], entry["key"]))
        if check_mode:
            continue
        extra: Dict[str, Any] = {"Metadata": {META_SHA256: entry["sha256"]}}
        if entry.get("content_type"):
            extra["ContentType"] = entry["content_type"]
        with opener(os.path.join(path, BLOBS, entry["sha256"])) as body:
            client.put_object(Bucket=entry["bucket"], Key=entry["key"], Body=body,
                              ContentLength=int(entry["size"]), **extra)
    return {"buckets_created": created, "uploaded": uploaded, "present": present,
            "objects": len(data["objects"])}
