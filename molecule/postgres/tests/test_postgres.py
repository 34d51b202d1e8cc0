"""postgres on a Debian 12 lab server, reached from a client inside the allowlist and
from a host outside it."""

from __future__ import annotations

import re
import stat
import uuid
from pathlib import Path

import pytest
from testinfra.host import Host

from conftest import scenario_group_vars
from pg import Consumer, psql_local, psql_tcp, wait_until_ready

MAJOR = "15"  # Debian 12's own PostgreSQL: postgres_version is left at its default
UNIT = f"postgresql@{MAJOR}-main"
BACKUP_DIR = "/var/backups/postgresql"
BACKUP_UNIT = "mlstack-postgres-backup"
PG_HBA_REFUSAL = 'no pg_hba.conf entry for host "{address}"'


def address_of(host: Host) -> str:
    return host.check_output("hostname -I").split()[0]


# --- the server ---------------------------------------------------------------------


def test_server_is_the_distribution_major_and_starts_at_boot(server: Host) -> None:
    assert server.package(f"postgresql-{MAJOR}").is_installed
    assert server.package("python3-psycopg2").is_installed
    assert psql_local(server, "SHOW server_version").startswith(f"{MAJOR}.")
    assert server.service(UNIT).is_running
    assert server.service("postgresql").is_enabled


def test_server_listens_only_where_the_inventory_says(server: Host, server_address: str) -> None:
    assert psql_local(server, "SHOW listen_addresses") == f"localhost,{server_address}"
    listening = server.check_output("ss -Hltn 'sport = :5432'")
    local_addresses = sorted(line.split()[3] for line in listening.splitlines())
    assert local_addresses == sorted(["127.0.0.1:5432", f"{server_address}:5432"])


def test_passwords_are_scram_everywhere(server: Host) -> None:
    assert psql_local(server, "SHOW password_encryption") == "scram-sha-256"
    methods = psql_local(server, "SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE error IS NULL").split()
    assert set(methods) == {"peer", "scram-sha-256"}
    peer_rules = psql_local(
        server, "SELECT type, array_to_string(user_name, ',') FROM pg_hba_file_rules WHERE auth_method = 'peer'"
    )
    assert peer_rules == "local|postgres"
    stored = psql_local(server, "SELECT rolname, left(rolpassword, 14) FROM pg_authid WHERE rolcanlogin AND rolpassword IS NOT NULL")
    assert stored and all(line.endswith("|SCRAM-SHA-256$") for line in stored.splitlines()), stored


def test_pg_hba_allows_exactly_the_client_per_database(
    server: Host, client: Host, consumers: dict[str, Consumer]
) -> None:
    rules = psql_local(
        server,
        "SELECT array_to_string(database, ','), array_to_string(user_name, ','), address, netmask "
        "FROM pg_hba_file_rules WHERE type = 'host' AND address NOT IN ('127.0.0.1', '::1')",
    )
    expected = {f"{c.database}|{c.user}|{address_of(client)}|255.255.255.255" for c in consumers.values()}
    assert set(rules.splitlines()) == expected
    hba = server.file(f"/etc/postgresql/{MAJOR}/main/pg_hba.conf")
    assert hba.user == "postgres" and hba.mode == 0o640
    assert not re.search(r"\b(md5|trust|password)\b|0\.0\.0\.0/0", hba.content_string)


