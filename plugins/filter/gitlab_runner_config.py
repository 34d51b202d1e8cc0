# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the gitlab_runner role reads from gitlab-runner's config.toml: the token of each
runner of a GitLab, read with the collection's own TOML reader (the one the module
gitlab_runner_register uses).

Documentation of the filter is beside this file (gitlab_runner_stored_tokens.yml).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mlstack.platform.plugins.module_utils import _runner_config
from ansible_collections.mlstack.platform.plugins.module_utils._runner_toml import TomlError, loads


def gitlab_runner_stored_tokens(config_text, url):
    """{name: token} of the [[runners]] entries of config.toml registered at ``url`` (a
    trailing slash does not count) that have a token; the first entry of a name wins.
    SECRET: the result holds tokens."""
    text = to_text(config_text or "")
    if not text.strip():
        return {}
    try:
        entries = _runner_config.runners(loads(text))
    except TomlError as exc:
        # The parser's message names the line and the mistake, not the line's content.
        raise AnsibleFilterError("gitlab_runner_stored_tokens: config.toml is not valid TOML (%s)" % exc)
    except _runner_config.RunnerConfigError as exc:
        raise AnsibleFilterError("gitlab_runner_stored_tokens: %s" % exc)
    found = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, token = to_text(entry.get("name", "")), to_text(entry.get("token", ""))
        if _runner_config.normalize_url(to_text(entry.get("url", ""))) != _runner_config.normalize_url(to_text(url)):
            continue
        if token and name not in found:
            found[name] = token
    return found


class FilterModule:
    """The gitlab_runner role's reading of config.toml."""

    def filters(self):
        return {"gitlab_runner_stored_tokens": gitlab_runner_stored_tokens}
