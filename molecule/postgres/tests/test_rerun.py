"""Runs of the converge playbook with other inputs (last: they change the server).

Only the server and the client take part (--limit), which keeps them short.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from testinfra.host import Host

from conftest import INVENTORY_DIR, SCENARIO_DIR
from pg import Consumer, psql_local, psql_tcp, wait_until_ready

BACKUP_UNIT = "mlstack-postgres-backup"
CONF = "/etc/postgresql/15/main/conf.d/50-mlstack.conf"
UNIT = "postgresql@15-main"
LIMIT = "postgres-server,postgres-client"


def run_converge(*options: str) -> subprocess.CompletedProcess[str]:
    """Run the scenario's converge playbook on the server and the client."""
    playbook = Path(sys.executable).parent / "ansible-playbook"
    command = [str(playbook), "-i", str(INVENTORY_DIR), "--limit", LIMIT, *options, str(SCENARIO_DIR / "converge.yml")]
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_FORCE_COLOR"}
    env["ANSIBLE_NOCOLOR"] = "1"
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def converge(*options: str) -> str:
    """Run the converge playbook; return its output, fail on its failure."""
    result = run_converge(*options)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return result.stdout


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host."""
    counters = {}
    for host, fields in re.findall(r"^(postgres-\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE):
        counters[host] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", fields)}
    return counters


def test_check_mode_on_the_converged_server_changes_nothing() -> None:
    output = converge("--check", "--diff")
    counters = recap(output)
    assert counters["postgres-server"]["changed"] == 0, output[-5000:]
    assert counters["postgres-server"]["failed"] == 0


def test_backup_can_be_switched_off_and_on_again(server: Host) -> None:
    dumps_before = server.check_output("find /var/backups/postgresql -name '*.dump' | sort")
    converge("-e", json.dumps({"postgres_backup_enabled": False}))
    assert not server.file(f"/etc/systemd/system/{BACKUP_UNIT}.timer").exists
    assert not server.file(f"/etc/systemd/system/{BACKUP_UNIT}.service").exists
    assert server.run(f"systemctl cat {BACKUP_UNIT}.timer").rc != 0
    assert server.check_output("find /var/backups/postgresql -name '*.dump' | sort") == dumps_before
    converge()
    assert server.service(f"{BACKUP_UNIT}.timer").is_enabled
    assert server.service(f"{BACKUP_UNIT}.timer").is_running


def test_a_run_cut_off_before_its_reload_is_completed_by_the_next_run(
    server: Host, client: Host, server_address: str, consumers: dict[str, Consumer]
) -> None:
    """The role's files are on disk as the role writes them, the server still runs without them.

    That is what a run killed between writing the files and reloading the server leaves
    (found by tests/e2e's fault injection: listen_addresses stayed localhost forever). The
    server is started on a copy of the file without listen_addresses, then the role's file
    is put back without a reload; the next run must load it and restart for it.
    """
    server.check_output(f"cp -p {CONF} {CONF}.kept && sed -i -e '/^listen_addresses/d' -e '/^mlstack.config_id/d' {CONF}")
    server.check_output(f"systemctl restart {UNIT}")
    wait_until_ready(server)
    server.check_output(f"mv {CONF}.kept {CONF}")
    assert psql_local(server, "SHOW listen_addresses") == "localhost"
    assert psql_tcp(client, consumers["labelstudio"], "SELECT 1").rc != 0

    output = converge()
    assert "Restart the server for listen_addresses" in output, output[-5000:]
    assert psql_local(server, "SHOW listen_addresses") == f"localhost,{server_address}"
    assert psql_tcp(client, consumers["labelstudio"], "SELECT 1").stdout.strip() == "1"
    assert recap(converge())["postgres-server"]["changed"] == 0


def test_a_setting_overridden_by_alter_system_fails_the_run_naming_it(server: Host) -> None:
    psql_local(server, "ALTER SYSTEM SET work_mem = '7MB'")
    psql_local(server, "SELECT pg_reload_conf()")
    try:
        result = run_converge()
    finally:
        psql_local(server, "ALTER SYSTEM RESET work_mem")
        psql_local(server, "SELECT pg_reload_conf()")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    failure = output[output.index("fatal: [postgres-server]"):]
    assert "do not come from" in failure and "work_mem" in failure and "postgresql.auto.conf" in failure, failure[:3000]


@pytest.mark.parametrize(
    ("bad_input", "named"),
    [
        ({"postgres_hba_allowed_cidrs": ["0.0.0.0/0"]}, "postgres_hba_allowed_cidrs"),
        (
            {"postgres_hba_extra_rules": [{"type": "host", "database": "all", "user": "all",
                                           "address": "10.0.0.0/8", "method": "md5"}]},
            "postgres_hba_extra_rules",
        ),
        ({"postgres_databases": [{"name": "Not-An-Identifier"}]}, "postgres_databases"),
        ({"postgres_settings_extra": {"password_encryption": "md5"}}, "password_encryption"),
    ],
)
def test_bad_input_fails_before_any_change_naming_the_variable(
    server: Host, bad_input: dict[str, object], named: str
) -> None:
    hba_before = server.file("/etc/postgresql/15/main/pg_hba.conf").content_string
    result = run_converge("-e", json.dumps(bad_input))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    failure = output[output.index("fatal: [postgres-server]"):]
    assert named in failure, failure[:2000]
    assert re.search(r"postgres-server\s+:\s+ok=\d+\s+changed=0\s", result.stdout), output[-3000:]
    assert server.file("/etc/postgresql/15/main/pg_hba.conf").content_string == hba_before
