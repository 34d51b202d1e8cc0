# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""backup.yml and restore.yml with a backup host as the destination, on two lab hosts
(tests/lab/lab.sh hosts-up 2): Label Studio's data directory of mlstack-lab-host1 is backed
up to mlstack-lab-host2 (group `backup`), checked there, and read back by restore.yml, which
refuses the run, naming the file, once a byte of it changed on the backup host.

    tests/lab/lab.sh hosts-up 2
    PYTHONPATH=.ansible/collections .venv/bin/python -m pytest -q -p no:cacheprovider tests/integration/test_backup_host.py

make test runs it after the bad-input table, in the same job of tests/molecule_all.sh's pool
(both use the demo lab hosts), on fresh hosts 1 and 2 that it removes after.

Label Studio itself is not installed: its backup entry point packs the data directory, which
the test fills with probe files; the restore inventory holds only the backup host, so restore.yml
verifies, fetches and verifies again but restores no service (MANIFEST.json's services are
narrowed to the inventory's groups)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE, BACKUP = "mlstack-lab-host1", "mlstack-lab-host2"
DATA_DIR = "/var/lib/label-studio"
REMOTE_DIR = "/srv/mlstack-backups"
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=check, timeout=120)


def on(host: str, script: str, check: bool = True) -> str:
    return docker("exec", host, "sh", "-c", script, check=check).stdout


def lab_hosts_up() -> bool:
    try:
        names = docker("ps", "--format", "{{.Names}}", check=False).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return SOURCE in names and BACKUP in names


# make test (tests/molecule_all.sh, job bad-input) brings the hosts up and sets
# MLSTACK_LAB_HOSTS_REQUIRED=1: there a missing host fails the tests instead of skipping them.
REQUIRED = os.environ.get("MLSTACK_LAB_HOSTS_REQUIRED") == "1"
pytestmark = pytest.mark.skipif(not REQUIRED and not lab_hosts_up(), reason="needs the lab hosts: tests/lab/lab.sh hosts-up 2")


def inventory(path: pathlib.Path, groups: dict) -> pathlib.Path:
    path.write_text(yaml.safe_dump({"all": {
        "children": {g: {"hosts": {h: None for h in hosts}} for g, hosts in groups.items()},
        "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3",
                 "label_studio_data_dir": DATA_DIR}}}))
    return path


