"""Runs of the converge playbook on the converged host: check mode, and wrong inputs.

The playbook gathers both hosts' facts (the database address comes from label-studio-db's)
and applies the role to label-studio-app. Wrong inputs must fail before anything changes,
with a message that names the variable.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from testinfra.host import Host

from conftest import INVENTORY_DIR, SCENARIO_DIR

ENV_FILE = "/etc/mlstack/label-studio/label-studio.env"


def run_converge(*options: str) -> subprocess.CompletedProcess[str]:
    playbook = Path(sys.executable).parent / "ansible-playbook"
    command = [str(playbook), "-i", str(INVENTORY_DIR), *options, str(SCENARIO_DIR / "converge.yml")]
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_FORCE_COLOR"}
    env["ANSIBLE_NOCOLOR"] = "1"
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def recap(output: str) -> dict[str, int]:
    match = re.search(r"^label-studio-app\s+:\s+(ok=.*)$", output, re.MULTILINE)
    assert match, output[-3000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def test_check_mode_on_the_converged_host_changes_nothing() -> None:
    result = run_converge("--check", "--diff")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    counters = recap(result.stdout)
    assert counters["changed"] == 0 and counters["failed"] == 0, result.stdout[-5000:]


@pytest.mark.parametrize(
    ("extra_vars", "named"),
    [
        ('{"label_studio_install": "podman"}', "label_studio_install"),
        ('{"label_studio_admin_email": "not-an-address"}', "label_studio_admin_email"),
        ('{"label_studio_wheelhouse_dir": "/nonexistent/wheelhouse"}', "label_studio_wheelhouse_dir"),
        ('{"label_studio_s3_endpoint_url": "minio:9000"}', "label_studio_s3_endpoint_url"),
        ('{"label_studio_projects": [{"description": "no title"}]}', "label_studio_projects"),
        ('{"label_studio_uwsgi_processes": 0}', "label_studio_uwsgi_processes"),
        ('{"label_studio_server": "gunicorn"}', "label_studio_server"),
    ],
)
def test_wrong_input_fails_naming_the_variable_and_changes_nothing(app: Host, extra_vars: str, named: str) -> None:
    before = app.check_output("stat -c '%%Y %%s' %s", ENV_FILE)
    result = run_converge("-e", extra_vars)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr, result.stdout[-3000:]
    assert recap(result.stdout)["changed"] == 0
    assert app.check_output("stat -c '%%Y %%s' %s", ENV_FILE) == before
    assert app.service("label-studio").is_running
