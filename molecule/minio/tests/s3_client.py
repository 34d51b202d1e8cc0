"""S3 requests made from the client lab host with its Debian python3-boto3.

Each call runs one small boto3 program on the client (through `docker exec`) that
performs a list of operations and prints one JSON result per operation, so a test
makes one round trip for many requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from testinfra.host import Host

PROGRAM = r"""
import json, sys
import boto3, botocore.exceptions
from botocore.config import Config

spec = json.loads(sys.stdin.read())
out = []
for op in spec["ops"]:
    client = boto3.client(
        "s3", endpoint_url=spec["endpoint"], aws_access_key_id=op["key"][0],
        aws_secret_access_key=op["key"][1], region_name="us-east-1", verify=spec["ca"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    try:
        if op["op"] == "put":
            client.put_object(Bucket=op["bucket"], Key=op["object"], Body=op["body"].encode())
            result = {"ok": True}
        elif op["op"] == "get":
            body = client.get_object(Bucket=op["bucket"], Key=op["object"])["Body"].read()
            result = {"ok": True, "body": body.decode()}
        elif op["op"] == "list":
            listing = client.list_objects_v2(Bucket=op["bucket"])
            result = {"ok": True, "keys": [o["Key"] for o in listing.get("Contents", [])]}
        elif op["op"] == "delete":
            client.delete_object(Bucket=op["bucket"], Key=op["object"])
            result = {"ok": True}
        elif op["op"] == "create_bucket":
            client.create_bucket(Bucket=op["bucket"])
            result = {"ok": True}
        else:
            raise SystemExit("unknown operation " + op["op"])
    except botocore.exceptions.ClientError as error:
        result = {"ok": False, "code": error.response["Error"]["Code"],
                  "status": error.response["ResponseMetadata"]["HTTPStatusCode"]}
    out.append(result)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class S3Client:
    """Runs boto3 operations on the client host against the store's endpoint."""

    host: Host
    endpoint: str
    ca_file: str

    def run(self, *ops: dict[str, Any]) -> list[dict[str, Any]]:
        spec = json.dumps({"endpoint": self.endpoint, "ca": self.ca_file, "ops": list(ops)})
        # The spec reaches the program on its standard input.
        result = self.host.run("printf %s %s | python3 -c %s", "%s", spec, PROGRAM)
        assert result.rc == 0, result.stderr
        return json.loads(result.stdout)

    def one(self, op: dict[str, Any]) -> dict[str, Any]:
        return self.run(op)[0]


def op(name: str, key: tuple[str, str], bucket: str, obj: str = "", body: str = "") -> dict[str, Any]:
    return {"op": name, "key": list(key), "bucket": bucket, "object": obj, "body": body}
