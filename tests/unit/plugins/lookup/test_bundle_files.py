# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Lookup mlstack.platform.bundle_files: an artifact's files with the size and sha256 the
bundle's MANIFEST.json records, without hashing anything, and each way a bundle can fail it."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible.errors import AnsibleLookupError

from ansible_collections.mlstack.platform.plugins.lookup.bundle_files import LookupModule, bundle_files

FILES = {
    "charts/determined-0.38.1.tgz": b"determined chart archive",
    "snaps/snapd_25577.snap": b"snapd snap" * 10,
    "snaps/snapd_25577.assert": b"type: snap-revision\n",
    "snaps/core22_2139.snap": b"core22 snap" * 10,
    "snaps/core22_2139.assert": b"type: snap-declaration\n",
}


def make_bundle(root, files=None, artifacts=None):
    files = FILES if files is None else files
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as stream:
            stream.write(data)
    if artifacts is None:
        artifacts = [
            {"id": "chart/determined", "kind": "chart", "key": "determined",
             "files": ["charts/determined-0.38.1.tgz"]},
            {"id": "snap/microk8s", "kind": "snap", "key": "microk8s",
             "files": sorted(rel for rel in files if rel.startswith("snaps/"))},
        ]
    manifest = {"format": 1, "artifacts": artifacts,
                "files": {rel: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                          for rel, data in files.items()}}
    with open(os.path.join(root, "MANIFEST.json"), "w", encoding="utf-8") as stream:
        json.dump(manifest, stream)
    return str(root)


def run(bundle, **options):
    return LookupModule().run([bundle], **options)


def test_chart_file_with_recorded_size_and_digest(tmp_path):
    bundle = make_bundle(tmp_path)
    data = FILES["charts/determined-0.38.1.tgz"]
    result = run(bundle, artifact="chart/determined", patterns=["charts/determined-0.38.1.tgz"],
                 dest="/var/lib/mlstack/charts/")
    assert result == [{"path": "charts/determined-0.38.1.tgz",
                       "src": os.path.join(bundle, "charts", "determined-0.38.1.tgz"),
                       "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                       "dest": "/var/lib/mlstack/charts/determined-0.38.1.tgz"}]


def test_nothing_is_read_but_the_manifest(tmp_path, monkeypatch):
    """The digests come from MANIFEST.json: a file whose content changed behind the
    manifest's back (same size) is reported with the recorded digest (bundle_verify's job)."""
    bundle = make_bundle(tmp_path)
    path = os.path.join(bundle, "charts", "determined-0.38.1.tgz")
    with open(path, "wb") as stream:
        stream.write(b"X" * len(FILES["charts/determined-0.38.1.tgz"]))
    opened = []
    real_open = open

    def spy(name, *args, **kwargs):
        opened.append(os.path.basename(str(name)))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    result = bundle_files(bundle, "chart/determined", ["charts/determined-0.38.1.tgz"])
    assert opened == ["MANIFEST.json"]
    assert result[0]["sha256"] == hashlib.sha256(FILES["charts/determined-0.38.1.tgz"]).hexdigest()


def test_snap_pairs_in_pattern_order(tmp_path):
    bundle = make_bundle(tmp_path)
    result = run(bundle, artifact="snap/microk8s",
                 patterns=["snaps/core22_*.snap", "snaps/core22_*.assert", "snaps/snapd_*.snap", "snaps/snapd_*.assert"])
    assert [r["path"] for r in result] == ["snaps/core22_2139.snap", "snaps/core22_2139.assert",
                                           "snaps/snapd_25577.snap", "snaps/snapd_25577.assert"]
    assert "dest" not in result[0]


def test_no_patterns_gives_every_file_of_the_artifact(tmp_path):
    bundle = make_bundle(tmp_path)
    result = run(bundle, artifact="snap/microk8s")
    assert [r["path"] for r in result] == sorted(rel for rel in FILES if rel.startswith("snaps/"))


def test_not_a_bundle(tmp_path):
    with pytest.raises(AnsibleLookupError, match=r"bundle_files: .* has no MANIFEST.json, so it is not a bundle"):
        run(str(tmp_path), artifact="chart/determined")


def test_manifest_that_is_not_json(tmp_path):
    (tmp_path / "MANIFEST.json").write_text("{not json")
    with pytest.raises(AnsibleLookupError, match=r"MANIFEST.json cannot be read"):
        run(str(tmp_path), artifact="chart/determined")


def test_artifact_the_bundle_lacks(tmp_path):
    bundle = make_bundle(tmp_path)
    with pytest.raises(AnsibleLookupError, match=r"holds no artifact chart/pachyderm \(MANIFEST.json\): make it "
                                                 r"with playbooks/bundle.yml"):
        run(bundle, artifact="chart/pachyderm", patterns=["charts/pachyderm-2.12.2.tgz"])


def test_other_version_than_the_bundle_holds(tmp_path):
    bundle = make_bundle(tmp_path)
    with pytest.raises(AnsibleLookupError, match=r"artifact chart/determined of the bundle .* has no file "
                                                 r"charts/determined-0.39.0.tgz \(it has charts/determined-0.38.1.tgz\)"):
        run(bundle, artifact="chart/determined", patterns=["charts/determined-0.39.0.tgz"])


def test_two_revisions_of_one_snap(tmp_path):
    files = dict(FILES, **{"snaps/snapd_25600.snap": b"newer snapd"})
    bundle = make_bundle(tmp_path, files)
    with pytest.raises(AnsibleLookupError, match=r"has 2 files snaps/snapd_\*.snap \(snaps/snapd_25577.snap, "
                                                 r"snaps/snapd_25600.snap\): one is expected"):
        run(bundle, artifact="snap/microk8s", patterns=["snaps/snapd_*.snap"])


def test_file_missing_or_of_another_size(tmp_path):
    bundle = make_bundle(tmp_path)
    os.remove(os.path.join(bundle, "snaps", "core22_2139.assert"))
    with pytest.raises(AnsibleLookupError, match=r"core22_2139.assert is missing: the bundle is damaged"):
        run(bundle, artifact="snap/microk8s", patterns=["snaps/core22_*.assert"])
    with open(os.path.join(bundle, "snaps", "snapd_25577.snap"), "ab") as stream:
        stream.write(b"!")
    with pytest.raises(AnsibleLookupError, match=r"snapd_25577.snap is 101 bytes, not the 100 MANIFEST.json records"):
        run(bundle, artifact="snap/microk8s", patterns=["snaps/snapd_*.snap"])


def test_file_without_a_record(tmp_path):
    bundle = make_bundle(tmp_path, artifacts=[{"id": "chart/determined", "files": ["charts/other.tgz"]}])
    with pytest.raises(AnsibleLookupError, match=r"MANIFEST.json records no size and sha256 for charts/other.tgz"):
        run(bundle, artifact="chart/determined")


def test_one_term_required():
    with pytest.raises(AnsibleLookupError, match="give one term, the bundle directory"):
        LookupModule().run([], artifact="chart/determined")


def test_options_checked(tmp_path):
    bundle = make_bundle(tmp_path)
    with pytest.raises(AnsibleLookupError, match=r"artifact=<kind>/<key> is required"):
        LookupModule().run([bundle])
    with pytest.raises(AnsibleLookupError, match=r"patterns must be a list of strings"):
        LookupModule().run([bundle], artifact="chart/determined", patterns="charts/*.tgz")
    with pytest.raises(AnsibleLookupError, match=r"unknown option pattern \(artifact, patterns, dest\)"):
        LookupModule().run([bundle], artifact="chart/determined", pattern=["charts/*.tgz"])
