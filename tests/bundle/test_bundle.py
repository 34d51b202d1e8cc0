# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The bundle tier: the lab's bundle made the one way bundles are made (playbooks/bundle.yml
for inventories/lab, from the lab's real registry mirror, Debian's archive and PyPI), then
checked the way the offline side checks it (playbooks/bundle_verify.yml) and with the tools
a person would use (sha256sum -c, gpgv).

Run by tests/bundle/run.sh (make bundle-test), after the lab is up. The bundle is made once
for the whole module (a few minutes on a fresh machine, cached wheels and .debs after) in
$MLSTACK_BUNDLE_TEST_DIR (default /var/tmp/mlstack-lab/bundle-test); damage is done to
copies (hard links, a broken link where a file is changed).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
LAB = ROOT / "tests" / "lab" / "lab.sh"
INVENTORY = ROOT / "inventories" / "lab" / "hosts.yml"
WORK = pathlib.Path(os.environ.get("MLSTACK_BUNDLE_TEST_DIR", "/var/tmp/mlstack-lab/bundle-test"))
BUNDLE = WORK / "bundle"
MIRROR = "127.0.0.1:" + os.environ.get("MLSTACK_LAB_MIRROR_PORT", "5055")
CREDENTIALS = WORK / "credentials"
SECRET_KEY = CREDENTIALS / "bundle" / "signing-key.asc"
PUBLIC_KEY = CREDENTIALS / "bundle" / "signing-key.pub.asc"


def env() -> dict:
    out = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible" / "collections"),
               ANSIBLE_HOME=str(ROOT / ".ansible"))
    out["PATH"] = "%s:%s" % (VENV_BIN, out.get("PATH", ""))
    return out


def playbook(name: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(INVENTORY), str(ROOT / "playbooks" / name),
            "-e", "mlstack_credentials_dir=%s" % CREDENTIALS, *extra]
    result = subprocess.run(argv, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=3600, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def make_bundle(path: pathlib.Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    return playbook("bundle.yml", "-e", "mlstack_bundle_dir=%s" % path,
                    "-e", "mlstack_bundle_registry_mirror=%s" % MIRROR,
                    "-e", "mlstack_bundle_registry_tls_verify=false", *extra, check=check)


def verify(path: pathlib.Path, key: pathlib.Path = PUBLIC_KEY, *extra: str) -> subprocess.CompletedProcess:
    return playbook("bundle_verify.yml", "-e", "mlstack_bundle_dir=%s" % path,
                    "-e", "mlstack_bundle_public_key=%s" % key, *extra, check=False)


def recap_changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output.split("PLAY RECAP")[-1]))


def task_status(output: str, task: str) -> str:
    """The status (ok, changed, skipping, fatal) ansible-playbook printed for the role task ``task``."""
    found = re.search(r"TASK \[mlstack\.platform\.bundle : %s\][^\n]*\n(?:[^\n]*\n)*?(ok|changed|skipping|fatal):"
                      % re.escape(task), output)
    return found.group(1) if found else ""


def copy_of(source: pathlib.Path, name: str) -> pathlib.Path:
    """A copy of the bundle made of hard links; the files a run may rewrite in place
    (skopeo rewrites index.json) are real copies, so the original is never touched."""
    dest = WORK / name
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["cp", "-al", str(source), str(dest)], check=True)
    for small in ("MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig", "images/oci/index.json", "images/oci/oci-layout"):
        path = dest / small
        if path.is_file():
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
    return dest


def rewrite(path: pathlib.Path, data: bytes) -> None:
    """Replace a file of a hard-linked copy without touching the original."""
    path.unlink()
    path.write_bytes(data)


@pytest.fixture(scope="module")
def bundle() -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(LAB), "mirror"], check=True, env=env())
    started = time.monotonic()
    first = make_bundle(BUNDLE)
    first_seconds = time.monotonic() - started
    started = time.monotonic()
    second = make_bundle(BUNDLE)
    second_seconds = time.monotonic() - started
    print("bundle.yml: first run %.1f s, second run %.1f s (ratio %.2f)"
          % (first_seconds, second_seconds, second_seconds / first_seconds))
    return {"first": first, "second": second,
            "manifest": json.loads((BUNDLE / "MANIFEST.json").read_text())}


