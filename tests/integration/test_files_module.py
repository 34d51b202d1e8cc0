# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""mlstack.platform.files through ansible-playbook, on a throwaway lab container
(mlstack-lab/systemd:bookworm, which has python3, the debian base image has none; run with
`sleep infinity` instead of systemd: files needs no services) reached with
community.docker.docker: a first run changes, a second reports changed=0, --check --diff
shows the content diff and writes nothing, a failing validate keeps the old file.

    PYTHONPATH=.ansible/collections .venv/bin/python -m pytest -q -p no:cacheprovider tests/integration/test_files_module.py

The same file measures the no-op cost against builtin tasks (one files task with 6 entries,
2 directories and 4 files, against 6 tasks of ansible.builtin.file/template/copy):

    .venv/bin/python tests/integration/test_files_module.py --timing 5
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = "mlstack-lab/systemd:bookworm"
HOST = "mlstack-files-test"
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
BASE = "/etc/mlstack-files-test"
SECRET = "files-test-secret-9c41d7"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=check, timeout=120)


def lab_image_missing() -> t.Optional[str]:
    try:
        found = docker("image", "inspect", IMAGE, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "no Docker engine to run the lab container on (%s)" % exc
    if found.returncode != 0:
        return "the lab image %s is missing: make lab builds it (%s)" % (IMAGE, found.stderr.strip())
    return None


def start_host() -> None:
    docker("rm", "-f", HOST, check=False)
    docker("run", "-d", "--name", HOST, "--network", "none", IMAGE, "sleep", "infinity")


def remove_host() -> None:
    docker("rm", "-f", HOST, check=False)


def on_host(script: str, check: bool = True) -> str:
    return docker("exec", HOST, "sh", "-c", script, check=check).stdout


def write_project(work: pathlib.Path) -> pathlib.Path:
    (work / "templates").mkdir(parents=True, exist_ok=True)
    (work / "templates" / "app.conf.j2").write_text("# managed\nlisten {{ app_port }}\nworkers {{ app_workers }}\n")
    (work / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {HOST: None}, "vars": {
        "ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"}}}))
    return work / "hosts.yml"


FILES_PLAY = [{
    "name": "Files of a test application in one task",
    "hosts": HOST,
    "gather_facts": False,
    "vars": {"app_port": 80, "app_workers": 2, "app_key": SECRET, "app_json": '{"port": 80}'},
    "tasks": [{
        "name": "Write the test application's files",
        "mlstack.platform.files": {"entries": [
            {"path": BASE, "state": "directory", "mode": "0755", "owner": "root", "group": "root"},
            {"path": BASE + "/conf.d", "state": "directory", "mode": "0750"},
            {"path": BASE + "/app.conf", "mode": "0644",
             "content": "{{ lookup('ansible.builtin.template', 'templates/app.conf.j2') }}"},
            {"path": BASE + "/conf.d/app.json", "mode": "0640", "content": "{{ app_json }}",
             "validate": "/usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' %s"},
            {"path": BASE + "/key.pem", "mode": "0600", "secret_content": "{{ app_key }}"},
            {"path": BASE + "/plain.txt", "mode": "0644",
             "content": "{{ lookup('ansible.builtin.template', 'templates/app.conf.j2') }}"},
        ]},
        "register": "_files",
    }],
}]

BUILTIN_PLAY = [{
    "name": "The same files in six builtin tasks",
    "hosts": HOST,
    "gather_facts": False,
    "vars": FILES_PLAY[0]["vars"],
    "tasks": [
        {"name": "Create the directory", "ansible.builtin.file": {
            "path": BASE + "-b", "state": "directory", "mode": "0755", "owner": "root", "group": "root"}},
        {"name": "Create conf.d", "ansible.builtin.file": {"path": BASE + "-b/conf.d", "state": "directory", "mode": "0750"}},
        {"name": "Write app.conf", "ansible.builtin.template": {
            "src": "templates/app.conf.j2", "dest": BASE + "-b/app.conf", "mode": "0644"}},
        {"name": "Write app.json", "ansible.builtin.copy": {
            "content": "{{ app_json }}", "dest": BASE + "-b/conf.d/app.json", "mode": "0640",
            "validate": "/usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' %s"}},
        {"name": "Write key.pem", "ansible.builtin.copy": {
            "content": "{{ app_key }}", "dest": BASE + "-b/key.pem", "mode": "0600"}, "no_log": True},
        {"name": "Write plain.txt", "ansible.builtin.template": {
            "src": "templates/app.conf.j2", "dest": BASE + "-b/plain.txt", "mode": "0644"}},
    ],
}]


def playbook(work: pathlib.Path, play: t.List[t.Dict[str, t.Any]], *args: str) -> subprocess.CompletedProcess:
    path = work / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible/collections"))
    bindir = pathlib.Path(sys.executable).parent
    return subprocess.run([str(bindir / "ansible-playbook"), "-i", str(work / "hosts.yml"), str(path), *args],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600, check=False)


