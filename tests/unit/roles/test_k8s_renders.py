"""What the determined, seldon and pachyderm roles render, validated offline.

No Kubernetes API server and no helm can run on these machines, so the roles are run for
real with their render-only switch (<app>_apply: false) by ansible-playbook against this
machine (connection local), with the inventory of the seed's one-GPU-VM site: the same
host is the first k8s_control_plane host, the postgres server and the object store
(minio_endpoint_url given as the minio role would publish it). The credentials the postgres
and minio roles would have written are created in a temporary credentials directory.

Then every rendered Kubernetes object is validated with kubernetes-validate (strict, no
unknown fields) at the Kubernetes version of the manifest's MicroK8s channel, the
Kubernetes-typed fragments of the Helm values (resources, tolerations, nodeSelector, pod
specs) are validated against the matching definitions of the same schemas, and the values
are checked to say what the inventory asked. Istio's Gateway is not a Kubernetes type and
kubernetes-validate has no schema for it; it is checked against the fields Istio's
networking/v1beta1 API documents (see ISTIO_GATEWAY_SCHEMA).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from k8s_schema import ROOT, pinned_kubernetes_version, validate_fragment, validate_object
from role_render import APPS, _docs, _inventory, _mode, _recap, _run, _seed_credentials

# Istio networking.istio.io/v1beta1 Gateway: the fields of its spec as Istio's API reference
# documents them (selector, servers[].port{number, protocol, name}, servers[].hosts), strict.
ISTIO_GATEWAY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"enum": ["networking.istio.io/v1beta1", "networking.istio.io/v1"]},
        "kind": {"const": "Gateway"},
        "metadata": {"$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "servers"],
            "properties": {
                "selector": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
                "servers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port", "hosts"],
                        "properties": {
                            "port": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["number", "protocol", "name"],
                                "properties": {
                                    "number": {"type": "integer", "minimum": 1, "maximum": 65535},
                                    "protocol": {"enum": ["HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS"]},
                                    "name": {"type": "string", "minLength": 1},
                                },
                            },
                            "hosts": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                        },
                    },
                },
            },
        },
    },
}


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def version() -> str:
    return pinned_kubernetes_version()


@pytest.fixture(scope="module")
def site(seed_site: dict[str, Any]) -> dict[str, Any]:
    """The seed's site rendered twice (conftest.py; shared with test_chart_contracts.py)."""
    return seed_site


# --------------------------------------------------------------------------- the manifests

def test_pinned_version_has_schemas(version: str) -> None:
    assert re.fullmatch(r"\d+\.\d+", version)
    assert version in {v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()}


def test_every_kubernetes_object_is_valid_at_the_pinned_version(site: dict[str, Any], version: str) -> None:
    checked = []
    for path in sorted(site["render"].glob("*/*.yml")):
        if path.name == "values.yml":
            continue
        for doc in _docs(path):
            if doc["apiVersion"].startswith("networking.istio.io/"):
                continue  # not a Kubernetes type: test_istio_gateway
            validate_object(doc, version)
            checked.append(f"{path.parent.name}/{doc['kind']}/{doc['metadata']['name']}")
    assert "determined/Namespace/determined" in checked
    assert "seldon/Namespace/seldon-system" in checked
    assert "pachyderm/Namespace/pachyderm" in checked
    assert "pachyderm/Secret/pachyderm-mlstack" in checked
    assert "seldon/Namespace/models" in checked
    assert "seldon/Secret/seldon-model-storage" in checked


def test_a_broken_manifest_is_rejected(site: dict[str, Any], version: str) -> None:
    secret = _docs(site["render"] / "pachyderm" / "secrets.yml")[0]
    broken = copy.deepcopy(secret)
    broken["stringdata"] = broken.pop("stringData")  # a typo kubectl would reject
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(broken, version)
    namespace = _docs(site["render"] / "determined" / "namespace.yml")[0]
    bad_type = copy.deepcopy(namespace)
    bad_type["metadata"]["labels"]["replicas"] = 3  # label values are strings
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(bad_type, version)