def test_bundle_holds_what_the_lab_inventory_needs_and_nothing_else(bundle):
    ids = sorted(a["id"] for a in bundle["manifest"]["artifacts"])
    assert ids == sorted([
        "collection/mlstack.platform", "debs/controller@debian-bookworm", "wheels/controller@debian-bookworm",
        "image/pypiserver", "image/registry", "image/seaweedfs", "wheels/label_studio@debian-bookworm",
        "debs/docker_distro@debian-bookworm", "debs/docker_python@debian-bookworm",
        "debs/postgresql@debian-bookworm", "debs/postgresql_ansible@debian-bookworm",
        "debs/s3_python@debian-bookworm", "debs/offline_registry_tools@debian-bookworm",
        "debs/label_studio_venv@debian-bookworm"])
    index = json.loads((BUNDLE / "images/oci/index.json").read_text())
    names = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
    assert names == ["docker.io/mlstack-lab/pypiserver:2.4.2", "docker.io/mlstack-lab/registry:2.8",
                     "docker.io/mlstack-lab/seaweedfs:4.48"]
    # Every blob of the layout belongs to an image (no orphans), every file is in the manifest.
    on_disk = sorted(str(p.relative_to(BUNDLE)) for p in BUNDLE.rglob("*") if p.is_file())
    listed = sorted(list(bundle["manifest"]["files"]) + ["MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig"])
    assert on_disk == listed
    image_files = {f for a in bundle["manifest"]["artifacts"] if a["kind"] == "image" for f in a["files"]}
    blobs = {f for f in on_disk if f.startswith("images/oci/blobs/")}
    assert blobs == image_files


COLLECTION_TASK = "Put the collection's tarball into the bundle (replaced only when its files changed)"


def changed_tasks(output: str) -> list:
    """The names of the role's tasks ansible-playbook printed as changed."""
    return re.findall(r"TASK \[mlstack\.platform\.bundle : ([^\]]+)\][^\n]*\n(?:(?!TASK \[)[^\n]*\n)*?changed:", output)


def test_a_second_run_fetches_and_changes_nothing(bundle):
    changed = changed_tasks(bundle["second"].stdout)
    # In a shared checkout other people's edits between the two runs change the collection
    # itself: then (only then) its tarball and the seal are rightly rewritten. Nothing else
    # may change: no image, deb, wheel, snap or chart is fetched again.
    allowed = [COLLECTION_TASK, "Seal the bundle and verify it against the site's needs"] if COLLECTION_TASK in changed else []
    assert [task for task in changed if task not in allowed] == [], bundle["second"].stdout[-3000:]
    assert recap_changed(bundle["second"].stdout) == len(changed)


def test_sha256sum_and_gpgv_accept_the_bundle(bundle, tmp_path):
    subprocess.run(["sha256sum", "--quiet", "--strict", "-c", "SHA256SUMS"], cwd=BUNDLE, check=True)
    keyring = tmp_path / "key.gpg"
    subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "-o", str(keyring), str(PUBLIC_KEY)], check=True)
    subprocess.run(["gpgv", "--keyring", str(keyring), str(BUNDLE / "SHA256SUMS.sig"), str(BUNDLE / "SHA256SUMS")],
                   check=True, capture_output=True)


def test_bundle_verify_accepts_the_bundle(bundle):
    result = verify(BUNDLE)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "every artifact this inventory needs is there" in result.stdout


def test_one_changed_byte_is_named(bundle):
    damaged = copy_of(BUNDLE, "damaged-byte")
    victim = next(p for p in sorted((damaged / "apt/debian-bookworm").glob("*.deb")))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    rewrite(victim, bytes(data))
    result = verify(damaged)
    assert result.returncode != 0
    assert str(victim.relative_to(damaged)) in result.stdout


def test_an_image_removed_from_the_layout_is_named(bundle):
    damaged = copy_of(BUNDLE, "damaged-image")
    index_path = damaged / "images/oci/index.json"
    index = json.loads(index_path.read_text())
    index["manifests"] = [m for m in index["manifests"]
                          if "seaweedfs" not in m["annotations"]["org.opencontainers.image.ref.name"]]
    rewrite(index_path, json.dumps(index).encode())
    result = verify(damaged)
    assert result.returncode != 0
    assert "docker.io/mlstack-lab/seaweedfs:4.48" in result.stdout


