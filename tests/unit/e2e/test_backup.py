# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The pure parts of tests/e2e/backup.py and of run.py's restore step, without hosts: how a
restored site is compared with what was written, and which credentials the offline
controller receives."""

from __future__ import annotations

import importlib.util
import os
import sys

E2E = os.path.join(os.path.dirname(__file__), "..", "..", "e2e")


def _load(name, filename):
    spec = importlib.util.spec_from_file_location(name, os.path.join(E2E, filename))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


backup = _load("mlstack_e2e_backup", "backup.py")
run = sys.modules["run"]  # backup.py imports run.py as `run`

WRITTEN = {
    "rows": {"labelstudio": {"mlstack_backup_probe": "500 abc", "project": "3", "task": "25"},
             "determined": {"mlstack_backup_probe": "500 def", "project": "absent", "task": "absent"}},
    "objects": {"b1/backup-probe/x/object-0.bin": "e3b0", "b1/backup-probe/x/object-1.bin": "aa11"},
    "projects": {"1:Backup probe x": {"label_config": "<View/>", "tasks": ['{"text": "t0"}', '{"text": "t1"}']}},
    "image": {"digest": "sha256:0123", "stamp": "x"},
    "tags": "x",
}


def _copy(data):
    import json
    return json.loads(json.dumps(data))


def test_identical_restore_has_no_difference():
    diff, extra = backup.restored_differences(WRITTEN, _copy(WRITTEN))
    assert diff == [] and extra == []


def test_objects_beside_the_backup_are_listed_not_counted():
    restored = _copy(WRITTEN)
    restored["objects"]["b1/made-by-the-new-site"] = "ffff"
    diff, extra = backup.restored_differences(WRITTEN, restored)
    assert diff == []
    assert extra == ["b1/made-by-the-new-site"]


def test_a_missing_or_changed_object_is_named():
    restored = _copy(WRITTEN)
    del restored["objects"]["b1/backup-probe/x/object-0.bin"]
    restored["objects"]["b1/backup-probe/x/object-1.bin"] = "bb22"
    diff, dummy = backup.restored_differences(WRITTEN, restored)
    assert diff == ["objects/b1/backup-probe/x/object-0.bin: 'e3b0' -> None",
                    "objects/b1/backup-probe/x/object-1.bin: 'aa11' -> 'bb22'"]


def test_rows_tasks_and_image_differences_are_named():
    restored = _copy(WRITTEN)
    restored["rows"]["labelstudio"]["mlstack_backup_probe"] = "absent"
    restored["projects"]["1:Backup probe x"]["tasks"].pop()
    restored["image"]["stamp"] = ""
    diff, dummy = backup.restored_differences(WRITTEN, restored)
    assert [line.split(":")[0] for line in diff] == [
        "image/stamp", "projects/1", "rows/labelstudio/mlstack_backup_probe"]


def test_a_project_more_on_the_restored_site_is_a_difference():
    restored = _copy(WRITTEN)
    restored["projects"]["2:Made after the backup"] = {"label_config": "<View/>", "tasks": []}
    diff, dummy = backup.restored_differences(WRITTEN, restored)
    assert len(diff) == 1 and diff[0].startswith("projects/2:Made after the backup: 'None' ->")


def test_credentials_carried_are_all_but_the_bundle(tmp_path):
    for name in ("bundle", "ssh", "label-studio", "object-store", "postgres"):
        (tmp_path / name).mkdir()
    (tmp_path / "bundle" / "signing-key.asc").write_text("secret")
    assert run.credentials_to_carry(tmp_path) == ["label-studio", "object-store", "postgres", "ssh"]
