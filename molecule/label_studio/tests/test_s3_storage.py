"""The project's S3 storages the role created, against real SeaweedFS set up by the minio
role (engine seaweedfs, TLS from the site CA) on label-studio-s3: a task put into the bucket
is imported by a sync, and an annotation is exported back into the bucket.

Objects are written and read with Label Studio's own boto3 on label-studio-app, with the
consumer key the minio role generated for label_studio and the site CA."""

from __future__ import annotations

import json
import secrets

import pytest
from testinfra.host import Host

from conftest import CREDENTIALS_DIR, lab_host, labeling_vars
from ls_client import LabelStudio

VENV_PYTHON = "/opt/mlstack/label-studio/venv/bin/python"
CA_ON_HOST = "/usr/local/share/mlstack/label-studio/s3-ca.crt"
BUCKET = "label-studio"

S3_SCRIPT = """
import json, sys, boto3
request = json.load(sys.stdin)
s3 = boto3.client("s3", endpoint_url=request["endpoint"], region_name="us-east-1",
                  aws_access_key_id=request["key"], aws_secret_access_key=request["secret"],
                  verify=request["ca"])
if request["op"] == "put":
    s3.put_object(Bucket=request["bucket"], Key=request["object"], Body=request["body"].encode())
    print("{}")
else:
    listing = s3.list_objects_v2(Bucket=request["bucket"], Prefix=request["prefix"]).get("Contents", [])
    print(json.dumps({o["Key"]: s3.get_object(Bucket=request["bucket"], Key=o["Key"])["Body"].read().decode()
                      for o in listing}))
"""


def s3(app: Host, endpoint: str, **request: str) -> dict[str, str]:
    consumer = CREDENTIALS_DIR / "object-store" / "label_studio"
    request.update(
        endpoint=endpoint,
        bucket=BUCKET,
        ca=CA_ON_HOST,
        key=consumer.with_suffix(".access_key").read_text(encoding="ascii").strip(),
        secret=consumer.with_suffix(".secret_key").read_text(encoding="ascii").strip(),
    )
    result = app.run(f"{VENV_PYTHON} -c %s <<'REQUEST'\n{json.dumps(request)}\nREQUEST", S3_SCRIPT)
    assert result.rc == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def endpoint() -> str:
    """The minio role's endpoint: https on the store host's lab address, port 9000."""
    store = lab_host("label-studio-s3")
    # eth0 is the scenario network (the store host also has Docker's own docker0 bridge).
    address = store.check_output("ip -4 -o addr show dev eth0").split()[3].split("/")[0]
    return f"https://{address}:9000"


@pytest.fixture(scope="module")
def project(admin: LabelStudio) -> dict:
    title = next(p["title"] for p in labeling_vars()["label_studio_projects"] if "s3_import" in p)
    projects = admin.get("/api/projects/", page_size=100).json()["results"]
    return next(p for p in projects if p["title"] == title)


def storage(admin: LabelStudio, kind: str, project_id: int) -> dict:
    path = "/api/storages/s3" if kind == "import" else "/api/storages/export/s3"
    storages = admin.get(path, project=project_id).json()
    assert len(storages) == 1, storages
    return storages[0]


def test_storages_point_at_the_minio_roles_bucket_and_endpoint(
    app: Host, admin: LabelStudio, project: dict, endpoint: str, db: Host
) -> None:
    env = app.check_output("cat /etc/mlstack/label-studio/label-studio.env").splitlines()
    assert f"S3_ENDPOINT={endpoint}" in env
    assert f"AWS_CA_BUNDLE={CA_ON_HOST}" in env
    access_key = (CREDENTIALS_DIR / "object-store" / "label_studio.access_key").read_text(encoding="ascii").strip()
    for kind, prefix in (("import", "reviews/tasks"), ("export", "reviews/annotations")):
        found = storage(admin, kind, project["id"])
        assert found["bucket"] == BUCKET and found["prefix"] == prefix
        # No endpoint of its own: Label Studio uses S3_ENDPOINT of the env file (trusted as
        # the operator's), so its SSRF protection can stay on for endpoints users type in.
        assert not found["s3_endpoint"]
        # Label Studio never shows the keys through its API; its database holds them.
        assert "aws_access_key_id" not in found and "aws_secret_access_key" not in found
        table = "io_storages_s3importstorage" if kind == "import" else "io_storages_s3exportstorage"
        stored_key = db.check_output(
            "runuser -u postgres -- psql -X -At -d labelstudio -c %s",
            f"SELECT aws_access_key_id FROM {table} WHERE id = {found['id']}",
        )
        assert stored_key == access_key
        assert found["title"] == f"{project['title']} {kind}"


def test_the_seeded_task_was_imported(admin: LabelStudio, project: dict) -> None:
    # prepare.yml put reviews/tasks/seed.json before the role created the import storage;
    # it is imported by the first sync below, or was already by an earlier one.
    importer = storage(admin, "import", project["id"])
    assert admin.post(f"/api/storages/s3/{importer['id']}/sync", {}).status_code == 200
    tasks = admin.get("/api/tasks/", project=project["id"], page_size=100).json()["tasks"]
    assert [t["data"]["text"] for t in tasks].count("Seeded before the import storage existed") == 1


def test_a_task_put_in_the_bucket_is_imported_and_its_annotation_exported(
    app: Host, admin: LabelStudio, project: dict, endpoint: str
) -> None:
    text = f"review {secrets.token_hex(6)}"
    s3(app, endpoint, op="put", object=f"reviews/tasks/{secrets.token_hex(4)}.json", body=json.dumps({"text": text}))

    importer = storage(admin, "import", project["id"])
    synced = admin.post(f"/api/storages/s3/{importer['id']}/sync", {})
    assert synced.status_code == 200, synced.text
    tasks = admin.get("/api/tasks/", project=project["id"], page_size=100).json()["tasks"]
    task = next(t for t in tasks if t["data"].get("text") == text)

    result = [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["positive"]}}]
    annotation = admin.post(f"/api/tasks/{task['id']}/annotations/", {"result": result})
    assert annotation.status_code == 201, annotation.text

    exporter = storage(admin, "export", project["id"])
    exported = admin.post(f"/api/storages/export/s3/{exporter['id']}/sync", {})
    assert exported.status_code == 200, exported.text
    objects = s3(app, endpoint, op="list", prefix="reviews/annotations/")
    assert any(text in body and "positive" in body for body in objects.values()), list(objects)
