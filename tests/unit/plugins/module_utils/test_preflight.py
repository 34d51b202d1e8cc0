# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The preflight's checks (plugins/module_utils/_preflight.py) on plain data, against the
roles' real argument specs and defaults."""

from __future__ import annotations

import functools
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from ansible_collections.mlstack.platform.plugins.module_utils import _preflight

ROOT = pathlib.Path(__file__).resolve().parents[4]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta/argument_specs.yml").is_file())


@functools.lru_cache(maxsize=None)
def options(role, entry="main"):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    return specs["argument_specs"][entry]["options"]


@functools.lru_cache(maxsize=None)
def defaults(role):
    path = ROOT / "roles" / role / "defaults/main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


@functools.lru_cache(maxsize=None)
def declared():
    names = set()
    for role in ROLES:
        specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
        for entry in specs["argument_specs"].values():
            names.update(entry.get("options") or {})
        names.update(defaults(role))
    return names


def lines(items):
    return [_preflight.line(item) for item in items]


# --- argument specs ----------------------------------------------------------------------

def test_an_unknown_choice_is_one_line_naming_host_and_variable():
    got = _preflight.validate_role("mlstack-lab-host1", options("minio"), {"minio_engine": "ceph"})
    assert lines(got) == ["mlstack-lab-host1: minio_engine: must be one of minio, seaweedfs, got ceph"]


def test_valid_values_and_the_roles_plain_defaults_give_no_line():
    for role in ROLES:
        plain = {k: v for k, v in defaults(role).items()
                 if k in options(role) and "{{" not in yaml.safe_dump(v)}
        # What a role requires without a default, the inventory gives (bundle: mlstack_bundle_dir).
        plain.update({k: "/srv/x" for k, spec in options(role).items() if spec.get("required") and k not in plain})
        assert _preflight.validate_role("h", options(role), plain) == [], role


@pytest.mark.parametrize("values,expected", [
    ({"postgres_port": "fivefourthreetwo"},
     "h: postgres_port: must be of type int, got str ('fivefourthreetwo' cannot be converted to an int)"),
    ({"postgres_listen_addresses": "localhost"}, None),  # a string is a list of one, as Ansible has it
    ({"postgres_hba_loopback": "maybe"}, "h: postgres_hba_loopback: must be of type bool, got str"),
    ({"postgres_hba_extra_rules": [{"type": "host", "database": "all", "user": "x", "address": "10.0.0.0/8"}]},
     "h: postgres_hba_extra_rules: method: is required but not set"),
    ({"postgres_hba_extra_rules": [{"type": "host", "database": "all", "user": "x", "method": "md5"}]},
     "h: postgres_hba_extra_rules: method: must be one of scram-sha-256, cert, reject, got md5"),
    ({"postgres_databases": [{"name": "determined", "ownr": "determined"}]},
     "h: postgres_databases: ownr: not a known key (did you mean owner? known: allowed_cidrs, encoding, "
     "extensions, name, owner, password)"),
    ({"postgres_databases": "determined"},
     "h: postgres_databases: items must be of type dict, got str"),
])
def test_each_kind_of_error_is_one_readable_line(values, expected):
    got = lines(_preflight.validate_role("h", options("postgres"), values))
    if expected is None:
        assert got == []
    else:
        assert len(got) == 1 and got[0].startswith(expected), got


def test_a_bad_boolean_reads_the_same_in_every_run():
    # ansible-core lists its valid booleans from a frozenset: their order changes with the
    # process's hash seed, so the preflight prints its own, fixed list.
    got = lines(_preflight.validate_role("h", options("postgres"), {"postgres_hba_loopback": "maybe"}))
    assert got == ["h: postgres_hba_loopback: must be of type bool, got str "
                   "('maybe' is not a boolean; use one of yes/no, true/false, on/off, y/n, t/f, 1/0)"]
    seeds = set()
    for seed in ("1", "2", "3"):
        code = ("from ansible_collections.mlstack.platform.plugins.module_utils import _preflight as p;"
                "print(p.validate_role('h', {'x': {'type': 'bool'}}, {'x': 'maybe'}))")
        env = dict(os.environ, PYTHONHASHSEED=seed)
        seeds.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                 check=True).stdout)
    assert len(seeds) == 1


