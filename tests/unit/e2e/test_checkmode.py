# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The pure parts of tests/e2e/checkmode.py, without hosts or playbook runs: the play headers
and "Check mode:" messages read from the output of a real `site.yml --check --diff` on fresh
lab_multi hosts (shortened), the plays a run never reached, and what makes a fresh or a
converged check run fail."""

from __future__ import annotations

import importlib.util
import os
import sys

CHECKMODE_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "e2e", "checkmode.py")


def _load():
    spec = importlib.util.spec_from_file_location("mlstack_e2e_checkmode", CHECKMODE_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


checkmode = _load()

LISTED = [
    "Preflight (every host's inputs, before anything changes)",
    "Docker hosts",
    "Site registry and package mirror",
    "S3 object storage",
    "MLReef Nautilus",
]

# As ansible-core 2.19's default callback (result_format yaml) printed it on 2026-12-02.
OUTPUT = """
PLAY [Preflight (every host's inputs, before anything changes)] ****************

TASK [mlstack.platform.common : Check every host's inputs] *********************
ok: [m1]
ok: [m2]

PLAY [Docker hosts] ************************************************************

TASK [mlstack.platform.docker_host : Report what check mode cannot simulate] ***
Wednesday 02 December 2026  06:24:10 +0000 (0:00:00.051)       0:00:37.125 ****
ok: [m2] => {
    "msg": "Check mode: apt does not know runc, docker.io yet (its lists are empty), so the installation of docker.io, runc is not simulated."
}
ok: [m1] => {
    "msg": "Check mode: apt does not know runc, docker.io yet (its lists are empty), so the installation of docker.io, runc is not simulated."
}

TASK [mlstack.platform.docker_host : Print the engine's version] ***************
ok: [m1] => {
    "msg": "Docker 20.10"
}

PLAY [Site registry and package mirror] ****************************************

TASK [mlstack.platform.offline_registry : Report that check mode stops before the registry exists] ***
ok: [m1] => {
    "msg": "Check mode: the registry's \\"pull\\" endpoint is not simulated on this run."
}

PLAY [S3 object storage] *******************************************************
skipping: no hosts matched

PLAY [MLReef Nautilus] *********************************************************
skipping: no hosts matched

PLAY RECAP *********************************************************************
m1                         : ok=75   changed=5    unreachable=0    failed=0    skipped=24   rescued=0    ignored=0
m2                         : ok=36   changed=3    unreachable=0    failed=0    skipped=17   rescued=0    ignored=0
"""


def test_plays_run_reads_every_play_header_in_order():
    assert checkmode.plays_run(OUTPUT) == LISTED


def test_missing_plays_are_those_after_the_run_ended():
    ran = checkmode.plays_run(OUTPUT.split("PLAY [S3 object storage]", maxsplit=1)[0])
    assert checkmode.missing_plays(LISTED, ran) == ["S3 object storage", "MLReef Nautilus"]
    assert checkmode.missing_plays(LISTED, LISTED) == []


def test_missing_plays_counts_a_play_name_once_per_header():
    listed = ["Facts", "Docker hosts", "Facts"]
    assert checkmode.missing_plays(listed, ["Facts", "Docker hosts"]) == ["Facts"]


def test_notes_are_the_check_mode_messages_by_host():
    said = checkmode.notes(OUTPUT)
    assert sorted(said) == ["m1", "m2"]
    assert len(said["m1"]) == 2 and len(said["m2"]) == 1
    assert said["m2"][0].startswith("Check mode: apt does not know runc, docker.io yet")
    assert said["m1"][1] == 'Check mode: the registry\'s "pull" endpoint is not simulated on this run.'
    # Other debug messages are not notes.
    assert not any("Docker 20.10" in msg for msgs in said.values() for msg in msgs)


def test_a_fresh_run_with_changes_and_notes_passes():
    result = checkmode.evaluate(OUTPUT, 0, LISTED, ["m1", "m2"], converged=False)
    assert result["ok"], result["problems"]
    assert (result["plays"], result["plays_reached"], result["changed"]) == (5, 5, 8)
    assert result["recap"]["m2"] == {"ok": 36, "changed": 3, "unreachable": 0, "failed": 0}


def test_a_converged_run_must_change_nothing_and_leave_nothing_unsimulated():
    result = checkmode.evaluate(OUTPUT, 0, LISTED, ["m1", "m2"], converged=True)
    assert not result["ok"]
    assert "m1: changed=5" in result["problems"] and "m2: changed=3" in result["problems"]
    assert any(p.startswith("not simulated on a converged site: m1: Check mode: apt")
               for p in result["problems"])


def test_a_clean_converged_run_passes():
    clean = "\n".join(line for line in OUTPUT.splitlines() if "Check mode:" not in line)
    clean = clean.replace("changed=5 ", "changed=0 ").replace("changed=3 ", "changed=0 ")
    result = checkmode.evaluate(clean, 0, LISTED, ["m1", "m2"], converged=True)
    assert result["ok"], result["problems"]
    assert result["changed"] == 0 and result["not_simulated"] == {}


def test_a_failed_host_a_missing_host_and_an_early_end_are_problems():
    cut = OUTPUT.split("PLAY [S3 object storage]", maxsplit=1)[0] + (
        "PLAY RECAP ***\n"
        "m1                         : ok=75   changed=5    unreachable=0    failed=1    skipped=24\n")
    result = checkmode.evaluate(cut, 2, LISTED, ["m1", "m2"], converged=False)
    assert result["problems"] == [
        "m2: not in the recap",
        "m1: failed=1",
        "plays never reached: S3 object storage; MLReef Nautilus",
        "ansible-playbook exited 2",
    ]
    assert not result["ok"] and result["plays_reached"] == 3


def test_unreachable_hosts_are_problems_even_unchanged():
    text = OUTPUT.replace("unreachable=0    failed=0    skipped=17", "unreachable=1    failed=0    skipped=17")
    result = checkmode.evaluate(text, 4, LISTED, ["m1", "m2"], converged=False)
    assert "m2: unreachable=1" in result["problems"]
