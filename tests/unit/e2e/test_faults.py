# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The pure parts of tests/e2e/faults.py, without hosts or playbook runs: the seeded choice
of kill points from a real `--list-hosts --list-tasks` listing, the snapshot parser and diff,
the leak scanner on logs with secrets planted in every form it must find, and the readers
of the json callback's report."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys

import pytest

FAULTS_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "e2e", "faults.py")


def _load():
    spec = importlib.util.spec_from_file_location("mlstack_e2e_faults", FAULTS_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


faults = _load()

# The shape of ansible-core 2.19's `ansible-playbook --list-hosts --list-tasks` (site.yml on
# inventories/lab, shortened): plays with their pattern, hosts and tasks; a play whose
# group has no host lists "hosts (0):".
LISTING = """
playbook: playbooks/site.yml

  play #1 (all): Preflight (every host's inputs, before anything changes)\tTAGS: [preflight]
    pattern: ['all']
    hosts (1):
      h1
    tasks:
      mlstack.platform.common : Check this host's variables against every role it will run\tTAGS: [preflight]
      mlstack.platform.common : Stop the run on bad input, with every problem of every host at once\tTAGS: [preflight]

  play #2 (all): Verify the bundle (offline sites)\tTAGS: []
    pattern: ['all']
    hosts (1):
      h1
    tasks:
      Verify the bundle's signature, checksums and completeness\tTAGS: []

  play #3 (docker_hosts): Docker hosts\tTAGS: []
    pattern: ['docker_hosts']
    hosts (1):
      h1
    tasks:
      mlstack.platform.common : Check that the registry is given as host[:port]\tTAGS: []
      mlstack.platform.docker_host : Write the daemon configuration\tTAGS: []
      mlstack.platform.docker_host : Install the engine\tTAGS: []

  play #4 (postgres): PostgreSQL\tTAGS: []
    pattern: ['postgres']
    hosts (1):
      h1
    tasks:
      mlstack.platform.common : Check that the registry is given as host[:port]\tTAGS: []
      mlstack.platform.postgres : Write pg_hba.conf\tTAGS: []
      Make the image available to the engine\tTAGS: []

  play #5 (gitlab): GitLab\tTAGS: []
    pattern: ['gitlab']
    hosts (0):
    tasks:
      mlstack.platform.gitlab : Start GitLab\tTAGS: []
"""


def test_the_listing_is_read_as_plays_with_hosts_and_tasks():
    plays = faults.list_plays(LISTING)
    assert [(p.name, p.hosts, len(p.tasks)) for p in plays] == [
        ("Preflight (every host's inputs, before anything changes)", ("h1",), 2),
        ("Verify the bundle (offline sites)", ("h1",), 1),
        ("Docker hosts", ("h1",), 3),
        ("PostgreSQL", ("h1",), 3),
        ("GitLab", (), 1),
    ]
    assert plays[2].tasks[1] == "mlstack.platform.docker_host : Write the daemon configuration"
    # A play without hosts prints no header: its tasks are not in the run's order.
    assert "mlstack.platform.gitlab : Start GitLab" not in [t for dummy, t in faults.run_order(plays)]


def test_kill_points_are_seeded_distinct_in_run_order_and_reach_hosts():
    plays = faults.list_plays(LISTING)
    kills, restart = faults.choose_faults(plays, seed=7, kills=3)
    again = faults.choose_faults(plays, seed=7, kills=3)
    assert (kills, restart) == again
    indexes = [k.index for k in kills]
    assert indexes == sorted(set(indexes)) and len(indexes) == 3
    order = faults.run_order(plays)
    # Never in the controller-only plays (preflight, bundle check: positions 0-2).
    assert min(indexes) >= 3
    # The dockerd restart comes after Docker's play.
    assert order[restart.index][0] == 3
    for point in kills + [restart]:
        assert 0 <= point.delay <= 3.0
        assert point.task == order[point.index][1]


def test_different_seeds_choose_differently():
    plays = faults.list_plays(LISTING)
    choices = {tuple(k.index for k in faults.choose_faults(plays, seed, kills=2)[0]) for seed in range(30)}
    assert len(choices) > 1


def test_a_task_name_that_repeats_is_counted_by_occurrence():
    plays = faults.list_plays(LISTING)
    order = faults.run_order(plays)
    second = [i for i, (dummy, t) in enumerate(order) if t.endswith("host[:port]")][1]
    assert faults.point(order, second, 0.5).occurrence == 2
    # A header names an included task without its role: matched by its own name.
    last = faults.point(order, len(order) - 1, 0)
    assert last.task == "Make the image available to the engine" and last.occurrence == 1


def test_too_few_tasks_is_an_error():
    plays = faults.list_plays(LISTING)
    with pytest.raises(ValueError, match="to choose 9 kill points"):
        faults.choose_faults(plays, seed=1, kills=9)


SNAPSHOT = (
    "file\t/etc/docker/daemon.json\tf 644 root:root 120 1764640000.1\n"
    "file\t/etc/postgresql/15/main/pg_hba.conf\tf 640 postgres:postgres 900 1764640001.0\n"
    "package\tdocker.io:amd64\t20.10.24 ii \n"
    "container\tseaweedfs\tabc mlstack-lab/seaweedfs:4.48 running\n"
    "unit\tdocker.service\tenabled\n"
    "active\tdocker.service\tactive running\n"
    "noise without a section\n"
)


def test_a_snapshot_is_read_by_section():
    state = faults.parse_snapshot(SNAPSHOT)
    assert state["file"]["/etc/docker/daemon.json"] == "f 644 root:root 120 1764640000.1"
    assert state["package"] == {"docker.io:amd64": "20.10.24 ii "}
    assert state["container"]["seaweedfs"].endswith("running")
    assert set(state) == set(faults.SECTIONS)


def test_the_snapshot_diff_names_what_was_added_removed_and_changed():
    before = faults.parse_snapshot(SNAPSHOT)
    assert faults.diff_snapshots(before, faults.parse_snapshot(SNAPSHOT)) == {}
    after = faults.parse_snapshot(SNAPSHOT.replace("900 1764640001.0", "870 1764640222.5")
                                  .replace("package\tdocker.io:amd64\t20.10.24 ii \n", "")
                                  + "file\t/etc/apt/sources.list.d/docker.list\tf 644 root:root 80 1.0\n")
    diff = faults.diff_snapshots(before, after)
    assert diff == {
        "file": {"added": ["/etc/apt/sources.list.d/docker.list"], "removed": [],
                 "changed": ["/etc/postgresql/15/main/pg_hba.conf: f 640 postgres:postgres 900 1764640001.0 -> "
                             "f 640 postgres:postgres 870 1764640222.5"]},
        "package": {"added": [], "removed": ["docker.io:amd64"], "changed": []},
    }


def test_the_snapshot_script_prunes_the_volatile_paths():
    script = faults.snapshot_script(("/var/lib/docker", "/srv/*/data"))
    assert "-path '/var/lib/docker' -o -path '/srv/*/data'" in script
    assert "dpkg-query" in script and "docker ps -a" in script and "list-unit-files" in script


def test_the_tree_digest_sees_a_new_or_changed_file(tmp_path):
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "determined").write_text("x")
    before = faults.tree_digest(tmp_path)
    (tmp_path / "postgres" / "pachyderm").write_text("y")
    after = faults.tree_digest(tmp_path)
    assert set(after) - set(before) == {"postgres/pachyderm"}
    assert faults.tree_digest(tmp_path / "missing") == {}