def test_tunables_follow_the_host_memory(server: Host) -> None:
    memory_mb = int(server.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024
    max_connections = scenario_group_vars("postgres")["postgres_max_connections"]
    shared_buffers = memory_mb // 4
    expected_mb = {
        "shared_buffers": shared_buffers,
        "effective_cache_size": memory_mb * 3 // 4,
        "work_mem": max((memory_mb - shared_buffers) // (max_connections * 3), 4),
        "maintenance_work_mem": min(memory_mb // 16, 2048),
    }
    for name, megabytes in expected_mb.items():
        assert psql_local(server, f"SELECT pg_size_bytes(current_setting('{name}')) / 1048576") == str(megabytes), name
    assert psql_local(server, "SHOW max_connections") == str(max_connections)
    assert psql_local(server, "SHOW log_connections") == "on"
    assert psql_local(server, "SHOW application_name") != ""
    pending = psql_local(server, "SELECT count(*) FROM pg_settings WHERE pending_restart")
    assert pending == "0"


def test_extensions_exist_in_each_database(server: Host, consumers: dict[str, Consumer]) -> None:
    for consumer in consumers.values():
        installed = set(psql_local(server, "SELECT extname FROM pg_extension", consumer.database).split())
        assert set(consumer.extensions) <= installed, consumer.database


def test_only_the_owner_may_connect(server: Host, consumers: dict[str, Consumer]) -> None:
    for consumer in consumers.values():
        owner = psql_local(
            server, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{consumer.database}'"
        )
        assert owner == consumer.user
        others = (c.user for c in consumers.values() if c.user != consumer.user)
        for other in others:
            allowed = psql_local(server, f"SELECT has_database_privilege('{other}', '{consumer.database}', 'CONNECT')")
            assert allowed == "f", (other, consumer.database)


# --- the credentials on the controller ------------------------------------------------


def test_passwords_are_generated_on_the_controller_mode_0600(
    credentials_dir: Path, consumers: dict[str, Consumer]
) -> None:
    assert stat.S_IMODE(credentials_dir.stat().st_mode) == 0o700
    for consumer in consumers.values():
        path = credentials_dir / consumer.user
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert re.fullmatch(r"[A-Za-z0-9]{32}", consumer.password)
    assert len({c.password for c in consumers.values()}) == len(consumers)


# --- over the network ----------------------------------------------------------------


def test_client_round_trips_data_with_the_generated_password(
    client: Host, consumers: dict[str, Consumer]
) -> None:
    for consumer in consumers.values():
        sql = (
            "CREATE TABLE IF NOT EXISTS roundtrip (id serial PRIMARY KEY, note text NOT NULL);"
            f"INSERT INTO roundtrip (note) VALUES ('hello {consumer.database}');"
            "SELECT note FROM roundtrip ORDER BY id DESC LIMIT 1;"
        )
        result = psql_tcp(client, consumer, sql)
        assert result.rc == 0, result.stderr
        assert result.stdout.splitlines()[-1] == f"hello {consumer.database}"


def test_connection_from_the_client_is_encrypted_with_scram(
    client: Host, consumers: dict[str, Consumer]
) -> None:
    consumer = consumers["determined"]
    result = psql_tcp(client, consumer, "SELECT current_user, inet_client_addr()")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == f"{consumer.user}|{address_of(client)}"


def test_host_outside_the_allowlist_is_refused_by_pg_hba(
    outsider: Host, consumers: dict[str, Consumer]
) -> None:
    result = psql_tcp(outsider, consumers["determined"], "SELECT 1")
    assert result.rc != 0
    assert PG_HBA_REFUSAL.format(address=address_of(outsider)) in result.stderr, result.stderr


def test_wrong_password_is_refused(client: Host, consumers: dict[str, Consumer]) -> None:
    consumer = consumers["determined"]
    result = psql_tcp(client, consumer.with_password("not-" + consumer.password), "SELECT 1")
    assert result.rc != 0
    assert f'password authentication failed for user "{consumer.user}"' in result.stderr, result.stderr


def test_owner_cannot_reach_another_consumers_database(
    client: Host, consumers: dict[str, Consumer]
) -> None:
    stranger = consumers["determined"].with_database(consumers["labelstudio"].database)
    result = psql_tcp(client, stranger, "SELECT 1")
    assert result.rc != 0
    assert PG_HBA_REFUSAL.format(address=address_of(client)) in result.stderr, result.stderr


def test_data_survives_a_restart(server: Host, client: Host, consumers: dict[str, Consumer]) -> None:
    consumer = consumers["gitlabhq_production"]
    marker = f"survives-restart-{uuid.uuid4().hex[:8]}"
    assert psql_tcp(client, consumer, f"INSERT INTO roundtrip (note) VALUES ('{marker}')").rc == 0
    started_before = psql_local(server, "SELECT pg_postmaster_start_time()")
    server.run_expect([0], "systemctl restart postgresql")
    wait_until_ready(server)
    assert psql_local(server, "SELECT pg_postmaster_start_time()") != started_before
    result = psql_tcp(client, consumer, f"SELECT count(*) FROM roundtrip WHERE note = '{marker}'")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "1"


# --- backups -------------------------------------------------------------------------


def test_backup_timer_is_enabled_and_scheduled(server: Host) -> None:
    timer = server.service(f"{BACKUP_UNIT}.timer")
    assert timer.is_enabled and timer.is_running
    schedule = server.check_output(f"systemctl show {BACKUP_UNIT}.timer -p TimersCalendar --value")
    assert "02:30:00" in schedule


@pytest.fixture(scope="module")
def backup_run(server: Host, client: Host, consumers: dict[str, Consumer]) -> dict[str, str]:
    """Plant an expired and a recent old dump, add a row, then run the backup service."""
    consumer = consumers["determined"]
    folder = f"{BACKUP_DIR}/{consumer.database}"
    planted = {
        "expired": f"{folder}/{consumer.database}-20000101T000000Z.dump",
        "recent": f"{folder}/{consumer.database}-20000102T000000Z.dump",
    }
    server.run_expect([0], "install -d -o postgres -g postgres -m 0700 %s", folder)
    server.run_expect([0], "runuser -u postgres -- touch -d '10 days ago' %s", planted["expired"])
    server.run_expect([0], "runuser -u postgres -- touch -d '1 day ago' %s", planted["recent"])
    marker = f"backed-up-{uuid.uuid4().hex[:8]}"
    assert psql_tcp(client, consumer, f"INSERT INTO roundtrip (note) VALUES ('{marker}')").rc == 0
    result = server.run(f"systemctl start {BACKUP_UNIT}.service")
    log = server.check_output(f"journalctl -u {BACKUP_UNIT}.service --no-pager -o cat")
    assert result.rc == 0, log
    newest = server.check_output("ls -1t %s/*.dump | head -n 1", folder)
    return {"dump": newest, "log": log, "marker": marker, **planted}


def test_backup_run_writes_a_dump_pg_restore_can_read(server: Host, backup_run: dict[str, str]) -> None:
    assert server.check_output(f"systemctl show {BACKUP_UNIT}.service -p Result --value") == "success"
    dump = server.file(backup_run["dump"])
    assert dump.user == "postgres" and dump.mode == 0o600
    listing = server.check_output("runuser -u postgres -- pg_restore --list %s", backup_run["dump"])
    assert re.search(r"TABLE DATA public roundtrip ", listing), listing


def test_backup_dumps_every_database_and_the_roles(server: Host, consumers: dict[str, Consumer]) -> None:
    for consumer in consumers.values():
        dumps = server.check_output("ls %s/%s", BACKUP_DIR, consumer.database)
        assert re.search(rf"{consumer.database}-\d{{8}}T\d{{6}}Z\.dump", dumps), consumer.database
    globals_sql = server.check_output(f"cat $(ls -1t {BACKUP_DIR}/globals/*.sql | head -n 1)")
    for consumer in consumers.values():
        assert f"CREATE ROLE {consumer.user};" in globals_sql
    assert "SCRAM-SHA-256$" in globals_sql


def test_backup_rotation_keeps_recent_days_only(server: Host, backup_run: dict[str, str]) -> None:
    assert not server.file(backup_run["expired"]).exists, backup_run["log"]
    assert server.file(backup_run["recent"]).exists
    assert f"removed {backup_run['expired']}" in backup_run["log"]


def test_documented_restore_brings_lost_data_back(
    server: Host, client: Host, consumers: dict[str, Consumer], backup_run: dict[str, str]
) -> None:
    consumer = consumers["determined"]
    marker = backup_run["marker"]
    assert psql_tcp(client, consumer, f"DELETE FROM roundtrip WHERE note = '{marker}'").rc == 0
    # README, "Restore": as postgres, replace the database with the dump.
    server.run_expect(
        [0],
        "runuser -u postgres -- pg_restore --clean --if-exists --create --exit-on-error -d postgres %s",
        backup_run["dump"],
    )
    result = psql_tcp(client, consumer, f"SELECT count(*) FROM roundtrip WHERE note = '{marker}'")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "1"
    others = [c.user for c in consumers.values() if c.user != consumer.user]
    for other in others:
        allowed = psql_local(server, f"SELECT has_database_privilege('{other}', '{consumer.database}', 'CONNECT')")
        assert allowed == "f", other