def test_a_broken_fragment_is_rejected(version: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate_fragment({"key": "nvidia.com/gpu", "operater": "Exists"}, "io.k8s.api.core.v1.Toleration", version)
    with pytest.raises(jsonschema.ValidationError):
        validate_fragment({"requests": {"cpu": ["1"]}}, "io.k8s.api.core.v1.ResourceRequirements", version)
    with pytest.raises(jsonschema.ValidationError):
        validate_fragment({"gpu": 1}, "io.k8s.api.core.v1.PodSpec/properties/nodeSelector", version)


def test_istio_gateway(site: dict[str, Any], version: str) -> None:
    from k8s_schema import _registry  # the Kubernetes definitions, for metadata
    docs = _docs(site["render"] / "seldon" / "exposure.yml")
    assert len(docs) == 1
    gateway = docs[0]
    validator = jsonschema.Draft202012Validator(ISTIO_GATEWAY_SCHEMA, registry=_registry(version))
    validator.validate(gateway)
    assert gateway["metadata"] == {"name": "seldon-gateway", "namespace": "istio-system",
                                   "labels": {"app.kubernetes.io/managed-by": "mlstack.platform"}}
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    broken = copy.deepcopy(gateway)
    broken["spec"]["servers"][0]["port"]["number"] = "eighty"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


# --------------------------------------------------------------------------- the values say what was asked

def test_determined_values(site: dict[str, Any], version: str) -> None:
    values = site["values"]["determined"]
    made = site["made"]
    storage = values["checkpointStorage"]
    assert storage["type"] == "s3"
    assert storage["bucket"] == "determined-checkpoints"
    assert storage["endpointUrl"] == "http://10.64.140.10:9000"
    assert storage["accessKey"] == made["determined.access_key"]
    assert storage["secretKey"] == made["determined.secret_key"]
    db = values["db"]
    assert db == {"hostAddress": "10.64.140.10", "name": "determined", "user": "determined",
                  "password": made["postgres.determined"], "port": 5432}
    assert values["maxSlotsPerPod"] == 1
    assert "slotType" not in values
    assert values["telemetry"] == {"enabled": False}
    # the master's resources as the chart builds them
    validate_fragment({"requests": {"cpu": values["masterCpuRequest"], "memory": values["masterMemRequest"]},
                       "limits": {"memory": values["masterMemLimit"]}},
                      "io.k8s.api.core.v1.ResourceRequirements", version)
    assert values["masterMemLimit"] == "4Gi"
    # task pods: a partial Pod the master merges into every task's pod
    for key in ("cpuPodSpec", "gpuPodSpec"):
        pod = values["taskContainerDefaults"][key]
        assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
        for toleration in pod["spec"]["tolerations"]:
            validate_fragment(toleration, "io.k8s.api.core.v1.Toleration", version)
        validate_fragment(pod["spec"]["nodeSelector"], "io.k8s.api.core.v1.PodSpec/properties/nodeSelector", version)
        assert set(pod["spec"]) == {"tolerations", "nodeSelector"}
    manifest = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())["mlstack_artifacts_builtin"]
    env = manifest["images"]["determined_task_environment"]
    assert values["taskContainerDefaults"]["gpuImage"] == f"{env['repository']}:{env['tag']}"
    assert values["imageRegistry"] == "docker.io/determinedai"
    # the generated admin password: in the values (the chart has no Secret field for it),
    # in a 0600 file on the controller, and strong enough for Determined
    admin = site["creds"] / "determined" / "admin_password"
    assert _mode(admin) == 0o600
    password = admin.read_text()
    assert values["initialUserPassword"] == password
    assert len(password) == 32 and re.search("[A-Z]", password) and re.search("[a-z]", password) and re.search("[0-9]", password)