# --- leak scanner --------------------------------------------------------------------------

PASSWORD = "Qx7vN2pLr9sTw4Kb"  # planted: what ansible.builtin.password writes (letters and digits)
QUOTED = 'p"a\\ss-8Zk3mW1qYt'  # planted: one that JSON escapes


def credentials(tmp_path):
    root = tmp_path / "credentials"
    for rel, text in {
        "offline_registry/pull-password": PASSWORD + "\n",
        "postgres/labelstudio": QUOTED + "\n",
        "offline_registry/ca.crt": "-----BEGIN CERTIFICATE-----\n" + "A" * 64 + "\n-----END CERTIFICATE-----\n",
        "offline_registry/ca.key": ("-----BEGIN PRIVATE KEY-----\n" + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + "\n"
                                    + "k3Jd9" * 12 + "\n-----END PRIVATE KEY-----\n"),
        "bundle/signing-key.pub.asc": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n" + "B" * 64 + "\n",
        "ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "C" * 70 + "\n",
        "ssh/known_hosts": "host ssh-ed25519 AAAA\n",
        "minio/short": "abc\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_credential_values_are_read_minus_ssh_keys_and_public_files(tmp_path):
    secrets = faults.credential_secrets(credentials(tmp_path))
    assert secrets["offline_registry/pull-password"] == PASSWORD
    assert secrets["postgres/labelstudio"] == QUOTED
    assert not any(k.startswith(("ssh/", "bundle/signing-key.pub", "offline_registry/ca.crt")) for k in secrets)
    key_lines = [v for k, v in secrets.items() if k.startswith("offline_registry/ca.key")]
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" in key_lines
    assert not any("-----" in v for v in key_lines)


def write_log(tmp_path, lines):
    path = tmp_path / "site.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_form_of_a_planted_secret_is_found_under_its_task(tmp_path):
    secrets = faults.credential_secrets(credentials(tmp_path))
    slurped = base64.b64encode(('{"auths": {"r:5000": {"password": "%s"}}}' % PASSWORD).encode()).decode()
    log_file = write_log(tmp_path, [
        "PLAY [Docker hosts] ****",
        "TASK [mlstack.platform.offline_registry : Write htpasswd] ****",
        'ok: [h1] => {"changed": false, "password": "%s"}' % PASSWORD,
        "TASK [mlstack.platform.postgres : Create the owners] ****",
        "ok: [h1] => " + json.dumps({"password": QUOTED}),
        "TASK [mlstack.platform.offline_registry : Log in] ****",
        "ok: [h1] => {\"auth\": \"%s\"}" % base64.b64encode(("pull:" + PASSWORD).encode()).decode(),
        "TASK [mlstack.platform.docker_host : Read the client config] ****",
        'ok: [h1] => {"content": "%s", "encoding": "base64"}' % slurped,
        "TASK [mlstack.platform.offline_registry : Harmless] ****",
        "ok: [h1] => {\"msg\": \"abc and a hostname mlstack-lab-host1\"}",
    ])
    hits, patterns, scanned = faults.scan([log_file], secrets, users=["pull"])
    found = {(h.secret, h.form, h.task) for h in hits}
    assert ("offline_registry/pull-password", "raw", "mlstack.platform.offline_registry : Write htpasswd") in found
    assert ("postgres/labelstudio", "json-escaped", "mlstack.platform.postgres : Create the owners") in found
    assert ("offline_registry/pull-password", "base64 of pull:secret",
            "mlstack.platform.offline_registry : Log in") in found
    assert any(h.secret == "offline_registry/pull-password" and h.form.startswith("base64/")
               and h.task == "mlstack.platform.docker_host : Read the client config" for h in hits)
    # The short value (3 characters) is not searched: it would match by chance.
    assert not any(h.task.endswith("Harmless") for h in hits)
    assert patterns > len(secrets) and scanned == log_file.stat().st_size


def test_a_clean_log_has_no_hit(tmp_path):
    secrets = faults.credential_secrets(credentials(tmp_path))
    log_file = write_log(tmp_path, ["TASK [x : y] ****", 'ok: [h1] => {"password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}',
                                    "censored: the output has been hidden due to the fact that 'no_log: true'"])
    hits, dummy, dummy2 = faults.scan([log_file], secrets, users=["pull"])
    assert hits == []


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5])
def test_a_secret_inside_longer_base64_is_found_at_any_alignment(offset):
    value = PASSWORD.encode()
    encoded = base64.b64encode(b"x" * offset + value + b"tail").decode()
    assert any(form in encoded for form in faults.base64_forms(value))