def test_a_bundle_signed_by_another_key_is_refused(bundle, tmp_path):
    other = tmp_path / "other.asc"
    subprocess.run([str(VENV_BIN / "ansible"), "localhost", "-m", "mlstack.platform.bundle_signing_key",
                    "-a", "path=%s" % other, "-e", "ansible_python_interpreter=%s" % (VENV_BIN / "python")],
                   cwd=ROOT, env=env(), check=True, capture_output=True)
    result = verify(BUNDLE, tmp_path / "other.pub.asc")
    assert result.returncode != 0
    assert "other.pub.asc" in result.stdout


def test_not_a_bundle_is_refused_before_anything_is_written(tmp_path):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"\xff\xd8")
    result = make_bundle(target, check=False)
    assert result.returncode != 0
    assert "is not a bundle" in result.stdout and "holiday.jpg" in result.stdout
    assert sorted(p.name for p in target.iterdir()) == ["holiday.jpg"]


def test_a_target_the_manifest_does_not_cover_is_named(tmp_path):
    result = make_bundle(tmp_path / "b", "-e", "mlstack_target=debian-trixie", check=False)
    assert result.returncode != 0
    assert "debian-trixie" in result.stdout and "not covered" in result.stdout
    assert not (tmp_path / "b").exists()


def test_an_unreachable_mirror_is_named(tmp_path):
    result = playbook("bundle.yml", "-e", "mlstack_bundle_dir=%s" % (tmp_path / "b"),
                      "-e", "mlstack_bundle_registry_mirror=127.0.0.1:9", "-e", "mlstack_bundle_registry_tls_verify=false",
                      check=False)
    assert result.returncode != 0
    assert "127.0.0.1:9" in result.stdout
    assert not (tmp_path / "b" / "MANIFEST.json").exists()


def test_a_delta_holds_only_the_changed_image_and_merges_back(bundle):
    # The same image under a new tag: the site's bundle gains one index entry, no new layer.
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                    "docker://%s/mlstack-lab/seaweedfs:4.48" % MIRROR,
                    "docker://%s/mlstack-lab/seaweedfs:4.48-delta" % MIRROR], check=True)
    updated = copy_of(BUNDLE, "updated")
    delta = WORK / "updated.delta"
    shutil.rmtree(delta, ignore_errors=True)
    new_tag = ("-e", '{"mlstack_artifacts_overrides": {"images": {'
                     '"registry": {"repository": "mlstack-lab/registry", "tag": "2.8"}, '
                     '"pypiserver": {"repository": "mlstack-lab/pypiserver", "tag": "2.4.2"}, '
                     '"seaweedfs": {"repository": "mlstack-lab/seaweedfs", "tag": "4.48-delta"}}}}')
    make_bundle(updated, "-e", "mlstack_bundle_base=%s" % (BUNDLE / "MANIFEST.json"),
                "-e", "mlstack_bundle_delta_dir=%s" % delta, *new_tag)
    present = sorted(str(p.relative_to(delta)) for p in delta.rglob("*") if p.is_file())
    carried = [p for p in present if p not in ("MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig", "DELTA.json")]
    full = sum(f["size"] for f in json.loads((updated / "MANIFEST.json").read_text())["files"].values())
    size = sum((delta / p).stat().st_size for p in carried)
    print("delta after a new tag of one image: %d files, %d bytes = %.5f of the full bundle (%d bytes)"
          % (len(carried), size, size / full, full))
    assert carried and all(p == "images/oci/index.json" or p.startswith("images/oci/blobs/") for p in carried)
    assert size < full / 100
    site = copy_of(BUNDLE, "site")
    result = subprocess.run(
        [str(VENV_BIN / "ansible"), "localhost", "-m", "mlstack.platform.bundle_merge",
         "-a", "path=%s delta=%s public_key=%s" % (site, delta, PUBLIC_KEY),
         "-e", "ansible_python_interpreter=%s" % (VENV_BIN / "python")],
        cwd=ROOT, env=env(), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    merged_check = verify(site, PUBLIC_KEY, *new_tag)
    assert merged_check.returncode == 0, merged_check.stdout[-3000:]
    # The site's inventory still asking for the old tag: the merged bundle no longer holds it.
    old_check = verify(site)
    assert old_check.returncode != 0 and "docker.io/mlstack-lab/seaweedfs:4.48" in old_check.stdout
    merged = json.loads((site / "images/oci/index.json").read_text())
    assert "docker.io/mlstack-lab/seaweedfs:4.48-delta" in json.dumps(merged)


def test_parts_round_trip_and_a_damaged_part_is_named(bundle, tmp_path):
    parts = WORK / "parts"
    shutil.rmtree(parts, ignore_errors=True)
    make_bundle(BUNDLE, "-e", "mlstack_bundle_split_size=200M", "-e", "mlstack_bundle_parts_dir=%s" % parts)
    names = sorted(p.name for p in parts.iterdir())
    assert "PARTS.SHA256SUMS" in names and len([n for n in names if n.startswith("bundle.tar.")]) >= 3

    def join(dest):
        return subprocess.run(
            [str(VENV_BIN / "ansible"), "localhost", "-m", "mlstack.platform.bundle_parts",
             "-a", "state=joined path=%s parts_dir=%s" % (dest, parts),
             "-e", "ansible_python_interpreter=%s" % (VENV_BIN / "python")],
            cwd=ROOT, env=env(), capture_output=True, text=True, check=False)

    joined = WORK / "joined"
    shutil.rmtree(joined, ignore_errors=True)
    assert join(joined).returncode == 0
    assert verify(joined).returncode == 0
    victim = parts / sorted(n for n in names if n.startswith("bundle.tar."))[1]
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))
    again = WORK / "joined-damaged"
    shutil.rmtree(again, ignore_errors=True)
    result = join(again)
    assert result.returncode != 0 and victim.name in result.stdout
    assert not again.exists()


