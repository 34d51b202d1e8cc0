"""The determined, seldon and pachyderm roles against their charts' contracts.

The charts cannot be fetched or run here (no helm, no cluster, no network in CI), so facts
read from each chart at its pinned version are kept as data in chart_contracts/ (with the
chart file each came from) and checked here against what the roles really render:
  - a contract exists for every pinned chart version (a bump fails until it is redone);
  - the roles set only values paths the chart's templates read, every required one, and the
    values the platform's rules demand where the chart's defaults are unsafe (mock IdP,
    well-known passwords, telemetry);
  - every image of an enabled component is the manifest's entry, rewritten to the site
    registry when one is set, and the manifest follows the chart's pinned defaults.
The same values were rendered with the real charts by real_charts.py (see the roles' READMEs).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import chart_contract as cc
from role_render import APPS, FULL_SITE, render_site

SITES = {"seed": {}, "full": FULL_SITE}


def _version(app: str) -> str:
    return str(cc.manifest()["charts"][cc.CHART_KEYS[app]]["version"])


@pytest.fixture(scope="module")
def rendered(seed_site: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The seed's site (conftest.py, shared with test_k8s_renders.py) and the full one."""
    return {"seed": seed_site, "full": render_site(tmp_path_factory.mktemp("contracts-full"), FULL_SITE)}


# --------------------------------------------------------------------------- the contracts themselves

@pytest.mark.parametrize("app", APPS)
def test_every_pinned_chart_version_has_a_contract(app: str) -> None:
    version = _version(app)
    contract = cc.load_contract(app, version)  # raises "redo the contract for version X"
    assert contract["version"] == version and contract["role"] == app
    assert contract["source"]["commit"] and contract["source"]["path"]


def test_a_bumped_version_says_to_redo_the_contract() -> None:
    with pytest.raises(FileNotFoundError, match="redo the contract for version 2.13.0"):
        cc.load_contract("pachyderm", "2.13.0")


@pytest.mark.parametrize("app", APPS)
def test_contract_facts_name_paths_the_chart_reads(app: str) -> None:
    contract = cc.load_contract(app, _version(app))
    assert len(contract["values_read"]) > 50
    assert cc.consistency_problems(contract) == []
    for fact in contract["images"] + (contract.get("required") or []) + (contract.get("must_set") or []):
        assert fact["file"], fact


@pytest.mark.parametrize("app", APPS)
def test_manifest_holds_the_charts_default_images(app: str) -> None:
    contract = cc.load_contract(app, _version(app))
    assert cc.default_image_problems(contract, cc.manifest()["images"]) == []


def test_a_manifest_behind_the_chart_is_caught() -> None:
    contract = cc.load_contract("pachyderm", _version("pachyderm"))
    images = copy.deepcopy(cc.manifest()["images"])
    images["pachyderm_etcd"]["tag"] = "v3.5.9"
    del images["pachyderm_console"]
    problems = cc.default_image_problems(contract, images)
    assert any("pachyderm_etcd is docker.io/pachyderm/etcd:v3.5.9" in p and "v3.5.12" in p for p in problems)
    assert any("pachyderm_console: missing" in p for p in problems)


# --------------------------------------------------------------------------- what the roles render

@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("app", APPS)
def test_role_sets_only_paths_the_chart_reads(rendered: dict[str, Any], site: str, app: str) -> None:
    contract = cc.load_contract(app, _version(app))
    assert cc.unread_paths(rendered[site]["values"][app], contract) == []


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("app", APPS)
def test_role_sets_every_required_value(rendered: dict[str, Any], site: str, app: str) -> None:
    contract = cc.load_contract(app, _version(app))
    assert cc.missing_required(rendered[site]["values"][app], contract) == []


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("app", APPS)
def test_role_overrides_unsafe_chart_defaults(rendered: dict[str, Any], site: str, app: str) -> None:
    contract = cc.load_contract(app, _version(app))
    assert cc.wrong_must_set(rendered[site]["values"][app], contract) == []


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("app", APPS)
def test_every_deployed_image_is_the_manifests(rendered: dict[str, Any], site: str, app: str) -> None:
    contract = cc.load_contract(app, _version(app))
    registry = SITES[site].get("mlstack_registry", "")
    values = rendered[site]["values"][app]
    assert cc.image_problems(values, contract, cc.manifest()["images"], registry) == []
    deployed = {i["key"] for i in contract["images"] if i.get("key") and cc.enabled(values, contract, i)}
    assert deployed, "no image checked"
    if registry:
        for image in contract["images"]:
            if image.get("key") in deployed:
                assert cc.normal(cc.compose(values, contract, image["compose"])).startswith(registry + "/")


