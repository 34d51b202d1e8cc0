# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The health report filters of playbooks/verify.yml: records, refusal of secret-looking
values, sorting, summary, table, the failure list and reading runners out of config.toml."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.health import (
    FilterModule, health_failures, health_record, health_report, health_runner_tokens, health_summary,
    health_table, health_unreached)


def record(check, host="host1", service="registry", ok=True, detail="HTTP 401 (401 expected)", endpoint="https://r:5000/v2/"):
    return health_record(check, host=host, service=service, endpoint=endpoint, ok=ok, detail=detail)


def test_a_record_has_the_six_fields_and_normalised_text():
    rec = health_record("anonymous request refused", host="host1", service="registry",
                        endpoint="https://r:5000/v2/", ok=True, detail="HTTP 401\n  (401 expected)")
    assert rec == {"host": "host1", "service": "registry", "endpoint": "https://r:5000/v2/",
                   "check": "anonymous request refused", "ok": True, "detail": "HTTP 401 (401 expected)"}
    assert json.loads(json.dumps(rec)) == rec


@pytest.mark.parametrize("value,expected", [(True, True), (False, False), ("True", True), ("false", False)])
def test_ok_is_a_boolean(value, expected):
    assert record("c", ok=value)["ok"] is expected


def test_ok_must_be_given_and_boolean():
    with pytest.raises(AnsibleFilterError, match="has no ok"):
        health_record("c", host="h", service="s")
    with pytest.raises(AnsibleFilterError, match="must be a boolean"):
        record("c", ok="maybe")


def test_host_service_and_check_are_required_and_text():
    with pytest.raises(AnsibleFilterError, match="check 'c' has no host"):
        health_record("c", host="", service="s", ok=True)
    with pytest.raises(AnsibleFilterError, match="has no service"):
        health_record("c", host="h", service=None, ok=True)
    with pytest.raises(AnsibleFilterError, match="detail of check 'c' must be text"):
        record("c", detail={"status": 200})


# What the lab's credentials look like (ansible.builtin.password: letters and digits; S3
# access keys: 20 upper-case letters and digits), GitLab tokens, PEM blocks, URLs with a
# password, key=value spellings.
@pytest.mark.parametrize("detail", [
    "pull password is Xk3hP9qLm2Vt7RbN4sWz8YcA1dFg6HjE",
    "access key QW3ERT5YUI8OP1ASDFGH for determined",
    "runner token glrt-t3_AbCdEfGhIjKlMnOpQr",
    "registration GR1348941abcdefghijklmnop",
    "-----BEGIN PRIVATE KEY----- MIIEv",
    "https://pull:hunter22@registry:5000/v2/",
    "password=hunter22",
    "secret_key: abcdefgh",
    "token = deadbeef1234",
])
def test_a_secret_looking_detail_is_refused_without_repeating_it(detail):
    with pytest.raises(AnsibleFilterError, match="looks like it holds a secret") as err:
        record("c", detail=detail)
    for word in detail.split():
        if len(word) >= 8 and any(ch.isdigit() for ch in word):
            assert word not in str(err.value)


def test_a_secret_looking_endpoint_is_refused():
    with pytest.raises(AnsibleFilterError, match="endpoint of check 'c' looks like it holds a secret"):
        record("c", endpoint="https://pull:hunter22@registry:5000/v2/")


@pytest.mark.parametrize("detail", [
    "Docker Engine 20.10.24+dfsg1 (Debian GNU/Linux 12 (bookworm)), storage driver overlay2",
    "PostgreSQL 15.14 (Debian 15.14-0+deb12u1), scram-sha-256, clients from 10.213.0.0/24",
    "refused: password authentication failed for user determined",
    "refused: 403 SignatureDoesNotMatch",
    "refused: 403 InvalidAccessKeyId",
    "keys: /work/main/inventories/lab/credentials/object-store/<consumer>.access_key",
    "digest sha256:" + "0123456789abcdef" * 4,
    "repositories: mlstack-lab/registry, mlstack-lab/seaweedfs, mlstack-lab/pypiserver",
    "listed with the key in /x/credentials/object-store/label_studio.access_key",
    "HTTP 200 UP, admin admin@labelstudio.invalid",
])
def test_ordinary_details_pass(detail):
    assert record("c", detail=detail)["detail"] == detail


def test_report_sorts_by_host_service_check_and_summarises():
    records = [
        record("wrong password refused", host="host2", service="registry"),
        record("anonymous request refused", host="host2", service="registry", ok=False, detail="HTTP 200 (401 expected)"),
        record("engine answers", host="host2", service="docker"),
        record("health answers", host="host1", service="label_studio"),
    ]
    report = health_report(records, "2026-12-01T23:59:00Z")
    assert [(r["host"], r["service"], r["check"]) for r in report["checks"]] == [
        ("host1", "label_studio", "health answers"),
        ("host2", "docker", "engine answers"),
        ("host2", "registry", "anonymous request refused"),
        ("host2", "registry", "wrong password refused"),
    ]
    assert report["summary"] == {"checks": 4, "passed": 3, "failed": 1, "time": "2026-12-01T23:59:00Z"}
    assert health_summary(records) == {"checks": 4, "passed": 3, "failed": 1, "time": ""}


