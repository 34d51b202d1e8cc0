# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The config.toml reader/writer, checked against Python's own TOML reader (tomllib,
an independent implementation) on config.toml files shaped as GitLab documents them."""

from __future__ import annotations

import datetime
import math
import random
import string
import typing as t

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils._runner_toml import (
    TomlDateTime,
    TomlError,
    dump_value,
    dumps,
    loads,
)

tomllib = pytest.importorskip("tomllib")

# Shaped like the config.toml gitlab-runner writes and GitLab's "Advanced configuration"
# page shows: global keys, [session_server], [[runners]] with nested executor tables,
# cache sub-tables, kubernetes pod_spec (a multi-line literal patch) and host_path volumes.
GITLAB_RUNNER_CONFIG = '''\
concurrent = 4
check_interval = 0
shutdown_timeout = 0
log_level = "info"

[session_server]
  session_timeout = 1800

[[runners]]
  name = "gpu-host-1"
  url = "https://gitlab.example.com/"
  id = 42
  token = "glrt-t1_EXAMPLEexample"
  token_obtained_at = 2024-05-01T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  limit = 2
  environment = ["NVIDIA_DRIVER_CAPABILITIES=all", "A=1"]  # hand-written comment
  [runners.custom_build_dir]
  [runners.cache]
    MaxUploadedArchiveSize = 0
    Type = "s3"
    [runners.cache.s3]
      ServerAddress = "minio.example.com:9000"
      AccessKey = "minio"
      SecretKey = "secret"
      BucketName = "runner"
      Insecure = false
    [runners.cache.gcs]
    [runners.cache.azure]
  [runners.docker]
    tls_verify = false
    image = "nvidia/cuda:12.4.1-base-ubuntu22.04"
    privileged = false
    disable_entrypoint_overwrite = false
    oom_kill_disable = false
    disable_cache = false
    volumes = [
      "/cache",
      "/var/run/docker.sock:/var/run/docker.sock",
    ]
    devices = ["/dev/nvidia0"]
    gpus = "all"
    shm_size = 2_147_483_648
    cpus = "1.5"
    memory_reservation = '512m'
    network_mtu = 0
    [runners.docker.sysctls]
      "net.ipv4.ip_forward" = "1"

[[runners]]
  name = "k8s"
  url = "https://gitlab.example.com"
  id = 43
  token = "glrt-other"
  token_obtained_at = 2024-05-02T11:12:13.5+02:00
  token_expires_at = 2025-05-02
  executor = "kubernetes"
  [runners.kubernetes]
    namespace = "gitlab-ci"
    poll_timeout = 600
    cpu_request_overwrite_max_allowed = ""
    node_selector = { "nvidia.com/gpu.present" = "true", zone = 'a' }
    [[runners.kubernetes.pod_spec]]
      name = "gpu"
      patch_type = "strategic"
      patch = \'\'\'
        containers:
          - name: build
            resources: {limits: {nvidia.com/gpu: 1}}
      \'\'\'
    [[runners.kubernetes.volumes.host_path]]
      name = "models"
      mount_path = "/models"
      read_only = true
'''


def plain(value: t.Any) -> t.Any:
    """tomllib's date-times as text, to compare with this module's TomlDateTime."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return "datetime"
    if isinstance(value, TomlDateTime):
        return "datetime"
    return value


def test_reads_gitlab_runner_config_like_tomllib():
    ours = loads(GITLAB_RUNNER_CONFIG)
    assert plain(ours) == plain(tomllib.loads(GITLAB_RUNNER_CONFIG))
    assert ours["runners"][0]["token_obtained_at"] == "2024-05-01T10:00:00Z"
    assert isinstance(ours["runners"][0]["token_expires_at"], TomlDateTime)
    assert ours["runners"][1]["token_obtained_at"] == "2024-05-02T11:12:13.5+02:00"
    assert ours["runners"][0]["docker"]["shm_size"] == 2147483648
    assert ours["runners"][1]["kubernetes"]["pod_spec"][0]["patch"].startswith("        containers:\n")


def test_written_config_reads_back_the_same_in_both_readers():
    document = loads(GITLAB_RUNNER_CONFIG)
    text = dumps(document)
    assert loads(text) == document
    assert plain(tomllib.loads(text)) == plain(tomllib.loads(GITLAB_RUNNER_CONFIG))
    assert dumps(loads(text)) == text


def test_writes_the_way_gitlab_runner_formats_it():
    document = {"concurrent": 1, "session_server": {"session_timeout": 1800},
                "runners": [{"name": "a", "token_obtained_at": TomlDateTime("2024-05-01T10:00:00Z"),
                             "docker": {"image": "alpine", "volumes": ["/cache"]}, "cache": {"s3": {}}}]}
    assert dumps(document) == (
        "concurrent = 1\n"
        "\n"
        "[session_server]\n"
        "  session_timeout = 1800\n"
        "\n"
        "[[runners]]\n"
        "  name = \"a\"\n"
        "  token_obtained_at = 2024-05-01T10:00:00Z\n"
        "  [runners.docker]\n"
        "    image = \"alpine\"\n"
        "    volumes = [\"/cache\"]\n"
        "  [runners.cache]\n"
        "    [runners.cache.s3]\n")


