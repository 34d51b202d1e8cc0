"""The second server, on a network with no route out, installed from the bundle."""

from __future__ import annotations

from testinfra.host import Host

from pg import psql_local

MAJOR = "15"
BUNDLE_REPO = "/var/lib/mlstack/apt/debian-bookworm"


def test_offline_server_has_no_route_out(offline: Host) -> None:
    assert offline.run("curl -sS --max-time 5 -o /dev/null http://deb.debian.org/debian/").rc != 0


def test_packages_came_from_the_bundle_repository(offline: Host) -> None:
    source = offline.file("/etc/apt/sources.list.d/mlstack-offline.sources").content_string
    assert f"URIs: file:{BUNDLE_REPO}" in source
    # Verified against the inventory's key (prepare.yml signed the repository), never trusted.
    assert "Signed-By: /etc/apt/keyrings/mlstack-bundle.asc" in source
    assert "Trusted" not in source
    assert offline.file("/etc/apt/keyrings/mlstack-bundle.asc").content_string.startswith(
        "-----BEGIN PGP PUBLIC KEY BLOCK-----")
    lists = offline.check_output("ls /var/lib/apt/lists")
    assert BUNDLE_REPO.replace("/", "_") + "_._InRelease" in lists
    policy = offline.check_output(f"apt-cache policy postgresql-{MAJOR}")
    installed = policy.split("Installed: ")[1].split()[0]
    table = policy.split("Version table:")[1]
    assert f"*** {installed} " in table
    assert f"file:{BUNDLE_REPO} ./ Packages" in table.split("***")[1]


def test_offline_server_runs_the_same_configuration(offline: Host) -> None:
    assert offline.service(f"postgresql@{MAJOR}-main").is_running
    assert psql_local(offline, "SHOW password_encryption") == "scram-sha-256"
    databases = set(psql_local(offline, "SELECT datname FROM pg_database").split())
    assert {"determined", "gitlabhq_production", "labelstudio"} <= databases
    assert offline.service("mlstack-postgres-backup.timer").is_enabled