def test_report_revalidates_records_from_hosts():
    bad = dict(record("c"), detail="password=hunter22")
    with pytest.raises(AnsibleFilterError, match="looks like it holds a secret"):
        health_report([bad])
    with pytest.raises(AnsibleFilterError, match="exactly the keys"):
        health_report([{"host": "h", "check": "c", "ok": True}])
    with pytest.raises(AnsibleFilterError, match="expected a list"):
        health_report({"host": "h"})


def test_table_has_one_aligned_line_per_check():
    records = [
        record("anonymous request refused", host="mlstack-lab-host1", ok=False, detail="HTTP 200 (401 expected)"),
        record("engine answers", host="h2", service="docker", detail="Docker Engine 20.10"),
    ]
    lines = health_table(records)
    assert len(lines) == 3
    assert lines[0].split() == ["HOST", "SERVICE", "CHECK", "RESULT", "DETAIL"]
    assert lines[1].split()[:2] == ["h2", "docker"] and " ok " in lines[1] and lines[1].endswith("Docker Engine 20.10")
    assert "FAILED" in lines[2] and lines[2].endswith("HTTP 200 (401 expected)")
    # Columns line up: every RESULT cell starts at the same offset.
    offsets = {line.index(cell) for line, cell in zip(lines, ["RESULT", "ok", "FAILED"])}
    assert len(offsets) == 1


def test_failures_name_each_failed_check_in_one_line():
    records = [
        record("anonymous pull refused", ok=False, detail="HTTP 200 for a:1 (401 expected)",
               endpoint="https://r:5000/v2/a/manifests/1"),
        record("pull user lists the catalog"),
        record("wrong password refused", host="h0", service="postgres", ok=False, endpoint="",
               detail="a wrong password was accepted"),
    ]
    assert health_failures(records) == [
        "h0 postgres: wrong password refused: a wrong password was accepted",
        "host1 registry: anonymous pull refused (https://r:5000/v2/a/manifests/1): HTTP 200 for a:1 (401 expected)",
    ]
    assert health_failures([record("c")]) == []


def test_unreached_hosts_get_a_failed_record():
    records = [record("engine answers", host="h1", service="docker")]
    expected = [{"host": "h1", "service": "docker"}, {"host": "h2", "service": "docker"},
                {"host": "h2", "service": "docker"}, {"host": "h1", "service": "postgres"}]
    missing = health_unreached(records, expected)
    assert [(r["host"], r["service"], r["ok"]) for r in missing] == [("h2", "docker", False), ("h1", "postgres", False)]
    assert health_summary(records + missing)["failed"] == 2


CONFIG_TOML = '''concurrent = 2
check_interval = 0

[session_server]
  session_timeout = 1800

[[runners]]
  name = "host3"
  url = "http://10.213.0.12"
  id = 1
  token = "glrt-AAAAbbbbCCCCddddEEEE"
  token_obtained_at = 2026-12-01T20:00:00Z
  executor = "docker"
  [runners.docker]
    image = "debian:bookworm"

[[runners]]
  name = "host3-gpu"
  url = "http://10.213.0.12/"
  token = "glrt-ZZZZyyyyXXXXwwwwVVVV"
  executor = "docker"
'''


def test_runner_tokens_are_read_from_config_toml():
    assert health_runner_tokens(CONFIG_TOML) == [
        {"name": "host3", "url": "http://10.213.0.12", "token": "glrt-AAAAbbbbCCCCddddEEEE"},
        {"name": "host3-gpu", "url": "http://10.213.0.12/", "token": "glrt-ZZZZyyyyXXXXwwwwVVVV"},
    ]
    assert health_runner_tokens("concurrent = 1\n") == []


def test_runner_tokens_refuse_a_broken_file():
    with pytest.raises(AnsibleFilterError, match="config.toml is not TOML"):
        health_runner_tokens('[[runners]]\n  name = "x\n')


def test_a_runner_token_never_passes_into_a_record():
    token = health_runner_tokens(CONFIG_TOML)[0]["token"]
    with pytest.raises(AnsibleFilterError, match="secret"):
        record("GitLab verifies the token of runner host3", detail="token " + token)


def test_the_filter_module_exports_every_filter():
    assert sorted(FilterModule().filters()) == [
        "health_failures", "health_record", "health_report", "health_runner_tokens", "health_summary",
        "health_table", "health_unreached"]