def test_a_misspelt_key_of_an_item_gives_both_of_its_lines():
    got = lines(_preflight.validate_role("h", options("postgres"), {"postgres_databases": [{"nmae": "determined"}]}))
    assert got == ["h: postgres_databases: name: is required but not set",
                   "h: postgres_databases: nmae: not a known key (did you mean name? known: allowed_cidrs, "
                   "encoding, extensions, name, owner, password)"]


def test_a_required_option_that_is_not_set_is_reported():
    spec = {"mlstack_bundle_dir": {"type": "str", "required": True, "description": "x"}}
    assert lines(_preflight.validate_role("h", spec, {})) == ["h: mlstack_bundle_dir: is required but not set"]


def test_every_error_of_a_host_at_once_sorted_by_variable():
    got = _preflight.validate_role("h", options("postgres"), {
        "postgres_port": "x", "postgres_hba_connection_type": "local", "postgres_backup_enabled": "sometimes"})
    assert [item[1] for item in got] == ["postgres_backup_enabled", "postgres_hba_connection_type", "postgres_port"]


def test_deferred_options_are_left_to_the_roles_own_validation():
    got = _preflight.validate_role("h", options("postgres"), {}, deferred=["postgres_memory_mb"])
    assert got == []
    spec = {"a": {"type": "str", "required": True}}
    assert _preflight.validate_role("h", spec, {}, deferred=["a"]) == []


# --- secrets -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["label_studio_db_password", "minio_root_secret_key", "gitlab_runner_admin_token",
                                  "nautilus_db_key_base", "mlstack_bundle_signing_key_passphrase"])
def test_secret_names(name):
    assert _preflight.is_secret_name(name)


@pytest.mark.parametrize("name", ["postgres_password_length", "gitlab_runner_admin_token_file", "key_url",
                                  "mlstack_bundle_public_key", "mlstack_registry", "keyring_dir"])
def test_not_secret_names(name):
    assert not _preflight.is_secret_name(name)


def test_a_secret_value_never_appears_in_a_message():
    secret = "Hunter2-s3cr3t-value"
    spec = {
        "x_token": {"type": "int"},                                   # secret by name
        "x_hidden": {"type": "int", "no_log": True},                  # secret by no_log
        "x_choice": {"type": "str", "choices": ["a", "b"], "no_log": True},
        "x_users": {"type": "list", "elements": "dict", "options": {  # secret below a plain option
            "name": {"type": "str"},
            "password": {"type": "int"},
            "api_key": {"type": "str", "choices": ["k1"]},
        }},
    }
    values = {"x_token": secret, "x_hidden": secret, "x_choice": secret,
              "x_users": [{"name": "u", "password": secret, "api_key": secret}]}
    got = lines(_preflight.validate_role("h", spec, values))
    assert len(got) == 5, got
    for message in got:
        assert secret not in message and "Hunter2" not in message
        assert _preflight.REDACTED in message
    # ... while the same error on a plain option shows its value, so the redaction is real.
    plain = lines(_preflight.validate_role("h", {"x_count": {"type": "int"}}, {"x_count": secret}))
    assert secret in plain[0]


def test_a_secret_pasted_into_the_wrong_option_is_hidden_too():
    got = lines(_preflight.validate_role("h", options("postgres"), {
        "postgres_databases": [{"name": "x", "password": "pw-1234"}], "postgres_port": "pw-1234"}))
    assert got == ["h: postgres_port: must be of type int, got str (%s cannot be converted to an int)"
                   % ("'%s'" % _preflight.REDACTED)]


def test_secret_values_walks_suboptions_and_unknown_keys():
    spec = options("postgres")
    found = _preflight.secret_values(spec, {
        "postgres_databases": [{"name": "a", "password": "p1"}, {"name": "b", "db_token": "t1"}],
        "postgres_port": 5432})
    assert found == {"p1", "t1"}


# --- undeclared variables ----------------------------------------------------------------

def undeclared(*names):
    return lines(_preflight.undeclared("h", names, declared(), ROLES))


def test_a_misspelt_prefix_is_caught_with_the_nearest_name():
    assert undeclared("postgress_databases") == [
        "h: postgress_databases: not declared by any role; did you mean postgres_databases?"]


