# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The preflight through ansible-playbook, as a user meets it: site.yml's first play on the
example inventories (clean), and on broken copies of them (every bad input of every host
in one failed run, before any other play). Controller only: the preflight never connects
to a host, and the broken runs are in check mode besides."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
INVENTORIES = sorted(p.name for p in (ROOT / "inventories").iterdir() if (p / "hosts.yml").is_file())
CHECK_TASK = "Check this host's variables against every role it will run"
STOP_TASK = "Stop the run on bad input, with every problem of every host at once"


def playbook(inventory: pathlib.Path, *args: str, name: str = "site.yml") -> tuple[int, dict, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible/collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    bindir = pathlib.Path(sys.executable).parent
    result = subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", str(inventory / "hosts.yml"), str(ROOT / "playbooks" / name), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    try:
        # The JSON report, after whatever the enabled callbacks (profile_tasks) printed.
        start = re.search(r"^\{$", result.stdout, re.M)
        report, dummy = json.JSONDecoder().raw_decode(result.stdout[start.start():] if start else "")
    except ValueError:
        pytest.fail("no JSON from ansible-playbook: " + result.stdout[-2000:] + result.stderr[-2000:])
    return result.returncode, report, result.stderr


def task_results(report: dict, task_name: str) -> dict:
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(task_name):
                return task["hosts"]
    return {}


def plays_that_ran(report: dict) -> list[str]:
    return [play["play"]["name"] for play in report["plays"] if any(t["hosts"] for t in play["tasks"])]


def inventory_hosts(inventory: pathlib.Path) -> set[str]:
    hosts: set[str] = set()

    def walk(group: dict) -> None:
        hosts.update((group.get("hosts") or {}).keys())
        for child in (group.get("children") or {}).values():
            walk(child or {})
    walk((yaml.safe_load((inventory / "hosts.yml").read_text()) or {}).get("all") or {})
    return hosts


def broken_copy(tmp_path: pathlib.Path, source: str, edit) -> pathlib.Path:
    """hosts.yml and group_vars of an example inventory (never its credentials), edited."""
    copy = tmp_path / source
    copy.mkdir()
    shutil.copy(ROOT / "inventories" / source / "hosts.yml", copy / "hosts.yml")
    shutil.copytree(ROOT / "inventories" / source / "group_vars", copy / "group_vars")
    main = copy / "group_vars/all/main.yml"
    main.write_text(edit(main.read_text()))
    return copy


def failure_lines(report: dict) -> list[str]:
    stop = task_results(report, STOP_TASK)
    failed = [r for r in stop.values() if r.get("failed")]
    assert len(failed) == 1, stop
    header, *lines = failed[0]["msg"].split("\n")
    assert re.match(r"^Preflight: \d+ problem\(s\) on \d+ host\(s\); nothing was changed", header), header
    return lines


def controller_paths(tmp_path: pathlib.Path) -> list[str]:
    """Extra vars naming a bundle and a public key that exist: the example inventories name
    where a site keeps them (/media/bundle, the lab's bundle once made), which the preflight
    checks on the controller."""
    bundle = tmp_path / "bundle"
    for sub in ("images/oci", "python/debian-bookworm/label_studio"):
        (bundle / sub).mkdir(parents=True)
    (tmp_path / "key.asc").write_text("")
    return ["-e", f"mlstack_bundle_dir={bundle}", "-e", f"mlstack_bundle_public_key={tmp_path / 'key.asc'}"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_example_inventory_passes_the_preflight(inventory, tmp_path):
    path = ROOT / "inventories" / inventory
    rc, report, stderr = playbook(path, *controller_paths(tmp_path), name="preflight.yml")
    assert rc == 0, json.dumps(report)[-3000:] + stderr[-2000:]
    checked = task_results(report, CHECK_TASK)
    assert set(checked) == inventory_hosts(path)
    for host, result in checked.items():
        assert result["errors"] == [], (host, result["errors"])
        assert result["undeclared"] == [], (host, result["undeclared"])
        assert "common" in result["roles"], (host, result["roles"])
    assert plays_that_ran(report) == ["Preflight (every host's inputs, before anything changes)"]


def test_three_bad_inputs_in_the_lab_fail_in_one_run_with_exactly_their_lines(tmp_path):
    copy = broken_copy(tmp_path, "lab", lambda text: text
                       .replace("minio_engine: seaweedfs", "minio_engine: ceph")
                       .replace("docker_host_source: distro", "docker_host_source: snap")
                       + "postgress_databases:\n  - name: mlflow\n")
    rc, report, stderr = playbook(copy, "--check", *controller_paths(tmp_path))
    assert rc != 0
    assert failure_lines(report) == [
        "mlstack-lab-host1: docker_host_source: must be one of distro, upstream, got snap",
        "mlstack-lab-host1: minio_engine: must be one of minio, seaweedfs, got ceph",
        "mlstack-lab-host1: postgress_databases: not declared by any role; did you mean postgres_databases?",
    ]
    # The run stopped in the preflight: no other play reached a host, and the controller's
    # side is untouched too (the registry's password lookups, which would generate files in
    # the credentials directory, were not templated).
    assert plays_that_ran(report) == ["Preflight (every host's inputs, before anything changes)"]
    assert not (copy / "credentials").exists()
    # No spec dump: no failed result carries the validator's argument_spec_data.
    failed = [r for play in report["plays"] for t in play["tasks"] for r in t["hosts"].values() if r.get("failed")]
    assert failed and not any("argument_spec_data" in r or "argument_errors" in r for r in failed)


def test_the_typo_that_emptied_postgres_databases_is_named_twice(tmp_path):
    # The incident of issue 15: the list renamed by a typo; the role would have written
    # pg_hba.conf without the consumers' rules.
    copy = broken_copy(tmp_path, "lab", lambda text: text.replace("\npostgres_databases:", "\npostgress_databases:"))
    rc, report, stderr = playbook(copy, *controller_paths(tmp_path), name="preflight.yml")
    assert rc != 0
    assert failure_lines(report) == [
        "mlstack-lab-host1: postgres_databases: lists no database labelstudio (owner labelstudio), "
        "which role label_studio on mlstack-lab-host1 uses (label_studio_db_name)",
        "mlstack-lab-host1: postgress_databases: not declared by any role; did you mean postgres_databases?",
    ]


def test_undeclared_variables_only_warn_when_asked(tmp_path):
    copy = broken_copy(tmp_path, "lab", lambda text: text + "postgress_databases: []\nmlstack_preflight_undeclared: warn\n")
    rc, report, stderr = playbook(copy, *controller_paths(tmp_path), name="preflight.yml")
    assert rc == 0, json.dumps(report)[-3000:]
    result = task_results(report, CHECK_TASK)["mlstack-lab-host1"]
    assert result["errors"] == []
    assert result["warnings"] == [
        "mlstack-lab-host1: postgress_databases: not declared by any role; did you mean postgres_databases?"]


def test_a_secret_from_a_vault_variable_is_neither_templated_nor_shown(tmp_path):
    copy = broken_copy(tmp_path, "lab", lambda text: text
                       .replace("  - name: labelstudio\n", "  - name: labelstudio\n    password: \"{{ vault_labelstudio_db }}\"\n")
                       + "label_studio_db_password: \"{{ vault_labelstudio_db }}\"\nvault_labelstudio_db: Sw0rdfish-1\n"
                       + "minio_engine_x: 1\n")
    rc, report, stderr = playbook(copy, *controller_paths(tmp_path), name="preflight.yml")
    assert rc != 0
    assert failure_lines(report) == [
        "mlstack-lab-host1: minio_engine_x: not declared by any role; did you mean minio_engine?"]
    result = task_results(report, CHECK_TASK)["mlstack-lab-host1"]
    assert "label_studio_db_password" in result["deferred"]
    assert "Sw0rdfish-1" not in json.dumps(report)
    assert not (copy / "credentials").exists()


def test_site_variables_that_playbooks_read_are_declared(tmp_path):
    # verify.yml's report path is a site variable (docs/operations.md), not a typo.
    copy = broken_copy(tmp_path, "lab", lambda text: text + "mlstack_health_report: /srv/site/health.json\n")
    rc, report, stderr = playbook(copy, *controller_paths(tmp_path), name="preflight.yml")
    assert rc == 0, json.dumps(report)[-3000:]
    assert task_results(report, CHECK_TASK)["mlstack-lab-host1"]["undeclared"] == []


def test_cross_host_rules_name_every_host_of_a_multi_node_site(tmp_path):
    copy = broken_copy(tmp_path, "multi_node", lambda text: text
                       .replace("postgres_hba_allowed_cidrs: [192.0.2.0/24]", "postgres_hba_allowed_cidrs: [192.0.2.8/30]")
                       .replace("mlstack_registry: data1:5000", "mlstack_registry: data2:5000"))
    rc, report, stderr = playbook(copy, "--check", *controller_paths(tmp_path))
    assert rc != 0
    registry = ["%s: mlstack_registry: names data2, which is not a host of group registry (data1) nor the address of one"
                % host for host in ("data1", "git1", "k8s1", "k8s2", "k8s3", "runner1")]
    # 192.0.2.8/30 holds k8s1 (.11) only; k8s2 and k8s3 reach determined and pachyderm's two databases.
    allowlist = ["data1: postgres_hba_allowed_cidrs: does not cover %s (%s), from which role %s reaches database %s"
                 % (host, address, role, db)
                 for host, address in (("k8s2", "192.0.2.12"), ("k8s3", "192.0.2.13"))
                 for role, db in (("determined", "determined"), ("pachyderm", "pachyderm"),
                                  ("pachyderm", "pachyderm_dex"))]
    assert failure_lines(report) == sorted(registry + allowlist)
    assert plays_that_ran(report) == ["Preflight (every host's inputs, before anything changes)"]


def test_docker_hosts_yml_checks_the_roles_it_runs(tmp_path):
    copy = broken_copy(tmp_path, "lab", lambda text: text
                       .replace("minio_engine: seaweedfs", "minio_engine: ceph")
                       .replace("docker_host_source: distro", "docker_host_source: snap"))
    rc, report, stderr = playbook(copy, "--check", *controller_paths(tmp_path), name="docker_hosts.yml")
    assert rc != 0
    # minio is not a role of this playbook: its error waits for site.yml.
    assert failure_lines(report) == ["mlstack-lab-host1: docker_host_source: must be one of distro, upstream, got snap"]
    assert task_results(report, CHECK_TASK)["mlstack-lab-host1"]["roles"] == ["common", "docker_host"]


def test_the_preflight_is_the_first_play_of_site_yml_and_docker_hosts_yml():
    for name in ("site.yml", "docker_hosts.yml"):
        first = yaml.safe_load((ROOT / "playbooks" / name).read_text())[0]
        assert first["hosts"] == "all" and first["gather_facts"] is False and first["any_errors_fatal"] is True
        task = first["tasks"][0]["ansible.builtin.import_role"]
        assert task == {"name": "mlstack.platform.common", "tasks_from": "preflight"}, name
