#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_consumers
short_description: Keep the login roles, databases, PUBLIC privileges and extensions of a server's consumers in one run
version_added: 0.1.0
description:
  - For each consumer of O(consumers) (a database and the role that owns it), makes sure that
    the owner role exists with the attributes C(LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION)
    and its password stored as a SCRAM-SHA-256 verifier; that the database exists with that owner,
    created with the encoding asked for from C(template0); that C(PUBLIC) holds neither C(CONNECT)
    nor C(TEMPORARY) on it (PostgreSQL grants both to C(PUBLIC) on every new database); and that
    the extensions listed exist in it.
  - Does in one module run what M(community.postgresql.postgresql_user), M(community.postgresql.postgresql_db),
    M(community.postgresql.postgresql_privs) and M(community.postgresql.postgresql_ext) do in one run
    per role, database or extension; with the same semantics. Nothing is ever dropped, revoked from a
    role other than C(PUBLIC), or renamed.
  - A password is kept when it verifies against the stored SCRAM-SHA-256 verifier (the verifier's
    salt and iteration count, both of StoredKey and ServerKey, the password normalized with SASLprep
    as PostgreSQL does); a password stored as MD5, in another form, or none, counts as different and
    is replaced. An equal password is never written again.
  - A new or changed password is sent to the server as a SCRAM-SHA-256 verifier computed here (a
    random 16-byte salt, the server's C(scram_iterations), 4096 before PostgreSQL 16), the way
    C(psql)'s C(\password) does; the password itself never reaches the server, its logs or
    C(pg_stat_activity). The session also sets C(password_encryption) to C(scram-sha-256).
  - An existing database with another encoding fails the run (PostgreSQL cannot change the encoding
    of a database; M(community.postgresql.postgresql_db) fails the same way). Its owner is changed
    with C(ALTER DATABASE ... OWNER TO) when it differs.
  - Connects as O(login_user) over the server's local socket (peer authentication, so run the task
    with C(become_user) the server's OS user), to O(login_db) for the roles and databases and to
    each consumer's database that lists extensions. Runs on the server's host and needs psycopg2
    there (Debian and Ubuntu's C(python3-psycopg2)).
author:
  - mlstack.platform developers (@mlstack)
requirements:
  - psycopg2 (python3-psycopg2) on the host
options:
  consumers:
    description:
      - The consumers' databases. Several databases may share an owner; they must then give the
        same password (else the run fails naming the owner).
      - Names of databases, owners and extensions are at most 63 bytes (PostgreSQL would cut longer
        ones), database names unique, and no owner may be O(login_user).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The database.
        type: str
        required: true
      owner:
        description: The login role that owns the database; the database's name when not given.
        type: str
      encoding:
        description:
          - The database's encoding, any name PostgreSQL accepts (C(UTF8), C(UTF-8), C(LATIN1) ...).
            A new database is created from C(template0) so any encoding can be chosen.
        type: str
        default: UTF8
      extensions:
        description: Extensions to create in the database (each with its default version, in the default schema).
        type: list
        elements: str
        default: []
      password:
        description:
          - The owner's password. Never logged, returned or shown in a diff.
        type: str
        required: true
  login_unix_socket:
    description: The directory of the server's local socket.
    type: path
    default: /var/run/postgresql
  login_port:
    description: The server's port (part of the socket's file name).
    type: int
    default: 5432
  login_db:
    description: The database to connect to for the roles and databases.
    type: str
    default: postgres
  login_user:
    description: The superuser to connect as (peer authentication over the socket).
    type: str
    default: postgres
attributes:
  check_mode:
    support: full
    description:
      - Reports exactly what would change and changes nothing. Existing databases are inspected
        (owner, encoding, PUBLIC privileges, extensions); for a database that does not exist yet,
        revoking from PUBLIC and creating its extensions count as to be done.
  diff_mode:
    support: full
    description:
      - One entry per role or database that changes, its state before and after; a password shows only
        as the kind of verifier stored (C(SCRAM-SHA-256), C(md5), C(none)) and whether it changes.
  idempotent:
    support: full
    description: A second run with the same consumers and passwords changes nothing and reports C(changed=false).
notes:
  - Checking a password costs one PBKDF2 of the stored iteration count per owner (a few milliseconds at 4096).
  - Statements run in autocommit (C(CREATE DATABASE) cannot run in a transaction); a failure leaves what was
    done before it, and the next run completes the rest.
seealso:
  - module: community.postgresql.postgresql_user
  - module: community.postgresql.postgresql_db
  - module: community.postgresql.postgresql_privs
  - module: community.postgresql.postgresql_ext
  - name: SCRAM-SHA-256 in PostgreSQL (the stored verifier, pg_authid)
    description: The format C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>).
    link: https://www.postgresql.org/docs/current/catalog-pg-authid.html