@pytest.mark.parametrize("name,near", [
    ("minio_engin", "minio_engine"),
    ("mlstak_offline", "mlstack_offline"),
    ("mlstack_ofline", "mlstack_offline"),
    ("gitlab_runner_runnres", "gitlab_runner_runners"),
    ("docker_hosts_gpu", "docker_host_gpu"),
    ("seldon_exposur", "seldon_exposure"),
    ("postgresdatabases", "postgres_databases"),
])
def test_typos_of_every_kind_suggest_the_declared_name(name, near):
    assert undeclared(name) == ["h: %s: not declared by any role; did you mean %s?" % (name, near)]


def test_a_prefixed_name_far_from_any_declared_one_is_still_reported():
    assert undeclared("minio_zzz_qqq_xxx") == ["h: minio_zzz_qqq_xxx: not declared by any role"]


@pytest.mark.parametrize("name", ["postgres_databases", "mlstack_offline", "mlstack_preflight_undeclared",
                                  "ansible_host", "ansible_python_interpreter", "http_proxy", "inventory_dir",
                                  "groups", "group_names", "playbook_dir", "omit", "out", "site_owner"])
def test_declared_and_foreign_names_are_not_reported(name):
    assert undeclared(name) == []


def test_the_new_switch_is_declared_by_common():
    assert "mlstack_preflight_undeclared" in options("common")
    assert "mlstack_preflight_undeclared" in options("common", "preflight")
    assert defaults("common")["mlstack_preflight_undeclared"] == "fail"


def test_undeclared_fail_by_default_and_warn_on_request():
    errors = [("h", "minio_engine", "must be one of minio, seaweedfs, got ceph")]
    typos = [("h", "postgress_databases", "not declared by any role; did you mean postgres_databases?")]
    failing, warnings = _preflight.report(errors, typos)
    assert failing == ["h: minio_engine: must be one of minio, seaweedfs, got ceph",
                       "h: postgress_databases: not declared by any role; did you mean postgres_databases?"]
    assert warnings == []
    failing, warnings = _preflight.report(errors, typos, "warn")
    assert failing == ["h: minio_engine: must be one of minio, seaweedfs, got ceph"]
    assert warnings == ["h: postgress_databases: not declared by any role; did you mean postgres_databases?"]
    with pytest.raises(ValueError, match="must be fail or warn"):
        _preflight.report(errors, typos, "ignore")


# --- cross-host rules --------------------------------------------------------------------

CONSUMERS = _preflight.postgres_consumers({role: defaults(role) for role in ROLES})


def test_the_postgres_clients_are_read_from_the_roles_defaults():
    assert sorted(CONSUMERS) == ["determined", "label_studio", "pachyderm"]
    assert CONSUMERS["pachyderm"]["name_vars"] == ["pachyderm_db_identity_name", "pachyderm_db_name"]
    assert CONSUMERS["determined"]["mode_var"] == "determined_db_mode"
    assert CONSUMERS["label_studio"]["enabled_var"] is None


def consumer_values(role, **overrides):
    values = {k: v for k, v in defaults(role).items() if k.startswith(role + "_db_") or k == role + "_enabled"}
    values[role + "_db_host"] = ""  # the default: the first host of group postgres
    values.update(overrides)
    return values


SERVER = {
    "postgres_hba_allowed_cidrs": ["192.0.2.0/25"],
    "postgres_databases": [{"name": "determined"}, {"name": "pachyderm"}, {"name": "pachyderm_dex", "owner": "pachyderm"},
                           {"name": "labelstudio", "allowed_cidrs": ["10.9.0.5/32"]}],
}


def rules(source, address, role, server_values=None, runner="k8s1", **values):
    return lines(_preflight.postgres_rules(source, address, role, CONSUMERS[role], consumer_values(role, **values),
                                           runner, "data1", ["192.0.2.20"], server_values or SERVER))


def test_a_consumer_inside_the_allowlist_passes():
    assert rules("k8s2", "192.0.2.12", "determined") == []
    assert rules("k8s2", "192.0.2.12", "pachyderm") == []
    assert rules("ls1", "10.9.0.5", "label_studio", runner="ls1") == []


