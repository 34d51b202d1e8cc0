"""psql over TCP from a lab host, and as postgres over the server's local socket."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from testinfra.backend.base import CommandResult
from testinfra.host import Host

PSQL = "psql -X -v ON_ERROR_STOP=1 -At"


@dataclass(frozen=True)
class Consumer:
    """A consumer's database on the server, and how its owner logs in."""

    server: str
    database: str
    user: str
    password: str
    extensions: tuple[str, ...] = ()

    def conninfo(self) -> str:
        return f"host={self.server} port=5432 dbname={self.database} user={self.user} connect_timeout=5"

    def with_password(self, password: str) -> Consumer:
        return replace(self, password=password)

    def with_database(self, database: str) -> Consumer:
        return replace(self, database=database)


def psql_tcp(host: Host, consumer: Consumer, sql: str) -> CommandResult:
    """Run SQL from `host` over TCP as the consumer; the password goes in the environment."""
    return host.run(f"PGPASSWORD=%s {PSQL} %s -c %s", consumer.password, consumer.conninfo(), sql)


def psql_local(host: Host, sql: str, database: str = "postgres") -> str:
    """Run SQL on the server itself, as postgres over the local socket (peer)."""
    return host.check_output(f"runuser -u postgres -- {PSQL} -d %s -c %s", database, sql)


def wait_until_ready(host: Host, timeout: float = 30.0) -> None:
    """Wait until the server on `host` accepts connections again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.run("pg_isready -q -h /var/run/postgresql").rc == 0:
            return
        time.sleep(1)
    raise AssertionError("the server did not accept connections after its restart")
