# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""gitlab_runner_stored_tokens (plugins/filter/gitlab_runner_config.py): the tokens of
config.toml as gitlab-runner writes it, for the GitLab of the inventory."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.gitlab_runner_config import (
    FilterModule,
    gitlab_runner_stored_tokens,
)

# As gitlab-runner 18 writes it: top-level settings, [[runners]] with sub-tables, dates.
CONFIG = '''\
concurrent = 6
check_interval = 0
connection_max_age = "15m0s"
shutdown_timeout = 0

[session_server]
  session_timeout = 1800

[[runners]]
  name = "gpu"
  url = "http://192.0.2.40/"
  id = 7
  token = "glrt-gpu"
  token_obtained_at = 2026-12-01T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  [runners.cache]
    MaxUploadedArchiveSize = 0
  [runners.docker]
    tls_verify = false
    image = "nvidia/cuda:12.4.1-base-ubuntu22.04"
    gpus = "all"
    volumes = ["/cache"]

[[runners]]
  name = "cpu"
  url = "http://192.0.2.40"
  id = 8
  token = "glrt-cpu"
  executor = "docker"

[[runners]]
  name = "cpu"
  url = "http://192.0.2.40"
  token = "glrt-cpu-second"
  executor = "docker"

[[runners]]
  name = "elsewhere"
  url = "https://gitlab.elsewhere.example"
  token = "glrt-elsewhere"
  executor = "shell"

[[runners]]
  name = "new"
  url = "http://192.0.2.40"
  token = ""
  executor = "docker"
'''


def test_filter_is_registered():
    assert set(FilterModule().filters()) == {"gitlab_runner_stored_tokens"}


@pytest.mark.parametrize("url", ["http://192.0.2.40", "http://192.0.2.40/"])
def test_tokens_of_the_multi_node_gitlab(url):
    # multi_node's gitlab_runner_url; the first entry of a name wins, one without a token is left out.
    assert gitlab_runner_stored_tokens(CONFIG, url) == {"gpu": "glrt-gpu", "cpu": "glrt-cpu"}


def test_tokens_of_another_gitlab_and_of_none():
    assert gitlab_runner_stored_tokens(CONFIG, "https://gitlab.elsewhere.example") == {"elsewhere": "glrt-elsewhere"}
    assert gitlab_runner_stored_tokens(CONFIG, "http://192.0.2.41") == {}


@pytest.mark.parametrize("text", ["", None, "\n", "concurrent = 1\n"])
def test_no_runners(text):
    assert gitlab_runner_stored_tokens(text, "http://192.0.2.40") == {}


def test_escapes_are_read_as_toml():
    # A regular expression over the text would stop at the escaped quote.
    text = '[[runners]]\n  name = "a \\"b\\""\n  url = "http://g"\n  token = "t"\n'
    assert gitlab_runner_stored_tokens(text, "http://g") == {'a "b"': "t"}


def test_invalid_toml_names_the_line_not_the_token():
    text = '[[runners]]\n  name = "a"\n  token = "glrt-secret\n'
    with pytest.raises(AnsibleFilterError, match="config.toml is not valid TOML") as err:
        gitlab_runner_stored_tokens(text, "http://g")
    assert "glrt-secret" not in str(err.value)
    with pytest.raises(AnsibleFilterError, match=r"not an array of tables"):
        gitlab_runner_stored_tokens('runners = "x"\n', "http://g")
