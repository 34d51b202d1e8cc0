"""minio role, engine seaweedfs, TLS: the S3 store as its consumers see it from another host."""

from __future__ import annotations

import json
import stat
import time
import uuid
from pathlib import Path
from typing import Any

from testinfra.host import Host

from conftest import CLIENT_CA, CONTAINER
from s3_client import S3Client, op

Credentials = dict[str, tuple[str, str]]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def consumer_buckets(buckets: list[dict[str, Any]], consumer: str) -> set[str]:
    return {b["name"] for b in buckets if consumer in b.get("read_write", []) + b.get("read_only", [])}


def wait_healthy(client: Host, url: str, attempts: int = 60) -> None:
    for _attempt in range(attempts):
        if client.run("curl -fsS --max-time 2 --cacert %s %s/healthz", CLIENT_CA, url).rc == 0:
            return
        time.sleep(1)
    raise AssertionError(f"{url}/healthz did not answer after {attempts} s")


def get_with_retries(s3: S3Client, request: dict[str, Any], seconds: int = 30) -> dict[str, Any]:
    """A GET retried on server errors, as S3 clients do by default (boto3: 5 attempts).

    Right after a restart SeaweedFS' S3 gateway answers /healthz while its volume server
    is still re-registering with the master; reads fail with 500 for those seconds. The
    role waits for that with `weed shell cluster.check`; this test restarts the
    container by hand, so it waits like a client.
    """
    result: dict[str, Any] = {}
    for _second in range(seconds):
        result = s3.one(request)
        if result["ok"] or result.get("status", 0) < 500:
            return result
        time.sleep(1)
    return result


def test_every_bucket_round_trips_for_its_read_write_consumers(
    s3: S3Client, buckets: list[dict[str, Any]], credentials: Credentials
) -> None:
    assert buckets, "the scenario declares buckets"
    for bucket in buckets:
        assert bucket.get("read_write"), bucket
        for consumer in bucket["read_write"]:
            name, body = unique(consumer), f"{consumer} wrote this to {bucket['name']}\n"
            key = credentials[consumer]
            put, get, listing = s3.run(
                op("put", key, bucket["name"], name, body),
                op("get", key, bucket["name"], name),
                op("list", key, bucket["name"]),
            )
            assert put == {"ok": True}, (bucket["name"], consumer, put)
            assert get == {"ok": True, "body": body}, (bucket["name"], consumer, get)
            assert listing["ok"] and name in listing["keys"], (bucket["name"], consumer, listing)


def test_read_only_consumer_reads_but_cannot_write(
    s3: S3Client, buckets: list[dict[str, Any]], credentials: Credentials
) -> None:
    shared = [b for b in buckets if b.get("read_only")]
    assert shared, "the scenario declares a read_only consumer"
    for bucket in shared:
        writer, name = bucket["read_write"][0], unique("shared")
        assert s3.one(op("put", credentials[writer], bucket["name"], name, "shared\n"))["ok"]
        for reader in bucket["read_only"]:
            get, put, delete = s3.run(
                op("get", credentials[reader], bucket["name"], name),
                op("put", credentials[reader], bucket["name"], unique(reader), "not allowed\n"),
                op("delete", credentials[reader], bucket["name"], name),
            )
            assert get == {"ok": True, "body": "shared\n"}, get
            assert (put["ok"], put.get("code")) == (False, "AccessDenied"), put
            assert (delete["ok"], delete.get("code")) == (False, "AccessDenied"), delete


def test_a_consumer_cannot_touch_another_consumers_bucket(
    s3: S3Client, buckets: list[dict[str, Any]], credentials: Credentials, endpoint: dict[str, Any]
) -> None:
    owner_of = {b["name"]: b["read_write"][0] for b in buckets}
    planted = {name: unique("private") for name in owner_of}
    s3.run(*(op("put", credentials[owner], b, planted[b], "private\n") for b, owner in owner_of.items()))
    checked = 0
    for consumer in endpoint["consumers"]:
        for bucket in set(owner_of) - consumer_buckets(buckets, consumer):
            results = s3.run(
                op("get", credentials[consumer], bucket, planted[bucket]),
                op("list", credentials[consumer], bucket),
                op("put", credentials[consumer], bucket, unique(consumer), "intruder\n"),
            )
            for result in results:
                assert (result["ok"], result.get("code")) == (False, "AccessDenied"), (consumer, bucket, results)
            checked += 1
    assert checked >= len(owner_of)


def test_consumers_cannot_create_buckets(s3: S3Client, credentials: Credentials, endpoint: dict[str, Any]) -> None:
    for consumer in endpoint["consumers"]:
        result = s3.one(op("create_bucket", credentials[consumer], unique("rogue")))
        assert (result["ok"], result.get("code")) == (False, "AccessDenied"), (consumer, result)


def test_anonymous_requests_are_refused(
    client: Host, endpoint: dict[str, Any], s3: S3Client, buckets: list[dict[str, Any]], credentials: Credentials
) -> None:
    bucket = buckets[0]["name"]
    name = unique("anon")
    assert s3.one(op("put", credentials[buckets[0]["read_write"][0]], bucket, name, "secret\n"))["ok"]
    url = endpoint["endpoint_url"]
    requests = {
        "list buckets": ["GET", f"{url}/"],
        "list objects": ["GET", f"{url}/{bucket}"],
        "get object": ["GET", f"{url}/{bucket}/{name}"],
        "put object": ["PUT", f"{url}/{bucket}/{unique('anon')}"],
        "create bucket": ["PUT", f"{url}/{unique('anon-bucket')}"],
    }
    for what, (method, target) in requests.items():
        status = client.check_output(
            "curl -sS -o /dev/null -w %s --cacert %s -X %s --data-binary x %s",
            "%{http_code}", CLIENT_CA, method, target,
        ) if method == "PUT" else client.check_output(
            "curl -sS -o /dev/null -w %s --cacert %s %s", "%{http_code}", CLIENT_CA, target,
        )
        assert status == "403", f"anonymous {what}: HTTP {status}"


