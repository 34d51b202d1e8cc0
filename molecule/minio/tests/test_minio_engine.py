"""The minio engine, as far as it can be tested without its image.

The MinIO image (quay.io/minio/minio, the last community release) cannot be pulled on
these machines, so MinIO itself never runs here. What is checked: the container
definition, settings and policies the role renders for it (converge.yml, entry point
`render`), and a check-mode run of the whole role with engine minio.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from testinfra.host import Host

SCENARIO = Path(__file__).resolve().parent.parent
MANIFEST = SCENARIO.parent.parent / "roles" / "common" / "defaults" / "main.yml"


def read_preview(store: Host, directory: str, name: str) -> Any:
    return json.loads(store.file(f"{directory}/{name}").content_string)


@pytest.fixture(scope="module")
def preview_dir(store_vars: dict[str, Any]) -> str:
    return store_vars["scenario_minio_preview_dir"]


@pytest.fixture(scope="module")
def container(store: Host, preview_dir: str) -> dict[str, Any]:
    return read_preview(store, preview_dir, "container.json")


def test_image_is_the_pinned_last_community_release(container: dict[str, Any]) -> None:
    image = yaml.safe_load(MANIFEST.read_text())["mlstack_artifacts_builtin"]["images"]["minio"]
    assert image["repository"] == "quay.io/minio/minio"
    assert image["tag"].startswith("RELEASE.2025-")
    assert container["image"] == f"{image['repository']}:{image['tag']}"


def test_server_command_serves_data_with_tls_and_console(container: dict[str, Any]) -> None:
    assert container["entrypoint"] == []  # the image's own entrypoint runs `minio`
    assert container["command"] == [
        "server", "/data", "--address", ":9000", "--console-address", ":9001", "--certs-dir", "/certs",
    ]
    assert container["restart_policy"] == "unless-stopped"


def test_secrets_come_from_the_env_file_only(container: dict[str, Any]) -> None:
    assert container["env"] == {"MINIO_CONFIG_ENV_FILE": "/etc/minio/config.env"}
    assert "/etc/mlstack/object-store/minio.env:/etc/minio/config.env:ro" in container["volumes"]


def test_data_and_certificates_are_mounted(container: dict[str, Any]) -> None:
    assert container["volumes"][0] == "/var/lib/mlstack/object-store:/data"
    assert "/etc/mlstack/object-store/certs:/certs:ro" in container["volumes"]
    assert len(container["volumes"]) == 3


def test_api_on_the_bind_address_console_on_loopback(container: dict[str, Any], endpoint: dict[str, Any]) -> None:
    host_ip = endpoint["endpoint_url"].split("://")[1].rsplit(":", 1)[0]
    assert container["published_ports"] == [f"{host_ip}:9000:9000", "127.0.0.1:9001:9001"]
    assert container["health_url"] == f"https://{host_ip}:9000/minio/health/live"


def test_env_file_holds_root_credentials_masked_in_the_render(store: Host, preview_dir: str) -> None:
    settings = read_preview(store, preview_dir, "settings.json")
    assert settings == {
        "MINIO_BROWSER": "on",
        "MINIO_ROOT_PASSWORD": "********",
        "MINIO_ROOT_USER": "********",
        "MINIO_SITE_REGION": "us-east-1",
    }


def test_each_consumer_policy_covers_exactly_its_buckets(
    store: Host, preview_dir: str, buckets: list[dict[str, Any]], endpoint: dict[str, Any]
) -> None:
    for consumer in endpoint["consumers"]:
        policy = read_preview(store, preview_dir, f"policies/{consumer}.json")
        rw = sorted(b["name"] for b in buckets if consumer in b.get("read_write", []))
        ro = sorted(b["name"] for b in buckets if consumer in b.get("read_only", []) and b["name"] not in rw)
        statements = {tuple(s["Action"]): s for s in policy["Statement"]}
        assert policy["Version"] == "2012-10-17"
        assert all(s["Effect"] == "Allow" for s in policy["Statement"])
        listing = statements[("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")]
        assert listing["Resource"] == sorted(f"arn:aws:s3:::{b}" for b in rw + ro)
        assert statements[("s3:GetObject",)]["Resource"] == sorted(f"arn:aws:s3:::{b}/*" for b in rw + ro)
        write_actions = ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject")
        if rw:
            assert statements[write_actions]["Resource"] == [f"arn:aws:s3:::{b}/*" for b in rw]
        else:
            assert write_actions not in statements
        assert len(statements) == (3 if rw else 2)
        assert not any("*" == r or r == "arn:aws:s3:::*" for s in policy["Statement"] for r in s["Resource"])


def test_minio_engine_converges_in_check_mode(store: Host) -> None:
    env = dict(os.environ)
    result = subprocess.run(
        ["ansible-playbook", "--check", "-i", env["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "check_minio.yml")],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "mlstack-object-store-minio-check" not in store.check_output("docker ps -a --format %s", "{{.Names}}")
    assert not store.file("/etc/mlstack/object-store-minio-check").exists


BAD_INPUTS = {
    "unknown engine": ({"minio_engine": "ceph"}, "minio_engine"),
    "bucket name": ({"minio_buckets": [{"name": "Not_A_Bucket", "read_write": ["determined"]}]}, "minio_buckets"),
    "bucket listed twice": (
        {"minio_buckets": [{"name": "twice", "read_write": ["a"]}, {"name": "twice", "read_write": ["b"]}]},
        "minio_buckets",
    ),
    "consumer name": ({"minio_buckets": [{"name": "ok-bucket", "read_write": ["Bad Name"]}]}, "minio_buckets"),
    "certificate without key": ({"minio_tls": True, "minio_tls_cert_file": "/etc/hostname"}, "minio_tls_key_file"),
    "short root secret": ({"minio_root_secret_key": "short"}, "minio_root_secret_key"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_wrong_input_fails_naming_the_variable(store: Host, case: str) -> None:
    extra_vars, variable = BAD_INPUTS[case]
    result = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", json.dumps(extra_vars),
         str(SCENARIO / "bad_input.yml")],
        capture_output=True, text=True, env=dict(os.environ), check=False, timeout=300,
    )
    assert result.returncode != 0, f"{case}: the run did not fail"
    assert variable in result.stdout + result.stderr, f"{case}: {variable} not named\n{result.stdout[-3000:]}"
    assert not store.file("/etc/mlstack/object-store-bad-input").exists, f"{case}: something was changed"