# The execution environment (mlstack_bundle_ee). `make ee` takes minutes here (docs/
# execution-environment.md), so this test gives bundle.yml a small lab image as the EE,
# read from the local engine as the real one is (docker-daemon:); MLSTACK_BUNDLE_TEST_EE
# names another (e.g. mlstack-platform-ee:0.1.0 after `make ee`).
EE_STANDIN = os.environ.get("MLSTACK_BUNDLE_TEST_EE", "mlstack-lab/pypiserver:2.4.2")
EE_REF = "localhost/mlstack-platform-ee:0.1.0-test"


def test_the_bundle_carries_the_execution_environment(bundle):
    with_ee = copy_of(BUNDLE, "with-ee")
    ee = ("-e", "mlstack_bundle_ee=true", "-e", "mlstack_bundle_ee_source=docker-daemon:%s" % EE_STANDIN,
          "-e", "mlstack_bundle_ee_ref=%s" % EE_REF)
    first = make_bundle(with_ee, *ee)
    manifest = json.loads((with_ee / "MANIFEST.json").read_text())
    [record] = [a for a in manifest["artifacts"] if a["id"] == "image/execution_environment"]
    assert record["ref"] == EE_REF and record["source"] == "docker-daemon:%s" % EE_STANDIN
    assert record["digest"].startswith("sha256:") and record["files"]
    index = json.loads((with_ee / "images/oci/index.json").read_text())
    assert EE_REF in [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert all(f in manifest["files"] for f in record["files"])
    assert "image/execution_environment" not in [a["id"] for a in bundle["manifest"]["artifacts"]]
    assert recap_changed(first.stdout) > 0
    # Verified like the other images; a second run copies nothing again.
    assert verify(with_ee).returncode == 0
    again = make_bundle(with_ee, *ee)
    # The image step copies nothing again. (Not the whole recap: in a shared checkout the
    # collection's own files may have changed between the runs, and then its tarball and the
    # seal are rightly rewritten.)
    assert task_status(again.stdout, "Copy the images into the layout (only the missing ones)") == "ok", \
        again.stdout[-3000:]
    # The EE's image config blob removed: bundle_verify.yml names it.
    config = json.loads((with_ee / "images/oci/blobs/sha256" / record["digest"].split(":", 1)[1]).read_text())["config"]
    config_path = with_ee / "images/oci/blobs/sha256" / config["digest"].split(":", 1)[1]
    config_path.unlink()
    broken = verify(with_ee)
    assert broken.returncode != 0 and str(config_path.relative_to(with_ee)) in broken.stdout
    # A source without a transport: one line naming the variable, nothing copied.
    bad = make_bundle(WORK / "ee-bad", "-e", "mlstack_bundle_ee=true", "-e", "mlstack_bundle_ee_source=%s" % EE_STANDIN,
                      check=False)
    assert bad.returncode != 0 and "mlstack_bundle_ee_source must name" in bad.stdout
    assert not (WORK / "ee-bad").exists()