"""

EXAMPLES = r"""
- name: Create the consumers' login roles, databases and extensions
  mlstack.platform.postgres_consumers:
    login_unix_socket: /var/run/postgresql
    login_port: 5432
    consumers:
      - name: gitlabhq_production
        owner: gitlab
        extensions: [pg_trgm, btree_gist]
        password: "{{ gitlab_db_password }}"
      - name: labelstudio
        extensions: [citext]
        password: "{{ labelstudio_db_password }}"
  become: true
  become_user: postgres
  no_log: true
"""

RETURN = r"""
changes:
  description:
    - What changed (check mode, what would change), one line each, naming roles, databases and
      extensions; never a password or a verifier.
  returned: always
  type: list
  elements: str
  sample:
    - role labelstudio created
    - "database labelstudio: created (owner labelstudio, encoding UTF8)"
    - "database labelstudio: revoked CONNECT, TEMPORARY from PUBLIC"
    - "database labelstudio: extension citext created"
    - "role gitlab: password changed"
    - "database gitlabhq_production: owner postgres -> gitlab"
roles:
  description: The owner roles of O(consumers), in order.
  returned: always
  type: list
  elements: str
  sample: [gitlab, labelstudio]
databases:
  description: The databases of O(consumers), in order.
  returned: always
  type: list
  elements: str
  sample: [gitlabhq_production, labelstudio]
"""

import base64
import hashlib
import hmac
import os
import stringprep
import traceback
import typing as t
import unicodedata

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import psycopg2
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

ARGUMENT_SPEC = dict(
    consumers=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        owner=dict(type="str"),
        encoding=dict(type="str", default="UTF8"),
        extensions=dict(type="list", elements="str", default=[]),
        password=dict(type="str", required=True, no_log=True),
    )),
    login_unix_socket=dict(type="path", default="/var/run/postgresql"),
    login_port=dict(type="int", default=5432),
    login_db=dict(type="str", default="postgres"),
    login_user=dict(type="str", default="postgres"),
)

# The attributes every consumer's role has: (pg_authid column, value, keyword).
ROLE_ATTRIBUTES = (
    ("rolcanlogin", True, "LOGIN"),
    ("rolsuper", False, "SUPERUSER"),
    ("rolcreatedb", False, "CREATEDB"),
    ("rolcreaterole", False, "CREATEROLE"),
    ("rolreplication", False, "REPLICATION"),
)
ROLE_FLAGS = " ".join(keyword if value else "NO" + keyword for _column, value, keyword in ROLE_ATTRIBUTES)
# What PostgreSQL grants PUBLIC on a new database that a consumer's database must not keep.
PUBLIC_PRIVILEGES = ("CONNECT", "TEMPORARY")
# PostgreSQL's NAMEDATALEN - 1: a longer identifier is silently cut.
MAX_NAME_BYTES = 63
SCRAM_PREFIX = "SCRAM-SHA-256$"
SCRAM_SALT_BYTES = 16
SCRAM_DEFAULT_ITERATIONS = 4096


class ConsumersError(Exception):
    """A failure to report as the module's one-line message."""


# --- SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL stores it ---------------------------

def _bidi_fails(text: str) -> bool:
    """RFC 3454 section 6: a string with a right-to-left character must hold no left-to-right
    one, and begin and end with a right-to-left one."""
    if not any(stringprep.in_table_d1(ch) for ch in text):
        return False
    if any(stringprep.in_table_d2(ch) for ch in text):
        return True
    return not (stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1]))