def test_wrong_keys_are_refused(s3: S3Client, buckets: list[dict[str, Any]], credentials: Credentials) -> None:
    bucket = buckets[0]["name"]
    owner = buckets[0]["read_write"][0]
    access_key, secret_key = credentials[owner]
    wrong_secret, unknown_key = s3.run(
        op("list", (access_key, secret_key[::-1]), bucket),
        op("list", ("AKIA" + uuid.uuid4().hex[:16].upper(), secret_key), bucket),
    )
    assert (wrong_secret["ok"], wrong_secret.get("code"), wrong_secret.get("status")) == (False, "SignatureDoesNotMatch", 403)
    assert (unknown_key["ok"], unknown_key.get("code"), unknown_key.get("status")) == (False, "InvalidAccessKeyId", 403)


def test_endpoint_speaks_tls_with_the_site_ca_only(client: Host, endpoint: dict[str, Any]) -> None:
    url = endpoint["endpoint_url"]
    assert url.startswith("https://")
    assert client.run("curl -fsS --cacert %s %s/healthz", CLIENT_CA, url).rc == 0
    untrusted = client.run("curl -sS -o /dev/null %s/healthz", url)
    assert untrusted.rc == 60, f"a client without the site CA must not trust the endpoint: rc={untrusted.rc}"
    plain = client.run("curl -sS -o /dev/null -w %s %s/healthz", "%{http_code}", url.replace("https://", "http://"))
    assert plain.stdout != "200", "plain HTTP must not be served"


def test_data_survives_a_container_restart(
    store: Host, client: Host, s3: S3Client, endpoint: dict[str, Any], buckets: list[dict[str, Any]],
    credentials: Credentials,
) -> None:
    key = credentials[buckets[0]["read_write"][0]]
    bucket, name, body = buckets[0]["name"], unique("durable"), "still here after a restart\n"
    assert s3.one(op("put", key, bucket, name, body))["ok"]
    started = store.check_output("docker inspect -f %s %s", "{{.State.StartedAt}}", CONTAINER)
    store.run_expect([0], "docker restart %s", CONTAINER)
    assert store.check_output("docker inspect -f %s %s", "{{.State.StartedAt}}", CONTAINER) != started
    wait_healthy(client, endpoint["endpoint_url"])
    assert get_with_retries(s3, op("get", key, bucket, name)) == {"ok": True, "body": body}


def test_only_the_s3_port_is_published_on_the_bind_address(store: Host, endpoint: dict[str, Any]) -> None:
    ports = json.loads(store.check_output("docker inspect -f %s %s", "{{json .HostConfig.PortBindings}}", CONTAINER))
    host_ip = endpoint["endpoint_url"].split("://")[1].rsplit(":", 1)[0]
    assert ports == {"8333/tcp": [{"HostIp": host_ip, "HostPort": "9000"}]}
    assert host_ip != "0.0.0.0"


def test_no_secret_reaches_the_container_environment_or_the_command_line(
    store: Host, credentials: Credentials
) -> None:
    config = store.check_output("docker inspect -f %s %s", "{{json .Config}}", CONTAINER)
    for name, (_access_key, secret_key) in credentials.items():
        assert secret_key not in config, f"{name}'s secret key is in the container's configuration"


def test_server_configuration_and_data_are_private_on_the_host(store: Host) -> None:
    for path in ("/etc/mlstack/object-store", "/etc/mlstack/object-store/certs", "/var/lib/mlstack/object-store"):
        directory = store.file(path)
        assert directory.is_directory and directory.user == "root" and directory.mode == 0o700, path
    for path in ("/etc/mlstack/object-store/seaweedfs-s3.json", "/etc/mlstack/object-store/certs/private.key"):
        assert store.file(path).mode == 0o600, path


def test_identities_grant_each_consumer_only_its_buckets(
    store: Host, buckets: list[dict[str, Any]], credentials: Credentials
) -> None:
    config = json.loads(store.file("/etc/mlstack/object-store/seaweedfs-s3.json").content_string)
    identities = {i["name"]: i for i in config["identities"]}
    assert "anonymous" not in identities
    assert identities["mlstack-root"]["credentials"][0]["accessKey"] == credentials["root"][0]
    for name, identity in identities.items():
        if name == "mlstack-root":
            continue
        assert identity["credentials"] == [{"accessKey": credentials[name][0], "secretKey": credentials[name][1]}]
        scoped = {action.split(":", 1)[1] for action in identity["actions"]}
        assert all(":" in action for action in identity["actions"]), identity["actions"]
        assert scoped == consumer_buckets(buckets, name), name


def test_generated_credentials_are_private_files(endpoint: dict[str, Any]) -> None:
    path = Path(endpoint["credentials_path"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    files = sorted(path.glob("*_key"))
    assert len(files) == 2 * (1 + len(endpoint["consumers"]))
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        assert len(file.read_text().split()[0]) in (20, 40), file
    site_ca_key = Path(endpoint["ca_file"]).with_name("ca.key")
    assert stat.S_IMODE(site_ca_key.stat().st_mode) == 0o600