@pytest.mark.parametrize("text, expected", [
    ('a = "tab\\there \\"q\\" \\\\ \\u00e9 \\U0001F600"', "tab\there \"q\" \\ \u00e9 \U0001F600"),
    ("a = 'C:\\path\\no escapes'", "C:\\path\\no escapes"),
    ('a = """\nline1\nline2"""', "line1\nline2"),
    ('a = """one \\\n    two"""', "one two"),
    ("a = '''\nraw \\n ''quoted'' '''", "raw \\n ''quoted'' "),
    ("a = '''two quotes at the end'''''", "two quotes at the end''"),
    ('a = """quote at end\\""""', 'quote at end"'),
])
def test_strings(text, expected):
    assert loads(text)["a"] == expected == tomllib.loads(text)["a"]


@pytest.mark.parametrize("text", [
    "a = 0x1F", "a = 0o17", "a = 0b101", "a = -17", "a = +3", "a = 1_000", "a = 3.25", "a = -1e-3",
    "a = 6.02E+23", "a = inf", "a = -inf", "a = true", "a = false", "a = 1979-05-27T07:32:00",
    "a = 1979-05-27 07:32:00Z", "a = 07:32:00", "a = [[1, 2], ['x']]", "a = {}", "a = []",
    "a.b.c = 1", '"quoted key".x = 2', "a = { x = { y = [1, {z = 2}] } }",
])
def test_values_match_tomllib(text):
    assert plain(loads(text)) == plain(tomllib.loads(text))
    assert plain(tomllib.loads(dumps(loads(text)))) == plain(tomllib.loads(text))


def test_nan_reads_as_float():
    value = loads("a = nan")["a"]
    assert isinstance(value, float) and math.isnan(value)
    assert dumps({"a": value}) == "a = nan\n"


@pytest.mark.parametrize("text, message", [
    ("a = 1\na = 2", "line 2: key 'a' is defined twice"),
    ("[t]\n[t]", "line 2: table [t] is defined twice"),
    ('a = "open\n', "line 1: unterminated string"),
    ("a = 1 2", "line 1: unexpected '2'"),
    ("a = [1, 2", "expected ',' or ']'"),
    ("a =", "expected a value"),
    ("a = 1\n[a]", "line 2: table [a] is already a value"),
    ('a = "\\q"', "unknown escape"),
    ("= 1", "expected a key"),
    ("a = 1\n[[a]]", "not an array of tables"),
])
def test_errors_name_the_line(text, message):
    with pytest.raises(TomlError) as caught:
        loads(text)
    assert message in str(caught.value)


def test_crlf_and_comments():
    text = "# header\r\na = 1 # one\r\n[t] # table\r\nb = [ # open\r\n  2, # two\r\n]\r\n"
    assert loads(text) == {"a": 1, "t": {"b": [2]}}


def test_dump_value_rejects_what_toml_cannot_hold():
    with pytest.raises(TypeError):
        dump_value(object())
    assert dump_value(1.0) == "1.0" and dump_value(1e300) == "1e+300"
    assert dump_value("x\nends with quote'") == '"x\\nends with quote\'"'
    assert dump_value("two\nlines") == "'''\ntwo\nlines'''"
    assert dump_value("a\x01b") == '"a\\u0001b"'


def random_value(rng: random.Random, depth: int) -> t.Any:
    kind = rng.choice(["str", "int", "float", "bool", "list", "table"] if depth < 3 else ["str", "int", "bool"])
    if kind == "str":
        return "".join(rng.choice(string.printable + "\u00e9\u4e2d'\"\\") for _position in range(rng.randint(0, 12)))
    if kind == "int":
        return rng.randint(-2 ** 40, 2 ** 40)
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        if rng.random() < 0.3:
            return [random_table(rng, depth + 1) for _item in range(rng.randint(1, 3))]
        return [random_value(rng, depth + 1) for _item in range(rng.randint(0, 4))]
    return random_table(rng, depth + 1)


def random_table(rng: random.Random, depth: int) -> t.Dict[str, t.Any]:
    keys = ["k", "key-%d" % rng.randint(0, 9), "dotted.key", "spaced key", "é", ""]
    return {rng.choice(keys) + str(n): random_value(rng, depth) for n in range(rng.randint(0, 5))}


def test_random_documents_round_trip_through_both_readers():
    rng = random.Random(20240501)
    for _document in range(300):
        document = random_table(rng, 0)
        text = dumps(document)
        assert loads(text) == document, text
        assert tomllib.loads(text) == document, text