def test_an_ec_keys_public_tail_is_not_searched():
    # The shape of a P-256 key's PEM (a made-up body, no real key): two full lines, then a
    # short last one that is the end of the public key, which community.crypto prints.
    key = ("-----BEGIN EC PRIVATE KEY-----\n"
           "MHcCAQEEIBvJ0aK7wq3l2nS0c7m0W2sX7yA9bQ0dYc0uXl9c3g8RoAoGCCqGSM49\n"
           "AwEHoUQDQgAE9irqBU9TW+MOSFj12txWDQ26IVjGk2gJOOwGRmH1TrgTemTwY7TV\n"
           "kq9bX5rQ0l8yXw3Jc2L4oZ1n6Tq2bE0Q==\n"
           "-----END EC PRIVATE KEY-----\n")
    assert faults.private_key_lines(key) == ["MHcCAQEEIBvJ0aK7wq3l2nS0c7m0W2sX7yA9bQ0dYc0uXl9c3g8RoAoGCCqGSM49",
                                             "AwEHoUQDQgAE9irqBU9TW+MOSFj12txWDQ26IVjGk2gJOOwGRmH1TrgTemTwY7TV"]
    assert not any(t.startswith("kq9bX5") for t in faults.secret_tokens(key))


def test_tokens_of_a_host_secret_file_are_the_random_looking_ones():
    text = ("REGISTRY_HTTP_SECRET=%s\nhost=mlstack-lab-host1\npath=/var/lib/mlstack/label_studio\n"
            "pull:$2y$05$Zr8kQ1m3nT5vX7bD9fH1jOuEwQyS2aC4eG6iK8mO0qS2uW4yA6cE\n" % PASSWORD)
    tokens = faults.secret_tokens(text)
    assert PASSWORD in tokens
    assert any(t.startswith("Zr8kQ1m3") for t in tokens)
    assert not any("mlstack-lab-host1" in t or "/var/lib" in t for t in tokens)