def recap(run: subprocess.CompletedProcess) -> t.Dict[str, int]:
    found = re.search(r"%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % HOST, run.stdout)
    assert found, run.stdout + run.stderr
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, found.groups())))


@pytest.fixture(scope="module")
def lab_host() -> t.Iterator[str]:
    reason = lab_image_missing()
    if reason:
        pytest.skip(reason)
    start_host()
    try:
        yield HOST
    finally:
        remove_host()


def test_first_run_changes_second_is_a_no_op_and_check_diff_writes_nothing(lab_host, tmp_path):
    write_project(tmp_path)
    first = playbook(tmp_path, FILES_PLAY)
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap(first)["changed"] == 1
    assert SECRET not in first.stdout + first.stderr
    assert on_host("cat %s/app.conf" % BASE) == "# managed\nlisten 80\nworkers 2\n"
    assert on_host("cat %s/key.pem" % BASE) == SECRET
    assert on_host("stat -c '%%a %%U %%G' %s %s/conf.d %s/conf.d/app.json %s/key.pem" % ((BASE,) * 4)).split("\n")[:4] == [
        "755 root root", "750 root root", "640 root root", "600 root root"]

    second = playbook(tmp_path, FILES_PLAY)
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap(second)["changed"] == 0

    changed = json.loads(json.dumps(FILES_PLAY))
    changed[0]["vars"].update(app_port=8080, app_key=SECRET + "-rotated")
    check = playbook(tmp_path, changed, "--check", "--diff")
    assert check.returncode == 0, check.stdout + check.stderr
    assert recap(check)["changed"] == 1
    assert "-listen 80\n+listen 8080\n" in check.stdout, check.stdout
    assert "+(secret content changed)" in check.stdout
    assert SECRET not in check.stdout + check.stderr
    assert on_host("cat %s/app.conf" % BASE) == "# managed\nlisten 80\nworkers 2\n"


def test_a_failing_validate_fails_the_task_and_keeps_the_old_file(lab_host, tmp_path):
    write_project(tmp_path)
    assert playbook(tmp_path, FILES_PLAY).returncode == 0
    broken = json.loads(json.dumps(FILES_PLAY))
    broken[0]["vars"].update(app_json="{not json", app_port=9090)
    run = playbook(tmp_path, broken)
    assert run.returncode != 0
    assert recap(run)["failed"] == 1
    assert "%s/conf.d/app.json: validate" % BASE in run.stdout and "JSONDecodeError" in run.stdout
    # app.conf changed too, in an existing directory: staged, then dropped with the failure.
    assert on_host("cat %s/conf.d/app.json" % BASE) == '{"port": 80}'
    assert on_host("cat %s/app.conf" % BASE) == "# managed\nlisten 80\nworkers 2\n"
    assert on_host("ls -a %s %s/conf.d | grep -c mlstack-tmp || true" % (BASE, BASE)).strip() == "0"


def task_seconds(run: subprocess.CompletedProcess) -> float:
    """The play's task time: the sum of ansible.posix.profile_tasks' per-task lines (ansible.cfg enables it)."""
    times = re.findall(r"^.+? -{3,} (\d+\.\d+)s$", run.stdout, flags=re.MULTILINE)
    assert times, "no profile_tasks summary in the output:\n" + run.stdout
    return sum(map(float, times))


def timing(repetitions: int) -> None:
    reason = lab_image_missing()
    if reason:
        sys.exit("timing: " + reason)
    work = pathlib.Path(tempfile.mkdtemp(prefix="mlstack-files-timing."))
    print("load average at the start: %.2f %.2f %.2f" % os.getloadavg())
    start_host()
    try:
        write_project(work)
        for play in (FILES_PLAY, BUILTIN_PLAY):
            converge = playbook(work, play)
            assert converge.returncode == 0, converge.stdout + converge.stderr
        figures: t.Dict[str, t.List[t.Tuple[float, float]]] = {"files": [], "builtin": []}
        for _repetition in range(repetitions):
            for name, play in (("files", FILES_PLAY), ("builtin", BUILTIN_PLAY)):
                began = time.monotonic()
                run = playbook(work, play)
                wall = time.monotonic() - began
                assert run.returncode == 0, run.stdout + run.stderr
                assert recap(run)["changed"] == 0, "not a no-op run: " + name
                figures[name].append((task_seconds(run), wall))
        print("load average at the end: %.2f %.2f %.2f" % os.getloadavg())
        for name, rows in figures.items():
            tasks = sorted(r[0] for r in rows)
            walls = sorted(r[1] for r in rows)
            print("%-8s tasks %s s (median %.2f); ansible-playbook wall %s s (median %.2f)" % (
                name, " ".join("%.2f" % x for x in tasks), tasks[len(tasks) // 2],
                " ".join("%.2f" % x for x in walls), walls[len(walls) // 2]))
    finally:
        remove_host()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timing", type=int, metavar="N", required=True, help="no-op repetitions of each play")
    timing(parser.parse_args().timing)