def test_seldon_values(site: dict[str, Any], version: str) -> None:
    values = site["values"]["seldon"]
    assert values["istio"] == {"enabled": True, "gateway": "istio-system/seldon-gateway"}
    assert values["ambassador"] == {"enabled": False}
    assert values["usageMetrics"] == {"enabled": False}
    manifest = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())["mlstack_artifacts_builtin"]
    assert manifest["charts"]["seldon_core_operator"]["version"] == "1.17.1"
    assert values["image"] == {"registry": "docker.io", "repository": "seldonio/seldon-core-operator", "tag": "1.17.1"}
    assert values["executor"]["image"]["repository"] == "seldonio/seldon-core-executor"
    storage_initializer = manifest["images"]["seldon_storage_initializer"]
    assert values["storageInitializer"] == {
        "image": f"{storage_initializer['repository']}:{storage_initializer['tag']}"}
    assert values["predictiveUnit"] == {"defaultEnvSecretRefName": "seldon-model-storage"}
    m = values["manager"]
    validate_fragment({"requests": {"cpu": m["cpuRequest"], "memory": m["memoryRequest"]},
                       "limits": {"cpu": m["cpuLimit"], "memory": m["memoryLimit"]}},
                      "io.k8s.api.core.v1.ResourceRequirements", version)


def test_seldon_model_storage_secret(site: dict[str, Any]) -> None:
    made = site["made"]
    path = site["render"] / "seldon" / "secrets.yml"
    assert _mode(path) == 0o600
    secrets_ = _docs(path)
    assert [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in secrets_] == [("models", "seldon-model-storage")]
    data = secrets_[0]["stringData"]
    assert data == {
        "RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Minio", "RCLONE_CONFIG_S3_ENV_AUTH": "false",
        "RCLONE_CONFIG_S3_ENDPOINT": "http://10.64.140.10:9000",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": made["seldon.access_key"],
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": made["seldon.secret_key"],
    }
    assert made["seldon.secret_key"] not in (site["render"] / "seldon" / "values.yml").read_text()


def test_pachyderm_values(site: dict[str, Any], version: str) -> None:
    values = site["values"]["pachyderm"]
    made = site["made"]
    # S3-compatible stores are backend AMAZON with an S3 URL in pachd 2.12 (src/internal/obj/bucket.go)
    assert values["deployTarget"] == "CUSTOM"
    storage = values["pachd"]["storage"]
    assert storage["backend"] == "AMAZON"
    assert storage["storageURL"] == "s3://pachyderm?endpoint=10.64.140.10%3A9000&region=us-east-1&disableSSL=true"
    amazon = storage["amazon"]
    assert amazon["bucket"] == "pachyderm" and amazon["region"] == "us-east-1" and amazon["disableSSL"] is True
    assert amazon["id"] == made["pachyderm.access_key"] and amazon["secret"] == made["pachyderm.secret_key"]
    assert "minio" not in storage
    # one registry before every image, repositories without one (the chart composes registry + repository)
    assert values["global"]["image"]["registry"] == "docker.io/"
    assert values["pachd"]["image"] == {"repository": "pachyderm/pachd", "tag": "2.12.2"}
    assert values["pachd"]["worker"]["image"] == {"repository": "pachyderm/worker", "tag": "2.12.2"}
    # auth on with the generated root token; the chart's mock IdP (admin/password, cluster admin) off
    assert values["pachd"]["activateAuth"] is True and values["oidc"]["mockIDP"] is False
    assert values["console"]["enabled"] is False  # no identity provider given
    assert values["proxy"]["host"] == "10.64.140.10:30080"
    for removed in ("enterpriseSecret", "enterpriseSecretSecretName", "enterpriseLicenseKeySecretName"):
        assert removed not in values["pachd"]
    pg = values["global"]["postgresql"]
    assert pg["postgresqlHost"] == "10.64.140.10"
    assert pg["postgresqlDatabase"] == "pachyderm" and pg["identityDatabaseFullNameOverride"] == "pachyderm_dex"
    assert pg["postgresqlUsername"] == "pachyderm"
    assert pg["postgresqlExistingSecretName"] == "pachyderm-mlstack"
    assert values["postgresql"] == {"enabled": False}
    assert values["pachd"]["rootTokenSecretName"] == "pachyderm-mlstack"
    # the S3 gateway where the seed's Label Studio reads and writes repositories
    assert values["proxy"]["service"]["type"] == "NodePort"
    assert values["proxy"]["service"]["legacyPorts"] == {"s3Gateway": 30600}
    # Kubernetes-typed fragments
    validate_fragment(values["pachd"]["resources"], "io.k8s.api.core.v1.ResourceRequirements", version)
    for toleration in values["pachd"]["tolerations"]:
        validate_fragment(toleration, "io.k8s.api.core.v1.Toleration", version)
    validate_fragment(values["pachd"]["nodeSelector"], "io.k8s.api.core.v1.PodSpec/properties/nodeSelector", version)


