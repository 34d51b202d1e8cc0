# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Check mode of the offline image path on a fresh host (issue 11): common's entry point
`image` with mlstack_offline and no site registry loads from the bundle's OCI layout
(roles/common/tasks/image.yml, image_blobs.yml). On a host whose image layout does not
exist yet and whose engine lacks the image, `--check` must report what it would copy and
load, change nothing and fail nothing; the same play without --check loads the image (so
the test sees a real difference, not two runs that do nothing).

The host is this machine through connection local (tests/unit/roles/local_play.py): its
Docker Engine is the lab's, the host's image layout a new temporary directory. The image is
one made here (real gzip layers, tests/unit/plugins/oci_fixtures.py) under a name no engine
has, in a bundle layout of its own; the engine is asked for it before and after.
Needs the lab's engine (make lab).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "unit" / "roles"), str(ROOT / "tests" / "unit" / "plugins")]

from local_play import run_entry_point  # noqa: E402 pylint: disable=wrong-import-position
from oci_fixtures import OciImage, write_layout  # noqa: E402 pylint: disable=wrong-import-position

DOCKER = "/usr/bin/docker" if pathlib.Path("/usr/bin/docker").exists() else "docker"


def engine_has(ref: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", ref], capture_output=True, check=False).returncode == 0


@pytest.fixture
def fresh_host(tmp_path):
    if subprocess.run([DOCKER, "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("needs the lab's Docker Engine (make lab)")
    tag = uuid.uuid4().hex[:12]
    ref = "docker.io/mlstack-test/checkmode-probe:%s" % tag
    bundle = tmp_path / "bundle"
    write_layout(str(bundle / "images" / "oci"), [OciImage(ref, "probe-" + tag, layers=2)])
    host_layout = tmp_path / "host" / "var" / "lib" / "mlstack" / "images" / "oci"
    variables = {
        "mlstack_offline": True,
        "mlstack_registry": "",
        "mlstack_bundle_dir": str(bundle),
        "mlstack_image_layout_dir": str(host_layout),
        "mlstack_artifacts_overrides": {"images": {"checkmode_probe": {
            "repository": "docker.io/mlstack-test/checkmode-probe", "tag": tag}}},
        "common_images": ["checkmode_probe"],
        # The probe is not an image of any role, so the artifact layer does not list it.
        "common_image_check_listed": False,
    }
    assert not engine_has(ref)
    yield {"ref": ref, "variables": variables, "host": tmp_path / "host"}
    subprocess.run([DOCKER, "image", "rm", "--force", ref], capture_output=True, check=False)


def test_check_mode_on_a_fresh_host_reports_and_changes_nothing(tmp_path, fresh_host):
    check = run_entry_point(tmp_path, "common", "image", fresh_host["variables"], "--check", "--diff")
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    assert check.recap["failed"] == 0
    # It reports: the layout's directories, marker, blobs and index would be made.
    assert check.recap["changed"] > 0, check.stdout[-4000:]
    assert "Copy the blobs the images need" in check.stdout
    # ... and changes nothing: no host layout, no image.
    assert not fresh_host["host"].exists()
    assert not engine_has(fresh_host["ref"])

    real = run_entry_point(tmp_path, "common", "image", fresh_host["variables"])
    assert real.returncode == 0, real.stdout[-4000:] + real.stderr[-2000:]
    assert engine_has(fresh_host["ref"])
    assert (fresh_host["host"] / "var/lib/mlstack/images/oci/index.json").is_file()

    # Check mode on the host that now has the image: nothing to report.
    again = run_entry_point(tmp_path, "common", "image", fresh_host["variables"], "--check")
    assert again.returncode == 0 and again.recap["failed"] == 0 and again.recap["changed"] == 0, again.stdout[-4000:]