# --- readers of a run's output ----------------------------------------------------------------

def test_the_preflight_lines_are_read_from_the_json_report():
    report = {"plays": [{"play": {"name": faults.PREFLIGHT_PLAY}, "tasks": [
        {"task": {"name": "mlstack.platform.common : Check this host's variables"}, "hosts": {"h1": {"errors": []}}},
        {"task": {"name": "mlstack.platform.common : " + faults.STOP_TASK}, "hosts": {"h1": {
            "failed": True, "msg": "Preflight: 1 problem(s) on 1 host(s); nothing was changed.\nh1: a: b"}}}]},
        {"play": {"name": "Docker hosts"}, "tasks": []}]}
    stdout = "profile_tasks noise\n" + json.dumps(report, indent=4) + "\nTASKS RECAP ****\n"
    parsed = faults.json_report(stdout)
    assert faults.preflight_lines(parsed) == ["h1: a: b"]
    assert faults.plays_that_ran(parsed) == [faults.PREFLIGHT_PLAY]
    assert faults.preflight_lines({"plays": []}) is None
    assert faults.json_report("no report") == {}


def test_recap_and_changed_tasks_are_read_from_a_log(tmp_path):
    log_file = write_log(tmp_path, [
        "TASK [mlstack.platform.postgres : Write pg_hba.conf] ****",
        "changed: [h1]",
        "TASK [mlstack.platform.postgres : Reload] ****",
        "ok: [h1]",
        "PLAY RECAP ****",
        "h1                         : ok=120  changed=1    unreachable=0    failed=0    skipped=40",
    ])
    assert faults.recap(log_file.read_text()) == {"h1": {"ok": 120, "changed": 1, "unreachable": 0, "failed": 0}}
    assert faults.changed_tasks(log_file) == ["changed: mlstack.platform.postgres : Write pg_hba.conf"]


def test_every_bad_input_case_names_its_lines_and_edits_something():
    names = [case.name for case in faults.LAB_CASES]
    assert len(names) == len(set(names)) >= 13
    for case in faults.LAB_CASES:
        assert case.expected and (case.group_vars or case.hosts), case.name
        assert all(line.startswith("mlstack-lab-host1: ") for line in case.expected), case.name
        assert list(case.expected) == sorted(case.expected), case.name  # the preflight sorts its lines


def test_an_edit_that_finds_nothing_to_replace_is_an_error():
    with pytest.raises(ValueError, match="no 'absent: 1'"):
        faults.replace("absent: 1", "x")("present: 1\n")