def test_pachyderm_secrets_are_referenced_not_inlined(site: dict[str, Any]) -> None:
    creds = site["creds"]
    secret = _docs(site["render"] / "pachyderm" / "secrets.yml")[0]
    data = secret["stringData"]
    # generated by the role: the database password (the postgres role's file) and the tokens
    db_file = creds / "postgres" / "pachyderm"
    assert _mode(db_file) == 0o600
    assert data["postgresql-password"] == db_file.read_text().strip()
    assert set(data) == {"postgresql-password", "root-token", "pachd-oauth-client-secret", "OAUTH_CLIENT_SECRET"}
    for key, name in (("root-token", "root_token"),
                      ("pachd-oauth-client-secret", "oauth_client_secret"),
                      ("OAUTH_CLIENT_SECRET", "console_oauth_client_secret")):
        path = creds / "pachyderm" / name
        assert _mode(path) == 0o600
        assert data[key] == path.read_text().strip() and len(data[key]) == 40
    values_text = (site["render"] / "pachyderm" / "values.yml").read_text()
    for value in data.values():
        assert value not in values_text, "a secret the chart can take by reference is inlined in values.yml"


def test_no_secret_outside_private_files(site: dict[str, Any]) -> None:
    """Every file holding a secret is 0600 in a 0700 directory; the others hold none."""
    made = site["made"]
    secret_values = list(made.values())
    for app in APPS:
        directory = site["render"] / app
        assert _mode(directory) == 0o700
        for path in directory.iterdir():
            text = path.read_text()
            holds_secret = any(v in text for v in secret_values) or "stringData" in text
            if holds_secret:
                assert _mode(path) == 0o600, f"{path} holds a secret but is {oct(_mode(path))}"
    assert _mode(site["render"] / "seldon" / "values.yml") == 0o644  # nothing secret for the operator


def test_secrets_never_printed(site: dict[str, Any]) -> None:
    output = site["first"].stdout + site["first"].stderr + site["second"].stdout
    for value in site["made"].values():
        assert value not in output
    for path in (site["creds"] / "pachyderm").iterdir():
        assert path.read_text().strip() not in output
    assert (site["creds"] / "determined" / "admin_password").read_text() not in output


def test_second_run_changes_nothing(site: dict[str, Any]) -> None:
    assert _recap(site["first"])["changed"] > 0
    assert _recap(site["second"])["changed"] == 0, site["second"].stdout


# --------------------------------------------------------------------------- other inventories

