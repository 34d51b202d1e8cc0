# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Role common's entry points `chart` and `snap` run for real (ansible-playbook, connection
local, this machine as the host; tests/unit/files/chart_snap_entry_points.yml) against a
bundle directory laid out as docs/bundle-format.md says: the first run copies the chart and
the snaps, a second run copies and changes nothing, a host copy of the right size but other
content is replaced, online nothing is copied, and a chart the artifact layer does not list
for the host, or that the bundle does not hold, is refused by name before anything is copied."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests/unit/files/chart_snap_entry_points.yml"

MANIFEST = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())["mlstack_artifacts_builtin"]
DETERMINED = MANIFEST["charts"]["determined"]
CHART_FILE = "charts/%s-%s.tgz" % (DETERMINED["chart"], DETERMINED["version"])
SNAPS = {"snapd": "25577", "core22": "2139", "microk8s": "8500"}


def _write_bundle(bundle: pathlib.Path) -> dict:
    files = {CHART_FILE: b"determined chart stand-in " * 40}
    for name, rev in SNAPS.items():
        files["snaps/%s_%s.snap" % (name, rev)] = b"snap stand-in of " + name.encode() * 200
        files["snaps/%s_%s.assert" % (name, rev)] = b"type: snap-revision\nsnap-name: " + name.encode() + b"\n"
    for rel, data in files.items():
        (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
        (bundle / rel).write_bytes(data)
    manifest = {
        "format": 1,
        "artifacts": [
            {"id": "chart/determined", "kind": "chart", "key": "determined", "files": [CHART_FILE]},
            {"id": "snap/microk8s", "kind": "snap", "key": "microk8s",
             "files": sorted(rel for rel in files if rel.startswith("snaps/"))},
        ],
        "files": {rel: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for rel, data in files.items()},
    }
    (bundle / "MANIFEST.json").write_text(json.dumps(manifest))
    return files


@pytest.fixture
def site(tmp_path):
    bundle = tmp_path / "bundle"
    files = _write_bundle(bundle)
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "mlstack_target": "debian-bookworm"}
    inventory = {"all": {
        "children": {"k8s_control_plane": {"hosts": {"ml1": host}}},
        "vars": {"mlstack_offline": True, "mlstack_bundle_dir": str(bundle),
                 "mlstack_credentials_dir": str(tmp_path / "credentials"),
                 "scenario_host_dir": str(tmp_path / "host")},
    }}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    return {"tmp": tmp_path, "bundle": bundle, "files": files, "host": tmp_path / "host"}


def play(site, *extra: str, fail: bool = False):
    out = site["tmp"] / "out.json"  # kept between runs: rewritten only when the facts change
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOME=str(ROOT / ".ansible"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible/collections"),
               ANSIBLE_LOCAL_TEMP=str(site["tmp"] / "ansible-tmp"))
    args = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(site["tmp"] / "hosts.yml"),
            str(PLAYBOOK), "-e", "out=%s" % out]
    for item in extra:
        args += [item] if item.startswith("--") else ["-e", item]
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    text = result.stdout + result.stderr
    assert (result.returncode != 0) == fail, text[-4000:]
    recap = re.search(r"^ml1\s+:\s+(.*)$", result.stdout, re.M)
    counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))} if recap else {}
    return counts, (json.loads(out.read_text()) if out.exists() else None), text


def test_offline_copies_once_then_nothing_then_only_what_differs(site):
    counts, facts, text = play(site)
    host = site["host"]
    chart = host / "charts" / os.path.basename(CHART_FILE)
    assert facts["charts"]["determined"] == {"chart_ref": str(chart), "chart_repo_url": "", "path": str(chart),
                                             "chart_version": str(DETERMINED["version"]), "pending": False}
    assert chart.read_bytes() == site["files"][CHART_FILE]
    for name, rev in SNAPS.items():
        refs = facts["snaps"][name]
        assert refs == {"snap": str(host / "snaps" / ("%s_%s.snap" % (name, rev))),
                        "assert": str(host / "snaps" / ("%s_%s.assert" % (name, rev)))}
        assert pathlib.Path(refs["snap"]).read_bytes() == site["files"]["snaps/%s_%s.snap" % (name, rev)]
        assert pathlib.Path(refs["assert"]).read_bytes() == site["files"]["snaps/%s_%s.assert" % (name, rev)]
    # Tasks: the two directories, the two copies, the written facts.
    assert counts["changed"] == 5, text[-3000:]

    counts, again, text = play(site)
    assert counts["changed"] == 0, text[-3000:]
    assert "Copy the files the host lacks" in text and "changed: [ml1] => (item=" not in text
    assert again == facts

    # A host copy of the right size but other content, and a missing one: those two only.
    chart.write_bytes(b"x" * len(site["files"][CHART_FILE]))
    snap = host / "snaps" / "core22_2139.snap"
    snap.unlink()
    counts, dummy, text = play(site)
    assert counts["changed"] == 2, text[-3000:]
    assert re.findall(r"changed: \[ml1\] => \(item=(\S+)\)", text) == [str(chart), str(snap)]
    assert chart.read_bytes() == site["files"][CHART_FILE]
    assert snap.read_bytes() == site["files"]["snaps/core22_2139.snap"]


def test_online_nothing_is_copied(site):
    counts, facts, text = play(site, "mlstack_offline=false")
    assert facts["charts"]["determined"] == {"chart_ref": DETERMINED["chart"], "chart_repo_url": DETERMINED["repository"],
                                             "chart_version": str(DETERMINED["version"]), "path": "", "pending": False}
    assert facts["snaps"] == {"snapd": {"channel": "stable"}, "core22": {"channel": "stable"},
                              "microk8s": {"channel": MANIFEST["snaps"]["microk8s"]["channel"]}}
    assert not site["host"].exists(), text[-3000:]


def test_check_mode_copies_nothing_and_says_pending(site):
    counts, facts, text = play(site, "--check", '{"scenario_snap_names": ["microk8s"]}')
    # (check mode writes `out` all the same: check_mode false on that task)
    assert facts["charts"]["determined"]["pending"] is True, text[-3000:]
    assert sorted(facts["snaps"]) == ["microk8s"]
    assert not site["host"].exists()


def test_chart_the_artifact_layer_does_not_list_is_refused(site):
    counts, facts, text = play(site, "determined_enabled=false", "scenario_snaps=false", fail=True)
    assert "asks for chart/determined, which mlstack.platform.artifacts does not list for ml1" in text
    assert not site["host"].exists()


def test_version_the_bundle_lacks_is_refused_by_name(site):
    counts, facts, text = play(site, "scenario_chart_version=0.99.0", "scenario_snaps=false", fail=True)
    assert re.search(r"artifact chart/determined of the bundle \S+ has no file charts/determined-0\.99\.0\.tgz "
                     r"\(it has %s\)" % re.escape(CHART_FILE), text), text[-3000:]
    assert not site["host"].exists()


def test_unknown_chart_key_is_refused(site):
    counts, facts, text = play(site, "scenario_chart=charts.nonesuch", "scenario_snaps=false", fail=True)
    assert "common_chart 'charts.nonesuch' (a role) is not a key of mlstack_artifacts.charts" in text \
        or "common_chart 'charts.nonesuch'" in text, text[-3000:]