def test_a_consumer_outside_the_allowlist_names_server_variable_and_host():
    assert rules("k8s3", "192.0.2.200", "determined") == [
        "data1: postgres_hba_allowed_cidrs: does not cover k8s3 (192.0.2.200), "
        "from which role determined reaches database determined"]


def test_a_database_allowlist_of_its_own_takes_precedence():
    assert rules("ls1", "192.0.2.12", "label_studio", runner="ls1") == [
        "data1: postgres_databases: does not cover ls1 (192.0.2.12), "
        "from which role label_studio reaches database labelstudio"]


def test_a_missing_database_and_a_wrong_owner_are_named():
    server = {"postgres_hba_allowed_cidrs": ["192.0.2.0/24"], "postgres_databases": [{"name": "pachyderm"}]}
    assert rules("k8s2", "192.0.2.12", "pachyderm", server_values=server) == [
        "data1: postgres_databases: lists no database pachyderm_dex (owner pachyderm), "
        "which role pachyderm on k8s1 uses (pachyderm_db_identity_name)"]
    assert rules("k8s2", "192.0.2.12", "determined", determined_db_user="det") == [
        "data1: postgres_databases: database determined is owned by determined, "
        "but role determined on k8s1 connects as det (determined_db_user)"]


def test_the_typo_that_emptied_postgres_databases_is_caught_by_the_rules_too():
    server = {"postgres_hba_allowed_cidrs": ["10.213.0.0/24"], "postgres_databases": []}
    got = rules("mlstack-lab-host1", None, "label_studio", server_values=server, runner="mlstack-lab-host1")
    assert got == ["data1: postgres_databases: lists no database labelstudio (owner labelstudio), "
                   "which role label_studio on mlstack-lab-host1 uses (label_studio_db_name)"]


def test_rules_that_do_not_apply():
    # The server itself, an unknown address, another database server, an app switched off
    # or on the chart's own database.
    assert rules("data1", "192.0.2.20", "determined") == []
    assert rules("k8s3", None, "determined") == []
    assert rules("k8s3", "198.51.100.1", "determined", determined_db_host="db.elsewhere.example") == []
    assert rules("k8s3", "198.51.100.1", "determined", determined_enabled=False) == []
    assert rules("k8s3", "198.51.100.1", "determined", determined_db_mode="chart") == []
    # ... and the server named by address is still the server.
    assert rules("k8s3", "198.51.100.1", "determined", determined_db_host="192.0.2.20") != []


def test_the_registry_must_be_a_host_of_group_registry():
    members = {"data1": ["192.0.2.20"]}
    assert _preflight.registry_rules("k8s1", "data1:5000", members) == []
    assert _preflight.registry_rules("k8s1", "192.0.2.20:5000", members) == []
    assert _preflight.registry_rules("k8s1", "data1", members) == []
    assert lines(_preflight.registry_rules("k8s1", "data2:5000", members)) == [
        "k8s1: mlstack_registry: names data2, which is not a host of group registry (data1) nor the address of one"]
    assert _preflight.registry_rules("k8s1", "registry.example:5000", {}) == []   # no registry group
    assert _preflight.registry_rules("k8s1", "", members) == []


def test_registry_host_parts():
    assert _preflight.registry_host("data1:5000") == "data1"
    assert _preflight.registry_host("[2001:db8::1]:5000") == "2001:db8::1"
    assert _preflight.registry_host("registry.example") == "registry.example"


# --- what the roles assert only when their play is reached (issue 15, point 4) --------------

def test_a_proxy_without_a_scheme_is_named_with_its_key():
    assert lines(_preflight.proxy_rules("h", {"http": "proxy:3128", "https": "https://proxy:3129", "no_proxy": "x"})) \
        == ["h: mlstack_proxy: http: must be empty or start with http:// or https://, got proxy:3128"]
    assert _preflight.proxy_rules("h", {"http": "", "https": "http://p:1"}) == []
    assert _preflight.proxy_rules("h", "not a mapping: the spec's type check says so") == []