def test_seldon_ingress_exposure(tmp_path: Path, version: str) -> None:
    creds = tmp_path / "credentials"
    _seed_credentials(creds)
    inventory = _inventory(tmp_path, creds, {
        "determined_enabled": False, "pachyderm_enabled": False,
        "seldon_exposure": "ingress",
        "seldon_model_storage_consumer": "",
        "seldon_ingress_host": "models.lab.example",
        "seldon_ingress_models": [{"name": "mnist", "namespace": "models", "predictor": "default"},
                                  {"name": "fmnist", "namespace": "models", "predictor": "main"}],
    })
    result = _run(tmp_path, inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    render = tmp_path / "render"
    assert not (render / "determined").exists() and not (render / "pachyderm").exists()
    assert not (render / "seldon" / "secrets.yml").exists()  # model storage is off here
    ingresses = _docs(render / "seldon" / "exposure.yml")
    namespaces = _docs(render / "seldon" / "namespace.yml")
    for doc in ingresses + namespaces:
        validate_object(doc, version)
    assert [n["metadata"]["name"] for n in namespaces] == ["seldon-system", "models"]
    assert [i["kind"] for i in ingresses] == ["Ingress", "Ingress"]
    first = ingresses[0]["spec"]
    assert first["ingressClassName"] == "public"
    assert first["rules"][0]["host"] == "models.lab.example"
    path = first["rules"][0]["http"]["paths"][0]
    assert path["path"] == "/seldon/models/mnist(/|$)(.*)"
    assert path["backend"]["service"] == {"name": "mnist-default", "port": {"number": 8000}}
    values = yaml.safe_load((render / "seldon" / "values.yml").read_text())
    assert values["istio"]["enabled"] is False


def test_registry_and_cpu_site(tmp_path: Path, version: str) -> None:
    """A site with its own registry and no GPUs: references and slot type follow the inventory."""
    creds = tmp_path / "credentials"
    _seed_credentials(creds)
    inventory = _inventory(tmp_path, creds, {
        "mlstack_registry": "registry.lab.example:5000",
        "determined_slot_type": "cpu", "determined_cpu_slot_request": 4,
        "determined_task_tolerations": [], "determined_task_node_selector": {},
        "determined_db_mode": "chart",
        "seldon_exposure": "none",
    })
    result = _run(tmp_path, inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    render = tmp_path / "render"
    det = yaml.safe_load((render / "determined" / "values.yml").read_text())
    assert det["imageRegistry"] == "registry.lab.example:5000/determinedai"
    assert det["defaultImages"]["postgreSQL"].startswith("registry.lab.example:5000/library/postgres:")
    assert det["slotType"] == "cpu" and det["slotResourceRequests"] == {"cpu": 4}
    assert "hostAddress" not in det["db"]  # the chart's own database
    chart_db = creds / "determined" / "db_password"
    assert _mode(chart_db) == 0o600 and det["db"]["password"] == chart_db.read_text().strip()
    assert "cpuPodSpec" not in det["taskContainerDefaults"]
    sel = yaml.safe_load((render / "seldon" / "values.yml").read_text())
    assert sel["image"]["registry"] == "registry.lab.example:5000"
    assert _docs(render / "seldon" / "exposure.yml") == []
    pach = yaml.safe_load((render / "pachyderm" / "values.yml").read_text())
    assert pach["global"]["image"]["registry"] == "registry.lab.example:5000/"
    assert pach["pachd"]["image"]["repository"] == "pachyderm/pachd"
    assert pach["loki-stack"]["loki"]["image"]["repository"] == "registry.lab.example:5000/grafana/loki"
    assert pach["loki-stack"]["promtail"]["image"]["registry"] == "registry.lab.example:5000"
    sel_servers = sel["predictor_servers"]
    assert sel_servers["SKLEARN_SERVER"]["protocols"]["seldon"] == {
        "image": "registry.lab.example:5000/seldonio/sklearnserver", "defaultImageVersion": "1.17.1"}
    assert sel_servers["TRITON_SERVER"] is None  # not offered by default: removed from seldon-config
    assert sel["explainer"]["image"] == "registry.lab.example:5000/seldonio/alibiexplainer:1.17.1"
    assert det["db"]["cpuRequest"] == "500m" and det["db"]["memRequest"] == "1Gi" and det["db"]["memLimit"] == "2Gi"


# --------------------------------------------------------------------------- bad input

BAD_INPUTS = [
    # (extra vars, text the error must contain)
    ({"determined_slots_per_agent": "two"}, "determined_slots_per_agent"),
    ({"determined_db_mode": "sqlite"}, "determined_db_mode"),
    ({"determined_namespace": "Determined_NS"}, "determined_namespace"),
    ({"determined_wait_timeout": "soon"}, "determined_wait_timeout"),
    ({"seldon_chart_version": "1.18.1"}, "Business Source License"),
    ({"seldon_exposure": "ingress", "seldon_ingress_models": [{"name": "Bad_Model", "namespace": "m", "predictor": "p"}]},
     "seldon_ingress_models"),
    ({"seldon_model_storage_consumer": "seldon", "seldon_model_namespaces": ["Models"]}, "seldon_model_namespaces"),
    ({"pachyderm_s3_gateway_port": 600}, "pachyderm_s3_gateway_port"),
    ({"pachyderm_proxy_service_type": "Ingress"}, "pachyderm_proxy_service_type"),
    ({"pachyderm_db_identity_name": "pachyderm"}, "pachyderm_db_identity_name"),
    ({"pachyderm_console_enabled": True}, "pachyderm_oidc_upstream_idps is empty"),
    ({"pachyderm_oidc_upstream_idps": [{"id": "x", "type": "oidc"}]}, "every entry needs id, name, type and config"),
    ({"pachyderm_s3_region": "US East"}, "pachyderm_s3_region"),
    ({"determined_db_memory_request": "lots", "determined_db_mode": "chart"}, "determined_db_memory_request"),
    ({"determined_enabled": True, "mlstack_offline": True, "mlstack_bundle_dir": "/nonexistent/bundle"},
     "Determined offline needs mlstack_registry"),
    ({"seldon_prepackaged_servers": ["SKLEARN_SERVER", "ONNX_SERVER"]}, "seldon_prepackaged_servers"),
]


@pytest.mark.parametrize("extra,expected", BAD_INPUTS, ids=[next(iter(e)) for e, dummy in BAD_INPUTS])
def test_bad_input_fails_naming_the_variable(tmp_path: Path, extra: dict[str, Any], expected: str) -> None:
    creds = tmp_path / "credentials"
    _seed_credentials(creds)
    app = next(iter(extra)).split("_")[0]
    only_this_app = {f"{other}_enabled": False for other in APPS if other != app}
    result = _run(tmp_path, _inventory(tmp_path, creds, {**extra, **only_this_app}))
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    # nothing half-done: a wrong input fails before anything is rendered
    assert not (tmp_path / "render").exists()


def test_missing_s3_key_names_the_file(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    _seed_credentials(creds)
    (creds / "object-store" / "pachyderm.secret_key").unlink()
    result = _run(tmp_path, _inventory(tmp_path, creds, {"determined_enabled": False, "seldon_enabled": False}))
    assert result.returncode != 0
    assert str(creds / "object-store" / "pachyderm.access_key") in result.stdout
    assert "pachyderm_s3_secret_key" in result.stdout


@pytest.mark.parametrize("app,databases,expected", [
    ("pachyderm", [{"name": "pachyderm", "owner": "pachyderm"}], "lacks pachyderm_dex"),
    ("determined", [{"name": "determined", "owner": "someone_else"}], "has no database 'determined' owned by 'determined'"),
])
def test_database_missing_from_postgres_databases(tmp_path: Path, app: str, databases: list[dict[str, str]],
                                                  expected: str) -> None:
    creds = tmp_path / "credentials"
    _seed_credentials(creds)
    inventory = _inventory(tmp_path, creds, {f"{other}_enabled": False for other in APPS if other != app})
    data = yaml.safe_load(inventory.read_text())
    data["all"]["children"]["k8s_control_plane"]["hosts"]["ml1"]["postgres_databases"] = databases
    inventory.write_text(yaml.safe_dump(data))
    result = _run(tmp_path, inventory)
    assert result.returncode != 0
    assert expected in result.stdout
    assert "postgres_databases" in result.stdout
    assert not (tmp_path / "render").exists()


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    """--check on a fresh site succeeds and creates no file, on the host or the controller."""
    creds = tmp_path / "credentials"
    _seed_credentials(creds)
    before = sorted(p.relative_to(creds) for p in creds.rglob("*"))
    result = _run(tmp_path, _inventory(tmp_path, creds), "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.relative_to(creds) for p in creds.rglob("*")) == before
    assert not (tmp_path / "render").exists()


def test_check_mode_with_apply_on_a_first_run(tmp_path: Path) -> None:
    """--check with <app>_apply true on a fresh site: nothing is rendered, so helm and the
    cluster are not touched (they would read files check mode did not write); the run
    succeeds and says so. (Without --check this would install packages and need a cluster.)"""
    creds = tmp_path / "credentials"
    _seed_credentials(creds)
    inventory = _inventory(tmp_path, creds, {f"{app}_apply": True for app in APPS})
    result = _run(tmp_path, inventory, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    for app in APPS:
        assert f"Check mode: what {app} renders into" in result.stdout
    assert "Install the Kubernetes Python client" not in result.stdout
    assert not (tmp_path / "render").exists()
