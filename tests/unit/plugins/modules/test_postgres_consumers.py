# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""postgres_consumers without a server: SCRAM-SHA-256 against RFC 7677's test vector and
against verifiers PostgreSQL 15 itself stored, SASLprep as PostgreSQL applies it, input
validation, the plan from catalog rows to statements, the statements' SQL, and whole module
runs over a fake psycopg2 connection that answers the catalog queries from fake rows (check
mode runs no statement that writes; no password in the output or in any SQL).

Molecule's postgres scenario runs the module against a real PostgreSQL 15."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import typing as t

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.modules import postgres_consumers as pc

# Verifiers PostgreSQL 15.18 stored (pg_authid.rolpassword) for
# SET password_encryption = 'scram-sha-256'; CREATE ROLE r PASSWORD '<password>'.
PG15_VERIFIERS = {
    "correct horse battery staple":
        "SCRAM-SHA-256$4096:1g0cWCv/f6kE6BSdxbRLpw==$xPakxL5rwxgftSPeCoop/BAcYYfL10NBl+t5VBmylto="
        ":G13pTKbJ4EpJJ8Oi6dCI1RyLGcpjhGD/Jp4E7YMl3Ao=",
    # Non-ASCII: the server hashed its SASLprep form "IX-päss" (U+2168 ROMAN NUMERAL NINE -> "IX").
    "\u2168-p\u00e4ss":
        "SCRAM-SHA-256$4096:F2muVSHjOdpeGxYXgxMnDw==$pW6ARqHmExV53LgsAfcWqB+bxxw/2qIcTJoAfdgfIgk="
        ":KxJDvxICgWfc3quN6Ot+TtOy0EWR4x566vcLJE3r6SA=",
}
# The same server with password_encryption = 'md5' for role h6ref3, password "pencil".
PG15_MD5 = "md561ca1a68a9210c659b144e3391291ba5"

OK_ATTRS = {"rolcanlogin": True, "rolsuper": False, "rolcreatedb": False, "rolcreaterole": False,
            "rolreplication": False}
SECRET_GITLAB = "gitlab-Secret-2f9c"
SECRET_LS = "labelstudio-Secret-77a1"


# --- SCRAM ---------------------------------------------------------------------------------------

