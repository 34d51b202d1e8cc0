"""Run the determined, seldon and pachyderm roles for real in render-only mode.

Shared by test_k8s_renders.py (the rendered objects against Kubernetes' schemas) and
test_chart_contracts.py (the rendered Helm values against the charts' contracts), and by
real_charts.py (the rendered values through the real charts with Helm's engine).

No Kubernetes API server and no helm can run on these machines, so the roles run with
<app>_apply: false through ansible-playbook against this machine (connection local), with
the inventory of the seed's one-GPU-VM site: the same host is the first k8s_control_plane
host, the postgres server and the object store (minio_endpoint_url given as the minio role
would publish it). The credentials the postgres and minio roles would have written are
created in a temporary credentials directory.
"""
from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]

# A site with everything on: a registry, the chart's own database for Determined, every
# prepackaged Seldon server, Pachyderm's console with an identity provider, and Loki.
FULL_SITE: dict[str, Any] = {
    "mlstack_registry": "registry.lab.example:5000",
    "determined_db_mode": "chart",
    "seldon_exposure": "none",
    "seldon_prepackaged_servers": ["MLFLOW_SERVER", "SKLEARN_SERVER", "TENSORFLOW_SERVER", "XGBOOST_SERVER",
                                   "TRITON_SERVER", "HUGGINGFACE_SERVER", "TEMPO_SERVER"],
    "pachyderm_console_enabled": True,
    "pachyderm_oidc_upstream_idps": [{"id": "gitlab", "name": "GitLab", "type": "gitlab",
                                      "config": {"baseURL": "https://gitlab.lab.example", "clientID": "pachyderm",
                                                 "clientSecret": "from-the-vault",
                                                 "redirectURI": "http://10.64.140.10:30080/dex/callback"}}],
    "pachyderm_cluster_role_bindings": {"user:admin@lab.example": ["clusterAdmin"]},
}

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
APPS = ("determined", "seldon", "pachyderm")

PLAYBOOK = """\
- name: Render the Helm apps of the platform
  hosts: k8s_control_plane[0]
  gather_facts: false
  roles:
    - role: mlstack.platform.determined
    - role: mlstack.platform.seldon
    - role: mlstack.platform.pachyderm
"""


# --------------------------------------------------------------------------- helpers

def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(text)
    path.chmod(mode)


def _inventory(tmp: Path, creds: Path, extra: dict[str, Any] | None = None) -> Path:
    """The seed's one-VM site: ml1 is control plane, database server and object store."""
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ansible_host": "10.64.140.10",
        # What the postgres role is given on that site ...
        "postgres_databases": [
            {"name": "determined", "owner": "determined"},
            {"name": "pachyderm", "owner": "pachyderm"},
            {"name": "pachyderm_dex", "owner": "pachyderm"},
        ],
        # ... and what the minio role publishes for its consumers.
        "minio_endpoint_url": "http://10.64.140.10:9000",
    }
    group_vars: dict[str, Any] = {
        "mlstack_credentials_dir": str(creds),
        "determined_apply": False,
        "seldon_apply": False,
        "pachyderm_apply": False,
        "determined_render_dir": str(tmp / "render" / "determined"),
        "seldon_render_dir": str(tmp / "render" / "seldon"),
        "pachyderm_render_dir": str(tmp / "render" / "pachyderm"),
        # One T4 per VM in the seed; task pods tolerate the GPU taint.
        "determined_slots_per_agent": 1,
        "determined_master_memory_limit": "4Gi",
        "determined_task_tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "determined_task_node_selector": {"nvidia.com/gpu.present": "true"},
        # The seed serves models through knative's Istio and the seldon gateway.
        "seldon_exposure": "istio",
        # Models come from the object store with the seldon consumer's key.
        "seldon_model_storage_consumer": "seldon",
        "seldon_model_namespaces": ["models"],
        "pachyderm_pachd_resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "pachyderm_pachd_tolerations": [{"key": "dedicated", "operator": "Equal", "value": "data", "effect": "NoSchedule"}],
    }
    group_vars.update(extra or {})
    inventory = {
        "all": {
            "children": {
                "k8s_control_plane": {"hosts": {"ml1": host}},
                "postgres": {"hosts": {"ml1": {}}},
                "object_store": {"hosts": {"ml1": {}}},
            },
            "vars": group_vars,
        }
    }
    path = tmp / "hosts.yml"
    _write(path, yaml.safe_dump(inventory), 0o644)
    return path


def _seed_credentials(creds: Path) -> dict[str, str]:
    """The files the minio and postgres roles would have left on the controller."""
    made = {}
    for consumer in ("determined", "pachyderm", "seldon"):
        for kind, length in (("access_key", 20), ("secret_key", 40)):
            value = secrets.token_hex(length // 2)
            _write(creds / "object-store" / f"{consumer}.{kind}", value + "\n")
            made[f"{consumer}.{kind}"] = value
    # determined's database password exists already; pachyderm's is left for the role to make.
    made["postgres.determined"] = secrets.token_hex(16)
    _write(creds / "postgres" / "determined", made["postgres.determined"] + "\n")
    return made


def _run(tmp: Path, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    playbook = tmp / "render.yml"
    if not playbook.exists():
        _write(playbook, PLAYBOOK, 0o644)
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible" / "collections"),
        ANSIBLE_HOME=str(ROOT / ".ansible"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook), *args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )


def _recap(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    match = re.search(r"^ml1\s+:\s+(.*)$", result.stdout, re.M)
    assert match, result.stdout + result.stderr
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def render_site(tmp: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render the three roles once for the seed's site (plus ``extra`` variables) and
    return the credentials made, the run and each enabled app's Helm values."""
    creds = tmp / "credentials"
    made = _seed_credentials(creds)
    inventory = _inventory(tmp, creds, extra)
    result = _run(tmp, inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    render = tmp / "render"
    values = {app: yaml.safe_load((render / app / "values.yml").read_text())
              for app in APPS if (render / app / "values.yml").exists()}
    return {"tmp": tmp, "creds": creds, "made": made, "inventory": inventory, "result": result,
            "render": render, "values": values}