def playbook(name: str, hosts: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible/collections"))
    bindir = pathlib.Path(sys.executable).parent
    return subprocess.run([str(bindir / "ansible-playbook"), "-i", str(hosts), str(ROOT / "playbooks" / name), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_a_run_goes_to_the_backup_host_is_checked_there_and_read_back(tmp_path):
    probe = os.urandom(8 * 1024).hex()
    on(SOURCE, f"rm -rf {DATA_DIR} && mkdir -p {DATA_DIR}/media/upload && "
               f"printf %s {probe} > {DATA_DIR}/media/upload/probe.txt")
    on(BACKUP, f"rm -rf {REMOTE_DIR}")
    spool = tmp_path / "spool"
    spool.mkdir()
    controller_dir = tmp_path / "controller-runs"
    hosts = inventory(tmp_path / "hosts.yml", {"labeling": [SOURCE], "backup": [BACKUP]})

    done = playbook("backup.yml", hosts, "-e", f"mlstack_backup_dir={REMOTE_DIR}",
                    "-e", f"mlstack_backup_spool_dir={spool}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

    # One complete run on the backup host, none left .partial; nothing kept on the controller.
    runs = on(BACKUP, f"ls {REMOTE_DIR}").split()
    assert len(runs) == 1 and not runs[0].endswith(".partial"), runs
    run = f"{REMOTE_DIR}/{runs[0]}"
    assert list(spool.iterdir()) == [] and not controller_dir.exists()
    assert on(BACKUP, f"cd {run} && sha256sum --check --strict SHA256SUMS").count(": OK") == 2
    assert on(BACKUP, f"stat -c %a {REMOTE_DIR} {run} {run}/labeling/label-studio-data.tar").split() == [
        "700", "700", "600"]
    manifest = json.loads(on(BACKUP, f"cat {run}/MANIFEST.json"))
    assert manifest["services"] == {"labeling": SOURCE}
    # The probe is in the tar on the backup host, byte for byte.
    local_tar = tmp_path / "data.tar"
    docker("cp", f"{BACKUP}:{run}/labeling/label-studio-data.tar", str(local_tar))
    with tarfile.open(local_tar) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("media/upload/probe.txt"))
        assert tar.extractfile(member).read().decode() == probe

    # restore.yml from the backup host: verified there, fetched into the spool, verified again,
    # the spool removed.
    only_backup = inventory(tmp_path / "restore.yml", {"backup": [BACKUP]})
    read = playbook("restore.yml", only_backup, "-e", f"mlstack_backup_dir={REMOTE_DIR}",
                    "-e", f"mlstack_backup_spool_dir={spool}")
    assert read.returncode == 0, read.stdout[-4000:] + read.stderr[-2000:]
    assert f"Restoring {run} on {BACKUP}" in read.stdout
    assert read.stdout.count("2 files verified") == 2, read.stdout[-3000:]
    assert list(spool.iterdir()) == []

    # One changed byte on the backup host: refused there, naming the file; nothing fetched.
    on(BACKUP, f"cd {run}/labeling && printf X | dd of=label-studio-data.tar bs=1 seek=600 conv=notrunc 2>/dev/null")
    refused = playbook("restore.yml", only_backup, "-e", f"mlstack_backup_dir={REMOTE_DIR}",
                       "-e", f"mlstack_backup_spool_dir={spool}")
    assert refused.returncode != 0
    assert f"{run} on {BACKUP}: refused, nothing was changed: checksum mismatch: labeling/label-studio-data.tar" \
        in refused.stdout, refused.stdout[-3000:]
    assert list(spool.iterdir()) == []


def test_a_copy_damaged_on_the_way_stays_partial_named(tmp_path):
    """The check on the backup host is real: sha256sum there over what arrived. A SHA256SUMS
    line that no longer matches the file (as a transfer that changed a byte would leave it)
    keeps the run .partial and names the file."""
    on(SOURCE, f"rm -rf {DATA_DIR} && mkdir -p {DATA_DIR} && echo probe > {DATA_DIR}/probe.txt")
    on(BACKUP, f"rm -rf {REMOTE_DIR}")
    hosts = inventory(tmp_path / "hosts.yml", {"labeling": [SOURCE], "backup": [BACKUP]})
    # A sha256sum on the backup host that reports the tar as changed stands for the damage.
    on(BACKUP, "mkdir -p /usr/local/bin && printf '%s\\n' '#!/bin/sh' "
               "'echo \"labeling/label-studio-data.tar: FAILED\"; exit 1' > /usr/local/bin/sha256sum "
               "&& chmod 755 /usr/local/bin/sha256sum")
    try:
        done = playbook("backup.yml", hosts, "-e", f"mlstack_backup_dir={REMOTE_DIR}",
                        "-e", f"mlstack_backup_spool_dir={tmp_path}")
    finally:
        on(BACKUP, "rm -f /usr/local/bin/sha256sum")
    assert done.returncode != 0
    assert "the copy does not match the run: labeling/label-studio-data.tar: FAILED" in done.stdout, done.stdout[-3000:]
    runs = on(BACKUP, f"ls {REMOTE_DIR}").split()
    assert len(runs) == 1 and runs[0].endswith(".partial"), runs


def test_without_a_backup_host_the_run_stays_on_the_controller(tmp_path):
    """The default destination is unchanged: mlstack_backup_dir on the controller, and restore.yml
    reads it there (no spool, nothing on the would-be backup host)."""
    on(SOURCE, f"rm -rf {DATA_DIR} && mkdir -p {DATA_DIR} && echo probe > {DATA_DIR}/probe.txt")
    on(BACKUP, f"rm -rf {REMOTE_DIR}")
    runs_dir = tmp_path / "runs"
    done = playbook("backup.yml", inventory(tmp_path / "hosts.yml", {"labeling": [SOURCE], "other": [BACKUP]}),
                    "-e", f"mlstack_backup_dir={runs_dir}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    (run,) = list(runs_dir.iterdir())
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()) == [
        "MANIFEST.json", "SHA256SUMS", "labeling/label-studio-data.tar"]
    assert on(BACKUP, f"test -e {REMOTE_DIR} && echo yes || echo no").strip() == "no"
    read = playbook("restore.yml", inventory(tmp_path / "restore.yml", {"other": [BACKUP]}),
                    "-e", f"mlstack_backup_dir={runs_dir}")
    assert read.returncode == 0, read.stdout[-4000:] + read.stderr[-2000:]
    assert f"Restoring {run} (made" in read.stdout