def test_a_cidr_that_is_no_network_is_named_where_it_is():
    got = lines(_preflight.cidr_rules("h", ["10.0.0.0/8", "10.0.0.0/33", "192.0.2.7"],
                                      [{"name": "d", "allowed_cidrs": ["10.1.0.0/16", "lab-net"]}, "x"]))
    assert got == ["h: postgres_hba_allowed_cidrs: 10.0.0.0/33 is not an address or network (e.g. 10.0.0.0/24)",
                   "h: postgres_databases: d: allowed_cidrs: lab-net is not an address or network (e.g. 10.0.0.0/24)"]


def test_the_target_is_one_of_the_manifests():
    targets = {"debian-bookworm": {}, "ubuntu-noble": {}}
    assert _preflight.target_rules("h", "debian-bookworm", targets) == []
    assert _preflight.target_rules("h", "", targets) == []
    assert lines(_preflight.target_rules("h", "debian-trixie", targets)) == [
        "h: mlstack_target: must be one of debian-bookworm, ubuntu-noble (mlstack_artifacts.targets), got debian-trixie"]


def test_s3_clients_are_read_from_the_roles_defaults():
    consumers = _preflight.s3_consumers({r: defaults(r) for r in ROLES})
    assert sorted(consumers) == ["determined", "label_studio", "pachyderm"]
    assert consumers["label_studio"] == {"bucket_var": "label_studio_s3_bucket",
                                         "consumer_var": "label_studio_s3_consumer",
                                         "endpoint_var": "label_studio_s3_endpoint_url", "enabled_var": None,
                                         "storages_var": "label_studio_projects"}
    assert consumers["determined"]["storages_var"] is None


@pytest.mark.parametrize("values,expected", [
    ({"label_studio_s3_bucket": "label-studio", "label_studio_s3_consumer": "label_studio"}, []),
    ({"label_studio_s3_bucket": "nosuch", "label_studio_s3_consumer": "label_studio"},
     ["s3: minio_buckets: lists no bucket nosuch, which role label_studio on h uses (label_studio_s3_bucket)"]),
    ({"label_studio_s3_bucket": "label-studio", "label_studio_s3_consumer": "reader"},
     ["s3: minio_buckets: bucket label-studio does not give reader read_write, which role label_studio on h "
      "needs (label_studio_s3_consumer)"]),
    # Another store than this inventory's: not this inventory's buckets.
    ({"label_studio_s3_bucket": "nosuch", "label_studio_s3_consumer": "x",
      "label_studio_s3_endpoint_url": "https://s3.example.com"}, []),
    # The store's own address: this inventory's buckets.
    ({"label_studio_s3_bucket": "nosuch", "label_studio_s3_consumer": "label_studio",
      "label_studio_s3_endpoint_url": "http://192.0.2.5:9000"},
     ["s3: minio_buckets: lists no bucket nosuch, which role label_studio on h uses (label_studio_s3_bucket)"]),
])
def test_the_bucket_of_an_s3_client_is_the_stores(values, expected):
    consumer = _preflight.s3_consumers({"label_studio": defaults("label_studio")})["label_studio"]
    buckets = [{"name": "label-studio", "read_write": ["label_studio"], "read_only": ["reader"]}]
    assert lines(_preflight.s3_rules("label_studio", consumer, values, "h", "s3", ["192.0.2.5"], buckets)) == expected


STORE = [{"name": "label-studio", "read_write": ["label_studio"]},
         {"name": "raw-images", "read_only": ["label_studio"]},
         {"name": "annotations", "read_write": ["label_studio"]},
         {"name": "models", "read_only": ["seldon"], "read_write": ["trainer"]}]