_PROHIBITED = (
    stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22, stringprep.in_table_c3,
    stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7,
    stringprep.in_table_c8, stringprep.in_table_c9, stringprep.in_table_a1,
)


def saslprep(password: str) -> bytes:
    """The bytes PostgreSQL (pg_saslprep, used by the server and by libpq) hashes for a
    password: a pure ASCII password as it is; otherwise SASLprep (RFC 4013: non-ASCII spaces
    to spaces, the characters mapped to nothing removed, NFKC) when the result is valid
    (nothing prohibited or unassigned, bidi rules kept, not empty); else the password as it
    is, as PostgreSQL falls back to."""
    raw = password.encode("utf-8")
    if all(ord(ch) < 0x80 for ch in password):
        return raw
    mapped = "".join(" " if stringprep.in_table_c12(ch) else ch
                     for ch in password if not stringprep.in_table_b1(ch))
    normalized = unicodedata.normalize("NFKC", mapped)
    if not normalized or any(test(ch) for ch in normalized for test in _PROHIBITED) or _bidi_fails(normalized):
        return raw
    return normalized.encode("utf-8")


def scram_keys(password: str, salt: bytes, iterations: int) -> t.Tuple[bytes, bytes]:
    """(StoredKey, ServerKey) of ``password`` for this salt and iteration count."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_DEFAULT_ITERATIONS) -> str:
    """The verifier PostgreSQL stores in pg_authid.rolpassword for ``password``."""
    stored_key, server_key = scram_keys(password, salt, iterations)
    return "%s%d:%s$%s:%s" % (SCRAM_PREFIX, iterations, _b64(salt), _b64(stored_key), _b64(server_key))


def parse_verifier(stored: t.Optional[str]) -> t.Optional[t.Tuple[int, bytes, bytes, bytes]]:
    """(iterations, salt, StoredKey, ServerKey) of a SCRAM-SHA-256 verifier, else None."""
    if not stored or not stored.startswith(SCRAM_PREFIX):
        return None
    try:
        params, keys = stored[len(SCRAM_PREFIX):].split("$")
        iterations_text, salt_text = params.split(":")
        stored_text, server_text = keys.split(":")
        iterations = int(iterations_text)
        salt = base64.b64decode(salt_text, validate=True)
        stored_key = base64.b64decode(stored_text, validate=True)
        server_key = base64.b64decode(server_text, validate=True)
    except ValueError:  # binascii.Error is a ValueError
        return None
    if iterations < 1 or not salt or len(stored_key) != 32 or len(server_key) != 32:
        return None
    return iterations, salt, stored_key, server_key


def scram_matches(password: str, stored: t.Optional[str]) -> bool:
    """Whether ``password`` verifies against the stored ``rolpassword``: only a SCRAM-SHA-256
    verifier can; MD5, plain text and none never do (they are replaced)."""
    parsed = parse_verifier(stored)
    if parsed is None:
        return False
    iterations, salt, stored_key, server_key = parsed
    mine_stored, mine_server = scram_keys(password, salt, iterations)
    return hmac.compare_digest(mine_stored, stored_key) and hmac.compare_digest(mine_server, server_key)


def password_kind(stored: t.Optional[str]) -> str:
    """What a stored rolpassword is, for diffs: SCRAM-SHA-256, md5, none or other."""
    if stored is None:
        return "none"
    if parse_verifier(stored) is not None:
        return "SCRAM-SHA-256"
    if stored.startswith("md5") and len(stored) == 35:
        return "md5"
    return "other"


# --- Inputs ----------------------------------------------------------------------------------

class Consumer(t.NamedTuple):
    name: str
    owner: str
    encoding: str
    extensions: t.Tuple[str, ...]


def _check_name(value: str, what: str) -> None:
    if not value:
        raise ConsumersError("%s is empty" % what)
    if "\x00" in value:
        raise ConsumersError("%s holds a NUL character" % what)
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise ConsumersError("%s is longer than %d bytes (PostgreSQL would cut it)" % (what, MAX_NAME_BYTES))


def validate(consumers: t.Sequence[t.Mapping[str, t.Any]], login_user: str
             ) -> t.Tuple[t.List[Consumer], t.Dict[str, str]]:
    """The consumers with their defaults, and {owner: password}. Errors name the consumer or
    the owner, never a password."""
    result: t.List[Consumer] = []
    passwords: t.Dict[str, str] = {}
    seen: t.Set[str] = set()
    for index, entry in enumerate(consumers):
        name = entry.get("name") or ""
        where = "consumers[%d] (%s)" % (index, name) if name else "consumers[%d]" % index
        _check_name(name, where + ".name")
        if name in seen:
            raise ConsumersError("%s: database %s is listed twice" % (where, name))
        seen.add(name)
        owner = entry.get("owner") or name
        _check_name(owner, where + ".owner")
        if owner == login_user:
            raise ConsumersError("%s: the owner may not be %s, the superuser this module connects as" % (where, owner))
        encoding = entry.get("encoding") or "UTF8"
        if "\x00" in encoding:
            raise ConsumersError("%s.encoding holds a NUL character" % where)
        extensions: t.List[str] = []
        for position, ext in enumerate(entry.get("extensions") or []):
            _check_name(ext, "%s.extensions[%d]" % (where, position))
            if ext not in extensions:
                extensions.append(ext)
        password = entry.get("password")
        if not password:
            raise ConsumersError("%s: the password of owner %s is empty" % (where, owner))
        if "\x00" in password:
            raise ConsumersError("%s: the password of owner %s holds a NUL character" % (where, owner))
        if owner in passwords and passwords[owner] != password:
            raise ConsumersError("owner %s is given different passwords by its databases (%s among them)" % (owner, name))
        passwords[owner] = password
        result.append(Consumer(name, owner, encoding, tuple(extensions)))
    return result, passwords


# --- Catalog state and the plan ------------------------------------------------------------------

class RoleState(t.NamedTuple):
    """A pg_authid row: the attributes by column name, and rolpassword."""
    attributes: t.Mapping[str, bool]
    password: t.Optional[str]


class DatabaseState(t.NamedTuple):
    """A pg_database row as the plan needs it; ``extensions`` None when not inspected."""
    owner: str
    encoding: str
    public_privileges: t.FrozenSet[str]
    extensions: t.Optional[t.FrozenSet[str]]


class Catalog(t.NamedTuple):
    roles: t.Mapping[str, RoleState]
    databases: t.Mapping[str, DatabaseState]
    # The encodings asked for, each as the server names it ('' when it knows no such encoding).
    encodings: t.Mapping[str, str]
    # The wanted extensions the server has (pg_available_extensions).
    available_extensions: t.FrozenSet[str]


class Action(t.NamedTuple):
    """One statement to run. ``kind``: create_role, alter_role, create_database, set_owner,
    revoke_public, create_extension; ``database`` the database to run it in (None: login_db)."""
    kind: str
    target: str
    database: t.Optional[str]
    detail: t.Tuple[str, ...]
    messages: t.Tuple[str, ...]


class Plan(t.NamedTuple):
    actions: t.List[Action]
    diff: t.List[t.Dict[str, t.Any]]


def _role_text(attributes: t.Mapping[str, bool]) -> str:
    return " ".join(keyword if attributes.get(column) else "NO" + keyword for column, _value, keyword in ROLE_ATTRIBUTES)


def plan(consumers: t.Sequence[Consumer], passwords: t.Mapping[str, str], catalog: Catalog) -> Plan:
    """The statements that bring the server from ``catalog`` to what ``consumers`` ask for:
    roles first, then databases, PUBLIC's privileges, extensions. Raises ConsumersError for
    what cannot be done (another encoding, an extension the server does not have)."""
    role_actions: t.List[Action] = []
    db_actions: t.List[Action] = []
    revoke_actions: t.List[Action] = []
    ext_actions: t.List[Action] = []
    diff: t.List[t.Dict[str, t.Any]] = []

    for owner in dict.fromkeys(c.owner for c in consumers):
        current = catalog.roles.get(owner)
        after = {"attributes": ROLE_FLAGS, "password": "SCRAM-SHA-256"}
        if current is None:
            role_actions.append(Action("create_role", owner, None, (), ("role %s created" % owner,)))
            diff.append(dict(before_header="role %s" % owner, after_header="role %s" % owner,
                             before={}, after=dict(after, password="SCRAM-SHA-256 (new)")))
            continue
        wrong = [keyword if value else "NO" + keyword
                 for column, value, keyword in ROLE_ATTRIBUTES if bool(current.attributes.get(column)) != value]
        password_changes = not scram_matches(passwords[owner], current.password)
        detail = (("attributes",) if wrong else ()) + (("password",) if password_changes else ())
        if not detail:
            continue
        messages = []
        if wrong:
            messages.append("role %s: %s -> %s" % (owner, _role_text(current.attributes), ROLE_FLAGS))
        if password_changes:
            messages.append("role %s: password changed" % owner)
        role_actions.append(Action("alter_role", owner, None, detail, tuple(messages)))
        diff.append(dict(before_header="role %s" % owner, after_header="role %s" % owner,
                         before={"attributes": _role_text(current.attributes), "password": password_kind(current.password)},
                         after=dict(after, password="SCRAM-SHA-256 (changed)" if password_changes else password_kind(current.password))))

    for consumer in consumers:
        name = consumer.name
        where = "database %s" % name
        encoding = catalog.encodings.get(consumer.encoding, "")
        if not encoding:
            raise ConsumersError("%s: PostgreSQL knows no encoding %s" % (where, consumer.encoding))
        current = catalog.databases.get(name)
        wanted_after = {"owner": consumer.owner, "encoding": encoding, "PUBLIC": "",
                        "extensions": sorted(consumer.extensions)}
        if current is None:
            db_actions.append(Action("create_database", name, None, (consumer.owner, encoding),
                                     ("%s: created (owner %s, encoding %s)" % (where, consumer.owner, encoding),)))
            revoke_actions.append(Action("revoke_public", name, None, PUBLIC_PRIVILEGES,
                                         ("%s: revoked %s from PUBLIC" % (where, ", ".join(PUBLIC_PRIVILEGES)),)))
            missing = list(consumer.extensions)
            before: t.Dict[str, t.Any] = {}
        else:
            if current.encoding != encoding:
                raise ConsumersError("%s exists with encoding %s, not %s; PostgreSQL cannot change a database's encoding"
                                     % (where, current.encoding, encoding))
            if current.owner != consumer.owner:
                db_actions.append(Action("set_owner", name, None, (consumer.owner,),
                                         ("%s: owner %s -> %s" % (where, current.owner, consumer.owner),)))
            held = tuple(p for p in PUBLIC_PRIVILEGES if p in current.public_privileges)
            if held:
                revoke_actions.append(Action("revoke_public", name, None, held,
                                             ("%s: revoked %s from PUBLIC" % (where, ", ".join(held)),)))
            if consumer.extensions and current.extensions is None:
                raise ConsumersError("%s: its extensions were not read" % where)
            missing = [ext for ext in consumer.extensions if ext not in (current.extensions or ())]
            before = {"owner": current.owner, "encoding": current.encoding,
                      "PUBLIC": ", ".join(held),
                      "extensions": sorted(e for e in consumer.extensions if e not in missing)}
        for ext in missing:
            if ext not in catalog.available_extensions:
                raise ConsumersError("%s: extension %s is not available on the server (pg_available_extensions)" % (where, ext))
            ext_actions.append(Action("create_extension", ext, name, (), ("%s: extension %s created" % (where, ext),)))
        if before != wanted_after:
            diff.append(dict(before_header=where, after_header=where, before=before, after=wanted_after))

    return Plan(role_actions + db_actions + revoke_actions + ext_actions, diff)


# --- SQL ------------------------------------------------------------------------------------------

def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    if "\x00" in name:
        raise ConsumersError("identifier %r holds a NUL character" % name)
    return '"%s"' % name.replace('"', '""')


def statement(action: Action, passwords: t.Mapping[str, str], iterations: int
              ) -> t.Tuple[str, t.Tuple[t.Any, ...]]:
    """The SQL of ``action`` and its parameters. A password goes as a parameter, as the
    SCRAM-SHA-256 verifier computed here with a new random salt."""
    if action.kind in ("create_role", "alter_role"):
        with_password = action.kind == "create_role" or "password" in action.detail
        verb = "CREATE" if action.kind == "create_role" else "ALTER"
        sql = "%s ROLE %s WITH %s" % (verb, ident(action.target), ROLE_FLAGS)
        if not with_password:
            return sql, ()
        verifier = scram_verifier(passwords[action.target], os.urandom(SCRAM_SALT_BYTES), iterations)
        return sql + " PASSWORD %s", (verifier,)
    if action.kind == "create_database":
        owner, encoding = action.detail
        return ("CREATE DATABASE %s OWNER %s ENCODING %%s TEMPLATE template0" % (ident(action.target), ident(owner)),
                (encoding,))
    if action.kind == "set_owner":
        return "ALTER DATABASE %s OWNER TO %s" % (ident(action.target), ident(action.detail[0])), ()
    if action.kind == "revoke_public":
        return "REVOKE %s ON DATABASE %s FROM PUBLIC" % (", ".join(action.detail), ident(action.target)), ()
    if action.kind == "create_extension":
        return "CREATE EXTENSION %s" % ident(action.target), ()
    raise ConsumersError("unknown action %s" % action.kind)


_ROLES_QUERY = ("SELECT rolname, %s, rolpassword FROM pg_catalog.pg_authid WHERE rolname::text = ANY(%%s::text[])"
                % ", ".join(column for column, _value, _keyword in ROLE_ATTRIBUTES))
_DATABASES_QUERY = (
    "SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_encoding_to_char(d.encoding), "
    "pg_catalog.has_database_privilege('public', d.oid, 'CONNECT'), "
    "pg_catalog.has_database_privilege('public', d.oid, 'TEMPORARY') "
    "FROM pg_catalog.pg_database d WHERE d.datname::text = ANY(%s::text[])")
_ENCODINGS_QUERY = ("SELECT e, pg_catalog.pg_encoding_to_char(pg_catalog.pg_char_to_encoding(e)) "
                    "FROM unnest(%s::text[]) AS e")
_AVAILABLE_QUERY = "SELECT name FROM pg_catalog.pg_available_extensions WHERE name::text = ANY(%s::text[])"
_EXTENSIONS_QUERY = "SELECT extname FROM pg_catalog.pg_extension"
# scram_iterations exists from PostgreSQL 16; current_setting(..., true) is NULL before.
_ITERATIONS_QUERY = "SELECT current_setting('scram_iterations', true)"


def _first_line(exc: Exception) -> str:
    text = str(getattr(getattr(exc, "diag", None), "message_primary", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Server:
    """Connections to the server over its local socket, one per database, in autocommit."""

    def __init__(self, params: t.Mapping[str, t.Any]) -> None:
        self.params = params
        self.connections: t.Dict[str, t.Any] = {}

    def cursor(self, database: t.Optional[str] = None) -> t.Any:
        database = database or self.params["login_db"]
        if database not in self.connections:
            try:
                connection = psycopg2.connect(
                    host=self.params["login_unix_socket"], port=self.params["login_port"],
                    dbname=database, user=self.params["login_user"], connect_timeout=10,
                    application_name="mlstack.platform.postgres_consumers")
            except psycopg2.Error as exc:
                raise ConsumersError("cannot connect to database %s as %s over %s (port %d): %s"
                                     % (database, self.params["login_user"], self.params["login_unix_socket"],
                                        self.params["login_port"], _first_line(exc)))
            connection.autocommit = True
            self.connections[database] = connection
            if database == self.params["login_db"]:
                with connection.cursor() as cur:
                    cur.execute("SET password_encryption = 'scram-sha-256'")
        return self.connections[database].cursor()

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def read_catalog(server: Server, consumers: t.Sequence[Consumer]) -> Catalog:
    owners = list(dict.fromkeys(c.owner for c in consumers))
    names = [c.name for c in consumers]
    wanted_extensions = sorted({ext for c in consumers for ext in c.extensions})
    with server.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")
        row = cur.fetchone()
        if not row or not row[0]:
            raise ConsumersError("%s is not a superuser: reading pg_authid needs one" % server.params["login_user"])
        cur.execute(_ROLES_QUERY, (owners,))
        roles = {row[0]: RoleState({column: bool(value) for (column, _v, _k), value in zip(ROLE_ATTRIBUTES, row[1:-1])},
                                   row[-1].decode("ascii") if isinstance(row[-1], bytes) else row[-1])
                 for row in cur.fetchall()}
        cur.execute(_DATABASES_QUERY, (names,))
        rows = cur.fetchall()
        cur.execute(_ENCODINGS_QUERY, (sorted({c.encoding for c in consumers}),))
        encodings = dict(cur.fetchall())
        cur.execute(_AVAILABLE_QUERY, (wanted_extensions,))
        available = frozenset(row[0] for row in cur.fetchall())
    databases = {}
    for name, owner, encoding, connect, temporary in rows:
        held = frozenset(p for p, has in zip(PUBLIC_PRIVILEGES, (connect, temporary)) if has)
        databases[name] = DatabaseState(owner, encoding, held, None)
    for consumer in consumers:
        if consumer.name in databases and consumer.extensions:
            with server.cursor(consumer.name) as cur:
                cur.execute(_EXTENSIONS_QUERY)
                installed = frozenset(row[0] for row in cur.fetchall())
            databases[consumer.name] = databases[consumer.name]._replace(extensions=installed)
    return Catalog(roles, databases, encodings, available)


def scram_iterations(server: Server) -> int:
    with server.cursor() as cur:
        cur.execute(_ITERATIONS_QUERY)
        value = cur.fetchone()[0]
    try:
        return int(value) if value else SCRAM_DEFAULT_ITERATIONS
    except ValueError:
        return SCRAM_DEFAULT_ITERATIONS


def apply(server: Server, actions: t.Sequence[Action], passwords: t.Mapping[str, str]) -> t.List[Action]:
    """Run ``actions`` in order; return those that changed something. In a database created
    here the extensions its template gave it (plpgsql) are found present and skipped."""
    done: t.List[Action] = []
    if not actions:
        return done
    iterations = scram_iterations(server)
    created = {a.target for a in actions if a.kind == "create_database"}
    present: t.Dict[str, t.FrozenSet[str]] = {}
    for action in actions:
        if action.kind == "create_extension" and action.database in created:
            if action.database not in present:
                with server.cursor(action.database) as cur:
                    cur.execute(_EXTENSIONS_QUERY)
                    present[action.database] = frozenset(row[0] for row in cur.fetchall())
            if action.target in present[action.database]:
                continue
        sql, args = statement(action, passwords, iterations)
        try:
            with server.cursor(action.database) as cur:
                cur.execute(sql, args)
        except psycopg2.Error as exc:
            raise ConsumersError("failed to do \"%s\": %s" % ("; ".join(action.messages), _first_line(exc)))
        done.append(action)
    return done


def run(module: AnsibleModule) -> t.Dict[str, t.Any]:
    consumers, passwords = validate(module.params["consumers"], module.params["login_user"])
    result: t.Dict[str, t.Any] = dict(changed=False, changes=[],
                                      roles=list(dict.fromkeys(c.owner for c in consumers)),
                                      databases=[c.name for c in consumers])
    if not consumers:
        return result
    server = Server(module.params)
    try:
        wanted = plan(consumers, passwords, read_catalog(server, consumers))
        done = wanted.actions if module.check_mode else apply(server, wanted.actions, passwords)
    finally:
        server.close()
    result["changed"] = bool(done)
    result["changes"] = [message for action in done for message in action.messages]
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = wanted.diff
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2 (python3-psycopg2)"), exception=PSYCOPG2_IMPORT_ERROR)
    try:
        result = run(module)
    except ConsumersError as exc:
        module.fail_json(msg="postgres_consumers: %s" % exc)
    except psycopg2.Error as exc:
        module.fail_json(msg="postgres_consumers: reading the server's catalog failed: %s" % _first_line(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