def test_keys_reproduce_rfc_7677_client_proof_and_server_signature():
    # RFC 7677 section 3: user "user", password "pencil".
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    stored_key, server_key = pc.scram_keys("pencil", salt, 4096)
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = ("n=user,r=rOprNGfwEbeRWgbNEkqO,r=%s,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=%s"
                    % (nonce, nonce)).encode()
    server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    assert base64.b64encode(server_signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    # ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage), and StoredKey = H(ClientKey).
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
    assert hashlib.sha256(client_key).digest() == stored_key


@pytest.mark.parametrize("password", sorted(PG15_VERIFIERS))
def test_verifiers_postgresql_stored_verify_and_others_do_not(password):
    stored = PG15_VERIFIERS[password]
    assert pc.scram_matches(password, stored)
    assert not pc.scram_matches(password + "x", stored)
    assert not pc.scram_matches(password.upper(), stored)
    assert pc.password_kind(stored) == "SCRAM-SHA-256"


def test_the_saslprep_form_of_a_password_verifies_as_the_password_does():
    stored = PG15_VERIFIERS["\u2168-p\u00e4ss"]
    assert pc.scram_matches("IX-p\u00e4ss", stored)
    # NFKC composes a + combining diaeresis into the same bytes.
    assert pc.scram_matches("\u2168-pa\u0308ss", stored)
    assert not pc.scram_matches("IX-pass", stored)


def test_a_verifier_made_here_has_postgresqls_format_and_verifies():
    salt = bytes(range(16))
    verifier = pc.scram_verifier("pencil", salt, 4096)
    iterations, got_salt, stored_key, server_key = pc.parse_verifier(verifier)
    assert (iterations, got_salt) == (4096, salt)
    assert (stored_key, server_key) == pc.scram_keys("pencil", salt, 4096)
    assert verifier.startswith("SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$")
    assert pc.scram_matches("pencil", verifier)
    assert not pc.scram_matches("pencil ", verifier)
    # Another iteration count is read from the verifier.
    assert pc.scram_matches("pencil", pc.scram_verifier("pencil", salt, 10000))


def test_only_the_server_key_matching_is_not_enough():
    salt = bytes(16)
    verifier = pc.scram_verifier("pencil", salt)
    head, keys = verifier.rsplit("$", 1)
    _stored, server = keys.split(":")
    forged = "%s$%s:%s" % (head, base64.b64encode(bytes(32)).decode(), server)
    assert not pc.scram_matches("pencil", forged)


@pytest.mark.parametrize("stored", [
    None, "", PG15_MD5, "pencil", "SCRAM-SHA-256$", "SCRAM-SHA-256$4096:c2FsdA==$bad",
    "SCRAM-SHA-256$0:c2FsdA==$" + "A" * 44 + ":" + "A" * 44,
    "SCRAM-SHA-256$4096:c2FsdA==$" + "QUFB:QUFB",  # keys of 3 bytes
    "SCRAM-SHA-256$x:c2FsdA==$" + "A" * 43 + "=:" + "A" * 43 + "=",
])
def test_stored_passwords_that_are_not_scram_never_match(stored):
    assert pc.parse_verifier(stored) is None
    assert not pc.scram_matches("pencil", stored)


def test_password_kinds_for_diffs():
    assert pc.password_kind(None) == "none"
    assert pc.password_kind(PG15_MD5) == "md5"
    assert pc.password_kind("plain") == "other"


@pytest.mark.parametrize(("password", "hashed"), [
    # RFC 4013 section 3's examples that succeed.
    ("I\u00adX", b"IX"), ("user", b"user"), ("USER", b"USER"), ("\u00aa", b"a"), ("\u2168", b"IX"),
    # Non-ASCII space to space.
    ("a\u00a0b", b"a b"),
    # Prohibited (U+0007 in a non-ASCII string) or failing the bidi rule: the password as it is.
    ("\u00e9\u0007", "\u00e9\u0007".encode()), ("\u0627\u0031", "\u0627\u0031".encode()),
    # PostgreSQL hashes a pure ASCII password as it is, control characters included.
    ("\u0007", b"\x07"),
    # Only characters mapped to nothing: empty after mapping, so the password as it is.
    ("\u00ad", "\u00ad".encode()),
])
def test_saslprep_as_postgresql_applies_it(password, hashed):
    assert pc.saslprep(password) == hashed


# --- Inputs --------------------------------------------------------------------------------------

def entries(**extra: t.Any) -> t.List[t.Dict[str, t.Any]]:
    base = [
        {"name": "gitlabhq_production", "owner": "gitlab", "encoding": "UTF8",
         "extensions": ["pg_trgm", "btree_gist", "pg_trgm"], "password": SECRET_GITLAB},
        {"name": "labelstudio", "owner": None, "encoding": None, "extensions": None, "password": SECRET_LS},
    ]
    base[0].update(extra)
    return base


def test_validate_fills_defaults_and_keeps_one_password_per_owner():
    consumers, passwords = pc.validate(entries(), "postgres")
    assert consumers == [
        pc.Consumer("gitlabhq_production", "gitlab", "UTF8", ("pg_trgm", "btree_gist")),
        pc.Consumer("labelstudio", "labelstudio", "UTF8", ()),
    ]
    assert passwords == {"gitlab": SECRET_GITLAB, "labelstudio": SECRET_LS}


def test_an_owner_with_two_passwords_fails_naming_the_owner_not_a_password():
    given = entries() + [{"name": "gitlab_ci", "owner": "gitlab", "password": "another-one"}]
    with pytest.raises(pc.ConsumersError) as error:
        pc.validate(given, "postgres")
    assert "owner gitlab" in str(error.value)
    assert "another-one" not in str(error.value) and SECRET_GITLAB not in str(error.value)
    # The same password twice is fine.
    same = entries() + [{"name": "gitlab_ci", "owner": "gitlab", "password": SECRET_GITLAB}]
    assert pc.validate(same, "postgres")[1]["gitlab"] == SECRET_GITLAB


@pytest.mark.parametrize(("given", "named"), [
    (entries() + [{"name": "labelstudio", "password": "x"}], "consumers[2] (labelstudio): database labelstudio is listed twice"),
    (entries(owner="postgres"), "consumers[0] (gitlabhq_production): the owner may not be postgres"),
    (entries(password=""), "consumers[0] (gitlabhq_production): the password of owner gitlab is empty"),
    (entries(password="a\x00b"), "consumers[0] (gitlabhq_production): the password of owner gitlab holds a NUL"),
    (entries(name="d" * 64), "consumers[0] (%s).name is longer than 63 bytes" % ("d" * 64)),
    (entries(owner="\u00e9" * 32), "consumers[0] (gitlabhq_production).owner is longer than 63 bytes"),
    (entries(extensions=["ok", ""]), "consumers[0] (gitlabhq_production).extensions[1] is empty"),
    ([{"name": "", "password": "x"}], "consumers[0].name is empty"),
])
def test_bad_input_fails_naming_the_consumer(given, named):
    with pytest.raises(pc.ConsumersError, match="^" + re.escape(named)):
        pc.validate(given, "postgres")


# --- The plan ------------------------------------------------------------------------------------

def consumers_and_passwords():
    return pc.validate(entries(), "postgres")


def settled_catalog(**databases: pc.DatabaseState) -> pc.Catalog:
    """The catalog as the module leaves it for entries()."""
    dbs = {
        "gitlabhq_production": pc.DatabaseState("gitlab", "UTF8", frozenset(), frozenset({"plpgsql", "pg_trgm", "btree_gist"})),
        "labelstudio": pc.DatabaseState("labelstudio", "UTF8", frozenset(), None),
    }
    dbs.update(databases)
    salt = b"0123456789abcdef"
    return pc.Catalog(
        roles={"gitlab": pc.RoleState(OK_ATTRS, pc.scram_verifier(SECRET_GITLAB, salt)),
               "labelstudio": pc.RoleState(OK_ATTRS, pc.scram_verifier(SECRET_LS, salt))},
        databases=dbs,
        encodings={"UTF8": "UTF8"},
        available_extensions=frozenset({"pg_trgm", "btree_gist", "citext"}))


def messages(result: pc.Plan) -> t.List[str]:
    return [m for a in result.actions for m in a.messages]


def test_settled_server_plans_nothing():
    consumers, passwords = consumers_and_passwords()
    result = pc.plan(consumers, passwords, settled_catalog())
    assert result.actions == [] and result.diff == []


def test_empty_server_plans_roles_then_databases_then_privileges_then_extensions():
    consumers, passwords = consumers_and_passwords()
    empty = pc.Catalog({}, {}, {"UTF8": "UTF8"}, frozenset({"pg_trgm", "btree_gist"}))
    result = pc.plan(consumers, passwords, empty)
    assert [(a.kind, a.target, a.database) for a in result.actions] == [
        ("create_role", "gitlab", None), ("create_role", "labelstudio", None),
        ("create_database", "gitlabhq_production", None), ("create_database", "labelstudio", None),
        ("revoke_public", "gitlabhq_production", None), ("revoke_public", "labelstudio", None),
        ("create_extension", "pg_trgm", "gitlabhq_production"), ("create_extension", "btree_gist", "gitlabhq_production"),
    ]
    assert messages(result)[:3] == ["role gitlab created", "role labelstudio created",
                                    "database gitlabhq_production: created (owner gitlab, encoding UTF8)"]
    assert "database labelstudio: revoked CONNECT, TEMPORARY from PUBLIC" in messages(result)
    assert [d["before_header"] for d in result.diff] == ["role gitlab", "role labelstudio",
                                                         "database gitlabhq_production", "database labelstudio"]


def test_wrong_password_md5_and_none_are_changed_and_the_right_one_kept():
    consumers, passwords = consumers_and_passwords()
    for stored in (pc.scram_verifier("old-password", b"s" * 16), PG15_MD5, None):
        catalog = settled_catalog()
        catalog.roles["gitlab"] = pc.RoleState(OK_ATTRS, stored)
        result = pc.plan(consumers, passwords, catalog)
        assert [(a.kind, a.target, a.detail) for a in result.actions] == [("alter_role", "gitlab", ("password",))]
        assert messages(result) == ["role gitlab: password changed"]
        assert result.diff[0]["before"] == {"attributes": pc.ROLE_FLAGS, "password": pc.password_kind(stored)}
        assert result.diff[0]["after"]["password"] == "SCRAM-SHA-256 (changed)"
        text = json.dumps(result.diff)
        assert SECRET_GITLAB not in text and "SCRAM-SHA-256$" not in text


def test_wrong_attributes_are_fixed_without_touching_a_right_password():
    consumers, passwords = consumers_and_passwords()
    catalog = settled_catalog()
    catalog.roles["labelstudio"] = pc.RoleState(dict(OK_ATTRS, rolsuper=True, rolcanlogin=False),
                                                catalog.roles["labelstudio"].password)
    result = pc.plan(consumers, passwords, catalog)
    assert [(a.kind, a.target, a.detail) for a in result.actions] == [("alter_role", "labelstudio", ("attributes",))]
    assert messages(result) == ["role labelstudio: NOLOGIN SUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
                                " -> LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"]
    sql, args = pc.statement(result.actions[0], passwords, 4096)
    assert sql == 'ALTER ROLE "labelstudio" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION'
    assert args == ()


def test_wrong_owner_is_changed():
    consumers, passwords = consumers_and_passwords()
    catalog = settled_catalog(labelstudio=pc.DatabaseState("someone", "UTF8", frozenset(), None))
    result = pc.plan(consumers, passwords, catalog)
    assert messages(result) == ["database labelstudio: owner someone -> labelstudio"]
    assert pc.statement(result.actions[0], passwords, 4096) == ('ALTER DATABASE "labelstudio" OWNER TO "labelstudio"', ())
    assert result.diff == [dict(before_header="database labelstudio", after_header="database labelstudio",
                                before={"owner": "someone", "encoding": "UTF8", "PUBLIC": "", "extensions": []},
                                after={"owner": "labelstudio", "encoding": "UTF8", "PUBLIC": "", "extensions": []})]


def test_public_privileges_revoked_only_those_it_holds():
    consumers, passwords = consumers_and_passwords()
    catalog = settled_catalog(labelstudio=pc.DatabaseState("labelstudio", "UTF8", frozenset({"CONNECT"}), None))
    result = pc.plan(consumers, passwords, catalog)
    assert messages(result) == ["database labelstudio: revoked CONNECT from PUBLIC"]
    assert pc.statement(result.actions[0], passwords, 4096) == ('REVOKE CONNECT ON DATABASE "labelstudio" FROM PUBLIC', ())


def test_missing_extension_is_created_in_its_database():
    consumers, passwords = consumers_and_passwords()
    catalog = settled_catalog(gitlabhq_production=pc.DatabaseState("gitlab", "UTF8", frozenset(), frozenset({"plpgsql", "pg_trgm"})))
    result = pc.plan(consumers, passwords, catalog)
    assert [(a.kind, a.target, a.database) for a in result.actions] == [("create_extension", "btree_gist", "gitlabhq_production")]
    assert messages(result) == ["database gitlabhq_production: extension btree_gist created"]
    assert pc.statement(result.actions[0], passwords, 4096) == ('CREATE EXTENSION "btree_gist"', ())


def test_an_extension_the_server_does_not_have_fails_naming_it():
    consumers, passwords = pc.validate(entries(extensions=["postgis"]), "postgres")
    catalog = settled_catalog(gitlabhq_production=pc.DatabaseState("gitlab", "UTF8", frozenset(), frozenset({"plpgsql"})))
    with pytest.raises(pc.ConsumersError, match="^database gitlabhq_production: extension postgis is not available"):
        pc.plan(consumers, passwords, catalog)


def test_another_encoding_fails_and_an_unknown_one_too():
    consumers, passwords = consumers_and_passwords()
    catalog = settled_catalog(labelstudio=pc.DatabaseState("labelstudio", "LATIN1", frozenset(), None))
    with pytest.raises(pc.ConsumersError, match="^database labelstudio exists with encoding LATIN1, not UTF8"):
        pc.plan(consumers, passwords, catalog)
    consumers, passwords = pc.validate(entries(encoding="KLINGON"), "postgres")
    catalog = settled_catalog()._replace(encodings={"UTF8": "UTF8", "KLINGON": ""})
    with pytest.raises(pc.ConsumersError, match="^database gitlabhq_production: PostgreSQL knows no encoding KLINGON"):
        pc.plan(consumers, passwords, catalog)


def test_an_encoding_is_compared_by_the_servers_name_for_it():
    consumers, passwords = pc.validate(entries(encoding="utf-8"), "postgres")
    catalog = settled_catalog()._replace(encodings={"UTF8": "UTF8", "utf-8": "UTF8"})
    assert pc.plan(consumers, passwords, catalog).actions == []


def test_statements_quote_names_and_send_a_verifier_never_the_password():
    action = pc.Action("create_role", 'we"ird', None, (), ("role x created",))
    sql, args = pc.statement(action, {'we"ird': SECRET_LS}, 4096)
    assert sql == 'CREATE ROLE "we""ird" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %s'
    assert SECRET_LS not in sql + repr(args)
    assert pc.scram_matches(SECRET_LS, args[0]) and pc.parse_verifier(args[0])[0] == 4096
    # A new salt each time.
    assert pc.statement(action, {'we"ird': SECRET_LS}, 4096)[1] != args
    sql, args = pc.statement(pc.Action("create_database", "db", None, ("own", "UTF8"), ()), {}, 4096)
    assert (sql, args) == ('CREATE DATABASE "db" OWNER "own" ENCODING %s TEMPLATE template0', ("UTF8",))


# --- Whole runs over a fake server ----------------------------------------------------------------

class FakeServer:
    """The catalog state of a server and a psycopg2-like module over it: the module's catalog
    queries are answered from the state, its statements recorded and applied to the state."""

    def __init__(self) -> None:
        self.roles: t.Dict[str, t.Tuple[t.Dict[str, bool], t.Optional[str]]] = {}
        self.databases: t.Dict[str, t.Dict[str, t.Any]] = {}
        self.available = {"plpgsql", "pg_trgm", "btree_gist", "citext"}
        self.statements: t.List[t.Tuple[str, str, t.Tuple[t.Any, ...]]] = []
        self.connects: t.List[str] = []
        server = self

        class Error(Exception):
            pass

        class Cursor:
            def __init__(self, database: str) -> None:
                self.database = database
                self.rows: t.List[t.Tuple[t.Any, ...]] = []

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def fetchall(self):
                return self.rows

            def fetchone(self):
                return self.rows[0] if self.rows else None

            def execute(self, sql: str, args: t.Tuple[t.Any, ...] = ()) -> None:
                server.statements.append((self.database, sql, tuple(args)))
                self.rows = server.answer(self.database, sql, tuple(args))

        class Connection:
            def __init__(self, dbname: str) -> None:
                self.dbname = dbname
                self.autocommit = False

            def cursor(self):
                assert self.autocommit
                return Cursor(self.dbname)

            def close(self):
                pass

        def connect(**kwargs: t.Any) -> Connection:
            assert kwargs["host"] == "/var/run/postgresql" and kwargs["port"] == 5432 and kwargs["user"] == "postgres"
            if kwargs["dbname"] != "postgres" and kwargs["dbname"] not in server.databases:
                raise Error('database "%s" does not exist' % kwargs["dbname"])
            server.connects.append(kwargs["dbname"])
            return Connection(kwargs["dbname"])

        self.module = type("psycopg2", (), {"Error": Error, "connect": staticmethod(connect)})

    def answer(self, database: str, sql: str, args: t.Tuple[t.Any, ...]) -> t.List[t.Tuple[t.Any, ...]]:
        if sql.startswith("SET password_encryption") or sql.startswith("SELECT rolsuper"):
            return [(True,)]
        if sql == pc._ROLES_QUERY:
            return [(name,) + tuple(attrs[c] for c, _v, _k in pc.ROLE_ATTRIBUTES) + (password,)
                    for name, (attrs, password) in self.roles.items() if name in args[0]]
        if sql == pc._DATABASES_QUERY:
            return [(name, db["owner"], db["encoding"], "CONNECT" in db["public"], "TEMPORARY" in db["public"])
                    for name, db in self.databases.items() if name in args[0]]
        if sql == pc._ENCODINGS_QUERY:
            return [(e, {"UTF8": "UTF8", "UTF-8": "UTF8"}.get(e.upper(), "")) for e in args[0]]
        if sql == pc._AVAILABLE_QUERY:
            return [(e,) for e in args[0] if e in self.available]
        if sql == pc._EXTENSIONS_QUERY:
            return [(e,) for e in sorted(self.databases[database]["extensions"])]
        if sql == pc._ITERATIONS_QUERY:
            return [(None,)]
        words = sql.replace('"', "").split()
        if sql.startswith("CREATE ROLE") or sql.startswith("ALTER ROLE"):
            attrs = {c: v for c, v, _k in pc.ROLE_ATTRIBUTES}
            old = self.roles.get(words[2], ({}, None))[1]
            self.roles[words[2]] = (attrs, args[0] if args else old)
        elif sql.startswith("CREATE DATABASE"):
            self.databases[words[2]] = {"owner": words[4], "encoding": args[0], "public": {"CONNECT", "TEMPORARY"},
                                        "extensions": {"plpgsql"}}
        elif sql.startswith("ALTER DATABASE"):
            self.databases[words[2]]["owner"] = words[5]
        elif sql.startswith("REVOKE"):
            name = words[words.index("DATABASE") + 1]
            self.databases[name]["public"] -= {w.strip(",") for w in words[1:words.index("ON")]}
        elif sql.startswith("CREATE EXTENSION"):
            assert words[2] not in self.databases[database]["extensions"], "created twice: " + words[2]
            self.databases[database]["extensions"].add(words[2])
        else:
            raise AssertionError("unexpected SQL: " + sql)
        return []

    def writes(self) -> t.List[str]:
        return [sql for _db, sql, _args in self.statements if not sql.startswith(("SELECT", "SET"))]


@pytest.fixture
def fake(monkeypatch):
    server = FakeServer()
    monkeypatch.setattr(pc, "psycopg2", server.module, raising=False)
    monkeypatch.setattr(pc, "HAS_PSYCOPG2", True)
    return server


def run_module(capsys, consumers, check=False, diff=False) -> t.Dict[str, t.Any]:
    args: t.Dict[str, t.Any] = {"consumers": consumers}
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            pc.main()
    out = capsys.readouterr().out
    for secret in (SECRET_GITLAB, SECRET_LS):
        assert secret not in out
    assert "SCRAM-SHA-256$" not in out
    return json.loads(out)


def module_entries() -> t.List[t.Dict[str, t.Any]]:
    return [
        {"name": "gitlabhq_production", "owner": "gitlab", "extensions": ["pg_trgm", "btree_gist", "plpgsql"],
         "password": SECRET_GITLAB},
        {"name": "labelstudio", "extensions": ["citext"], "password": SECRET_LS},
        {"name": "gitlab_ci", "owner": "gitlab", "encoding": "UTF-8", "password": SECRET_GITLAB},
    ]


def test_check_mode_on_an_empty_server_reports_everything_and_writes_nothing(capsys, fake):
    result = run_module(capsys, module_entries(), check=True, diff=True)
    assert result["changed"] is True
    assert fake.writes() == [] and fake.roles == {} and fake.databases == {}
    # Nothing inside a database that does not exist is inspected: its extensions count as to do.
    assert fake.connects == ["postgres"]
    assert "database labelstudio: extension citext created" in result["changes"]
    assert "database gitlabhq_production: extension plpgsql created" in result["changes"]
    assert len(result["diff"]) == 2 + 3


def test_first_run_creates_everything_the_second_changes_nothing(capsys, fake):
    first = run_module(capsys, module_entries())
    assert first["changed"] is True
    assert first["changes"] == [
        "role gitlab created", "role labelstudio created",
        "database gitlabhq_production: created (owner gitlab, encoding UTF8)",
        "database labelstudio: created (owner labelstudio, encoding UTF8)",
        "database gitlab_ci: created (owner gitlab, encoding UTF8)",
        "database gitlabhq_production: revoked CONNECT, TEMPORARY from PUBLIC",
        "database labelstudio: revoked CONNECT, TEMPORARY from PUBLIC",
        "database gitlab_ci: revoked CONNECT, TEMPORARY from PUBLIC",
        # plpgsql came with template0: found present, not created again.
        "database gitlabhq_production: extension pg_trgm created",
        "database gitlabhq_production: extension btree_gist created",
        "database labelstudio: extension citext created",
    ]
    assert first["roles"] == ["gitlab", "labelstudio"]
    assert first["databases"] == ["gitlabhq_production", "labelstudio", "gitlab_ci"]
    assert pc.scram_matches(SECRET_GITLAB, fake.roles["gitlab"][1])
    assert all(SECRET_GITLAB not in sql + repr(args) and SECRET_LS not in sql + repr(args)
               for _db, sql, args in fake.statements)
    assert fake.databases["gitlab_ci"] == {"owner": "gitlab", "encoding": "UTF8", "public": set(), "extensions": {"plpgsql"}}
    assert fake.statements[0][1] == "SET password_encryption = 'scram-sha-256'"

    fake.statements.clear()
    fake.connects.clear()
    second = run_module(capsys, module_entries(), diff=True)
    assert second["changed"] is False and second["changes"] == [] and second["diff"] == []
    assert fake.writes() == []
    # One connection for the roles and databases, one per database that lists extensions.
    assert fake.connects == ["postgres", "gitlabhq_production", "labelstudio"]


def test_drift_is_reported_in_check_mode_and_then_repaired(capsys, fake):
    run_module(capsys, module_entries())
    fake.roles["labelstudio"] = (fake.roles["labelstudio"][0], PG15_MD5)
    fake.databases["labelstudio"]["public"] = {"TEMPORARY"}
    fake.databases["gitlab_ci"]["owner"] = "labelstudio"
    fake.databases["labelstudio"]["extensions"].discard("citext")
    fake.statements.clear()
    expected = ["role labelstudio: password changed", "database gitlab_ci: owner labelstudio -> gitlab",
                "database labelstudio: revoked TEMPORARY from PUBLIC", "database labelstudio: extension citext created"]
    checked = run_module(capsys, module_entries(), check=True)
    assert checked["changed"] is True and checked["changes"] == expected and fake.writes() == []
    repaired = run_module(capsys, module_entries())
    assert repaired["changes"] == expected
    assert pc.scram_matches(SECRET_LS, fake.roles["labelstudio"][1])
    assert run_module(capsys, module_entries())["changed"] is False


def test_failures_are_one_line_naming_what_failed(capsys, fake):
    given = module_entries()
    given[1]["extensions"] = ["postgis"]
    with patch_module_args({"consumers": given}):
        with pytest.raises(SystemExit):
            pc.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert result["msg"] == ("postgres_consumers: database labelstudio: extension postgis is not available on the "
                             "server (pg_available_extensions)")
    assert fake.writes() == []


def test_without_psycopg2_the_module_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setattr(pc, "HAS_PSYCOPG2", False)
    with patch_module_args({"consumers": module_entries()}):
        with pytest.raises(SystemExit):
            pc.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True and "python3-psycopg2" in result["msg"]