@pytest.mark.parametrize("projects,expected", [
    # Storages on the role's own bucket, and on buckets the store creates with enough access.
    ([{"title": "A", "s3_import": {"prefix": "x"}, "s3_export": {"prefix": "y"}},
      {"title": "B", "s3_import": {"bucket": "raw-images"}, "s3_export": {"bucket": "annotations"}}], []),
    # A bucket the store does not create, with the nearest one it does.
    ([{"title": "B", "s3_export": {"bucket": "anotations"}}],
     ["h: label_studio_projects: B: s3_export: bucket anotations is not one of minio_buckets on s3, "
      "the store that creates the buckets; did you mean annotations?"]),
    ([{"title": "C", "s3_import": {"bucket": "nosuch"}}],
     ["h: label_studio_projects: C: s3_import: bucket nosuch is not one of minio_buckets on s3, "
      "the store that creates the buckets"]),
    # Read-only is enough to import from, not to export to.
    ([{"title": "D", "s3_export": {"bucket": "raw-images"}}],
     ["h: label_studio_projects: D: s3_export: bucket raw-images in minio_buckets on s3 does not give "
      "label_studio (label_studio_s3_consumer) read_write"]),
    ([{"title": "E", "s3_import": {"bucket": "models"}}],
     ["h: label_studio_projects: E: s3_import: bucket models in minio_buckets on s3 does not give "
      "label_studio (label_studio_s3_consumer) read_only or read_write"]),
    # An entry without a title is named by its index; entries that are no mappings are the spec's.
    (["x", {"s3_export": {"bucket": "nosuch"}}],
     ["h: label_studio_projects: [1]: s3_export: bucket nosuch is not one of minio_buckets on s3, "
      "the store that creates the buckets"]),
])
def test_the_buckets_of_label_studios_storages_are_the_stores(projects, expected):
    consumer = _preflight.s3_consumers({"label_studio": defaults("label_studio")})["label_studio"]
    values = {"label_studio_s3_bucket": "label-studio", "label_studio_s3_consumer": "label_studio",
              "label_studio_projects": projects}
    assert lines(_preflight.s3_rules("label_studio", consumer, values, "h", "s3", [], STORE)) == expected
    # Another store than this inventory's: its buckets are not this inventory's to check.
    values["label_studio_s3_endpoint_url"] = "https://s3.example.com"
    assert _preflight.s3_rules("label_studio", consumer, values, "h", "s3", [], STORE) == []


@pytest.mark.parametrize("values,expected", [
    ({"seldon_model_storage_consumer": ""}, []),
    ({"seldon_model_storage_consumer": "seldon"}, []),
    ({"seldon_model_storage_consumer": "trainer"}, []),
    ({"seldon_model_storage_consumer": "seldon", "seldon_model_storage_access_key": "own"}, []),
    ({"seldon_model_storage_consumer": "serving", "seldon_enabled": False}, []),
    ({"seldon_model_storage_consumer": "serving"},
     ["cp: seldon_model_storage_consumer: serving is named by no bucket of minio_buckets on s3 "
      "(read_only or read_write), so the minio role makes no key for it"]),
    ({"seldon_model_storage_consumer": "serving", "seldon_model_storage_endpoint_url": "http://s3:9000"},
     ["cp: seldon_model_storage_consumer: serving is named by no bucket of minio_buckets on s3 "
      "(read_only or read_write), so the minio role makes no key for it"]),
    ({"seldon_model_storage_consumer": "serving", "seldon_model_storage_endpoint_url": "https://s3.example.com"}, []),
])
def test_seldons_model_storage_consumer_has_a_key_of_the_store(values, expected):
    assert lines(_preflight.s3_reader_rules("seldon", values, "cp", "s3", [], STORE)) == expected


def test_the_readers_variables_are_the_roles():
    for role, names in _preflight.S3_READERS.items():
        assert set(names) <= set(options(role)), role
    for role, (variable, _keys) in _preflight.S3_STORAGE_LISTS.items():
        assert variable in options(role), role


def test_controller_paths_must_exist(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("")
    checks = [("a_dir", str(tmp_path / "d"), "dir", "why"), ("a_file", str(tmp_path / "f"), "file", "why"),
              ("no_dir", str(tmp_path / "f"), "dir", "the bundle"), ("unset", "", "file", "the key")]
    assert lines(_preflight.controller_path_rules("h", checks)) == [
        "h: no_dir: %s is not a directory on the controller (the bundle)" % (tmp_path / "f"),
        "h: unset: must be set (the key)"]


def test_a_host_whose_role_runs_containers_is_a_docker_host():
    groups = {"docker_hosts": ["a"], "registry": ["a", "b"], "object_store": ["b"], "postgres": ["c"]}
    assert _preflight.group_rules("a", groups) == []
    assert _preflight.group_rules("c", groups) == []
    assert [item[2].split(":")[0] for item in _preflight.group_rules("b", groups)] == [
        "does not list this host, which is in group object_store", "does not list this host, which is in group registry"]