def test_which_components_each_site_deploys(rendered: dict[str, Any]) -> None:
    """The enabled_when facts follow the roles' switches (so the image check above covers them)."""
    def deployed(site: str, app: str) -> set[str]:
        contract = cc.load_contract(app, _version(app))
        values = rendered[site]["values"][app]
        return {i["key"] for i in contract["images"] if i.get("key") and cc.enabled(values, contract, i)}
    assert "pachyderm_console" not in deployed("seed", "pachyderm")
    assert "pachyderm_console" in deployed("full", "pachyderm")
    assert {"pachyderm_loki", "pachyderm_promtail", "pachyderm_etcd", "pachyderm_pgbouncer"} <= deployed("seed", "pachyderm")
    assert "determined_postgres" not in deployed("seed", "determined")
    assert "determined_postgres" in deployed("full", "determined")
    assert "seldon_tritonserver" not in deployed("seed", "seldon")
    assert {"seldon_sklearnserver", "seldon_mlserver_sklearn", "seldon_tfserving_proxy"} <= deployed("seed", "seldon")
    assert {"seldon_tritonserver", "seldon_mlserver_huggingface", "seldon_mlserver_slim"} <= deployed("full", "seldon")


def test_the_checks_catch_broken_values(rendered: dict[str, Any]) -> None:
    """Each check fails on values that break the contract in its way (the tests above are not vacuous)."""
    contract = cc.load_contract("pachyderm", _version("pachyderm"))
    values = copy.deepcopy(rendered["full"]["values"]["pachyderm"])
    broken = copy.deepcopy(values)
    broken["pachd"]["enterpriseSecretSecretName"] = "x"          # removed from the 2.12 chart
    broken["pachd"]["storage"]["minio"] = {"bucket": "b"}          # 2.12's templates do read minio.* ...
    assert cc.unread_paths(broken, contract) == ["pachd.enterpriseSecretSecretName: no template of pachyderm 2.12.2 reads it"]
    del broken["pachd"]["storage"]["storageURL"]
    assert [p.split(":")[0] for p in cc.missing_required(broken, contract)] == ["pachd.storage.storageURL"]
    broken["oidc"]["mockIDP"] = True
    assert any(p.startswith("oidc.mockIDP: must be False") for p in cc.wrong_must_set(broken, contract))
    broken["postgresql"]["enabled"] = True                          # the chart's own PostgreSQL: not in the manifest
    broken["global"]["image"]["registry"] = "docker.io/docker.io/"  # the old mistake
    problems = cc.image_problems(broken, contract, cc.manifest()["images"], "registry.lab.example:5000")
    assert any(p.startswith("docker.io/pachyderm/postgresql:13.3.0: deployed") for p in problems)
    assert any("docker.io/docker.io/pachyderm/pachd:2.12.2" in p for p in problems)
    seldon = cc.load_contract("seldon", _version("seldon"))
    values = copy.deepcopy(rendered["seed"]["values"]["seldon"])
    del values["predictor_servers"]["TRITON_SERVER"]  # not removed: the chart's default comes back
    assert any(p.startswith("seldon_tritonserver: the chart would run nvcr.io/nvidia/tritonserver:21.08-py3")
               for p in cc.image_problems(values, seldon, cc.manifest()["images"], "registry.lab.example:5000"))


def test_pachyderm_auth_is_real_and_the_mock_idp_off(rendered: dict[str, Any]) -> None:
    for site in SITES:
        values = rendered[site]["values"]["pachyderm"]
        assert values["oidc"]["mockIDP"] is False
        assert values["pachd"]["activateAuth"] is True
        assert values["pachd"]["rootToken"] == "" and values["pachd"]["rootTokenSecretName"] == "pachyderm-mlstack"
    seed, full = rendered["seed"]["values"]["pachyderm"], rendered["full"]["values"]["pachyderm"]
    assert seed["oidc"]["upstreamIDPsSecretName"] == "" and seed["console"]["enabled"] is False
    assert full["oidc"]["upstreamIDPsSecretName"] == "pachyderm-mlstack" and full["console"]["enabled"] is True
    assert full["pachd"]["pachAuthClusterRoleBindings"] == {"user:admin@lab.example": ["clusterAdmin"]}
    # the identity providers' client secrets go to the Secret, not the values
    render: Path = rendered["full"]["render"]
    assert "from-the-vault" not in (render / "pachyderm" / "values.yml").read_text()
    assert "from-the-vault" in (render / "pachyderm" / "secrets.yml").read_text()
