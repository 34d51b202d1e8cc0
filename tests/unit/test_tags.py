# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Tags and host patterns of the playbooks, through ansible-playbook's own listings
(--list-hosts, --list-tasks, --list-tags: nothing is run, no host is contacted).

- Every example inventory lists site.yml's tags and tasks; every role has its tag; the
  preflight, the bundle's verification and the facts play are tagged ``always``.
- ``--tags postgres`` lists the PostgreSQL play's whole role, the ``always`` plays, and of
  every other play only the argument-spec validation ansible-core tags ``always``
  (lib/ansible/playbook/role/__init__.py, ``_create_validation_task``).
- Play-level tags reach the tasks of a role brought in by ``include_role`` (which
  --list-tasks cannot show): a real, controller-only run proves it.
- No "Could not match supplied host pattern" warning for a group an inventory does not
  define, while each play still selects the hosts its group pattern did.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from typing import Sequence

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINDIR = pathlib.Path(sys.executable).parent
INVENTORIES = sorted(p.name for p in (ROOT / "inventories").iterdir() if (p / "hosts.yml").is_file())
MISMATCH = "Could not match supplied host pattern"
ALWAYS_PLAYS = {
    "Preflight (every host's inputs, before anything changes)": "preflight",
    "Verify the bundle (offline sites)": "bundle_verify",
    "Facts of every host (gathered once; the plays below reuse them)": "facts",
}
PREFLIGHT_TASK = "mlstack.platform.common : Check this host's variables against every role it will run"
BUNDLE_TASK = "Verify the bundle's signature, checksums and completeness"
VALIDATION = re.compile(r"^mlstack\.platform\.\w+ : Validating arguments against arg spec ")
# The group pattern each play had before its hosts were written as a template (the hosts it
# must still select), by playbook and play name.
GROUP_PATTERNS = {
    "site.yml": {
        "Site registry CA and certificate": "registry",
        "Docker hosts": "docker_hosts",
        "Site registry and package mirror": "registry",
        "Log docker hosts in to the site registry": "docker_hosts",
        "PostgreSQL": "postgres",
        "S3 object storage": "object_store",
        "Labelling (Label Studio)": "labeling",
        "GitLab": "gitlab",
        "MLReef Nautilus": "nautilus",
        "GitLab runners": "gitlab_runners",
        "MicroK8s cluster (control plane and workers)": "k8s_control_plane:k8s_workers",
        "ML applications on the cluster (Determined, Seldon, Pachyderm)": "k8s_control_plane[0]",
    },
    "docker_hosts.yml": {"Docker hosts": "docker_hosts"},
    "backup.yml": {
        "Back up PostgreSQL (the roles and every database)": "postgres[0]",
        "Back up the S3 store (every bucket)": "object_store[0]",
        "Back up Label Studio's data directory": "labeling[0]",
        "Back up the registry's storage": "registry[0]",
        "Back up GitLab (its backup, secrets and configuration)": "gitlab[0]",
    },
    "restore.yml": {
        "Stop Label Studio while its data is replaced": "labeling[0]",
        "Restore PostgreSQL (the roles and every database)": "postgres[0]",
        "Restore the S3 store": "object_store[0]",
        "Restore the registry's storage": "registry[0]",
        "Restore GitLab": "gitlab[0]",
        "Restore Label Studio's data directory and start it": "labeling[0]",
    },
}
# The tags of the other playbooks (README, "Tags").
# (preflight.yml's `always`: the argument-spec validation ansible-core adds to common's
# preflight entry point.)
AREA_TAGS = {
    "preflight.yml": {"always", "preflight"},
    "docker_hosts.yml": {"always", "preflight", "docker", "docker_host"},
    "backup.yml": {"always", "preflight", "backup"},
    "restore.yml": {"always", "preflight", "restore"},
    "bundle.yml": {"bundle"},
    "bundle_verify.yml": {"bundle_verify"},
}
PLAYBOOKS = ("site.yml", *sorted(AREA_TAGS))


@dataclasses.dataclass
class Play:
    name: str
    tags: set[str]
    hosts: set[str] = dataclasses.field(default_factory=set)
    tasks: list[tuple[str, frozenset[str]]] = dataclasses.field(default_factory=list)
    task_tags: set[str] = dataclasses.field(default_factory=set)

    def task_names(self) -> list[str]:
        return [name for name, dummy in self.tasks]


def ansible_env() -> dict[str, str]:
    """The environment tests/unit's other ansible runs use (test_preflight_site.py)."""
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible/collections"))


def run(inventory: pathlib.Path, playbooks: Sequence[str], *args: str,
        env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BINDIR / "ansible-playbook"), "-i", str(inventory),
         *(str(ROOT / "playbooks" / playbook) for playbook in playbooks), *args],
        cwd=ROOT, env=env or ansible_env(), capture_output=True, text=True, timeout=300, check=False)


def json_report(result: subprocess.CompletedProcess) -> dict:
    """The JSON callback's report, after whatever profile_tasks printed."""
    start = re.search(r"^\{$", result.stdout, re.M)
    assert start, result.stdout[-2000:] + result.stderr[-2000:]
    report, dummy = json.JSONDecoder().raw_decode(result.stdout[start.start():])
    return report


def _tags(text: str) -> set[str]:
    return {tag.strip() for tag in text.split(",") if tag.strip()}


def parse_listing(output: str) -> dict[str, list[Play]]:
    """ansible-core 2.19's --list-hosts/--list-tasks/--list-tags output (cli/playbook.py),
    by playbook (file name)."""
    books: dict[str, list[Play]] = {}
    plays: list[Play] = []
    section = None
    for line in output.splitlines():
        stripped = line.strip()
        header = re.match(r"^play #\d+ \([^)]*\): (?P<name>.*)\tTAGS: \[(?P<tags>.*)\]$", stripped)
        if stripped.startswith("playbook: "):
            plays = books.setdefault(pathlib.Path(stripped[len("playbook: "):]).name, [])
        elif header:
            plays.append(Play(header["name"], _tags(header["tags"])))
            section = None
        elif not plays or not stripped or stripped.startswith("pattern:"):
            continue
        elif stripped.startswith("TASK TAGS: ["):
            plays[-1].task_tags = _tags(stripped[len("TASK TAGS: ["):-1])
        elif re.match(r"^hosts \(\d+\):$", stripped):
            section = "hosts"
        elif stripped == "tasks:":
            section = "tasks"
        elif section == "hosts":
            plays[-1].hosts.add(stripped)
        elif section == "tasks":
            task = re.match(r"^(?P<name>.*)\tTAGS: \[(?P<tags>.*)\]$", stripped)
            assert task, line
            plays[-1].tasks.append((task["name"], frozenset(_tags(task["tags"]))))
    return books


def inventory_path(inventory: str) -> pathlib.Path:
    """An example inventory by name, or a path."""
    return ROOT / "inventories" / inventory / "hosts.yml" if "/" not in inventory else pathlib.Path(inventory)


@lru_cache(maxsize=None)
def listing(inventory: str, *args: str, playbooks: tuple[str, ...] = PLAYBOOKS) -> tuple[int, dict[str, list[Play]], str]:
    """rc, the plays of each playbook and the log (stdout's end, stderr) of one listing run
    of the playbooks (all of them by default), cached: the tests below share the runs."""
    result = run(inventory_path(inventory), playbooks, "--list-hosts", "--list-tasks", "--list-tags", *args)
    books = parse_listing(result.stdout)
    assert result.returncode != 0 or sorted(books) == sorted(playbooks), sorted(books)
    return result.returncode, books, result.stdout[-3000:] + result.stderr


def by_name(plays, name: str) -> Play:
    matches = [play for play in plays if play.name == name]
    assert len(matches) == 1, (name, [play.name for play in plays])
    return matches[0]


def site_roles() -> set[str]:
    """The roles site.yml composes (``roles:`` entries and include_role/import_role names)."""
    names: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "role" and isinstance(value, str):
                    names.add(value)
                elif key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                    names.add(value["name"])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / "playbooks/site.yml").read_text()))
    walk(yaml.safe_load((ROOT / "playbooks/preflight.yml").read_text()))
    return {name.removeprefix("mlstack.platform.") for name in names} - {"common"}


def readme_tags() -> set[str]:
    """The tags in the first two columns of README's table under "## Tags"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Tags\n", 1)[1].split("\n## ", 1)[0]
    tags: set[str] = set()
    for row in re.findall(r"^\|(.*)\|$", section, re.M):
        cells = [cell.strip() for cell in row.split("|")]
        if len(cells) >= 3 and not set(cells[0]) <= set("-"):
            tags.update(re.findall(r"`([a-z0-9_]+)`", cells[0] + " " + cells[1]))
    return tags


def test_site_composes_every_platform_role():
    roles = {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()}
    assert site_roles() == roles - {"common", "bundle"}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_site_lists_tags_and_tasks_for_every_example_inventory(inventory):
    rc, books, log = listing(inventory)
    assert rc == 0, log
    plays = books["site.yml"]
    assert len(plays) >= 15, log
    every_tag = set().union(*(play.task_tags for play in plays))
    missing = site_roles() - every_tag
    assert not missing, f"role tags missing from --list-tags: {sorted(missing)}"
    assert every_tag == readme_tags(), "README's Tags table differs from --list-tags"
    for name, tag in ALWAYS_PLAYS.items():
        assert by_name(plays, name).tags == {"always", tag}
    for play in plays:
        assert play.tags, f"play {play.name!r} has no tag"
        for task, tags in play.tasks:
            assert play.tags <= tags, (play.name, task, sorted(tags))
            # A role's tasks carry its name as a tag (common's: the role they serve).
            role = re.match(r"^mlstack\.platform\.(\w+) : ", task)
            if role and role[1] != "common":
                assert role[1] in tags, (play.name, task, sorted(tags))


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_tags_postgres_lists_the_postgres_role_and_the_always_plays_only(inventory):
    rc, books, log = listing(inventory, "--tags", "postgres", playbooks=("site.yml",))
    assert rc == 0, log
    plays, full = books["site.yml"], listing(inventory)[1]["site.yml"]
    assert PREFLIGHT_TASK in by_name(plays, "Preflight (every host's inputs, before anything changes)").task_names()
    assert BUNDLE_TASK in by_name(plays, "Verify the bundle (offline sites)").task_names()
    # The whole role, as an untagged run has it.
    postgres = by_name(plays, "PostgreSQL").task_names()
    assert postgres == by_name(full, "PostgreSQL").task_names()
    assert any(task.startswith("mlstack.platform.postgres : Install PostgreSQL") for task in postgres), postgres
    for play in plays:
        if play.name not in ALWAYS_PLAYS and play.name != "PostgreSQL":
            others = [task for task in play.task_names() if not VALIDATION.match(task)]
            assert others == [], (play.name, others)
    listed = [task for play in plays for task in play.task_names()]
    assert any(task.startswith("mlstack.platform.minio : ") for task in by_name(full, "S3 object storage").task_names())
    assert not [task for task in listed if task.startswith("mlstack.platform.minio : ") and not VALIDATION.match(task)]


def test_a_role_tag_in_the_ml_apps_play_selects_that_role_only():
    rc, books, log = listing("single_node", "--tags", "training", playbooks=("site.yml",))
    assert rc == 0, log
    name = "ML applications on the cluster (Determined, Seldon, Pachyderm)"
    tasks = by_name(books["site.yml"], name).task_names()
    full = by_name(listing("single_node")[1]["site.yml"], name).task_names()
    determined = [task for task in full if task.startswith("mlstack.platform.determined : ")]
    assert len(determined) > 1 and set(determined) <= set(tasks)
    assert not [task for task in tasks if re.match(r"^mlstack\.platform\.(seldon|pachyderm) : ", task)
                and not VALIDATION.match(task)]


def test_a_step_tag_selects_its_plays():
    rc, books, log = listing("multi_node", "--tags", "registry", playbooks=("site.yml",))
    assert rc == 0, log
    plays, full = books["site.yml"], listing("multi_node")[1]["site.yml"]
    for name in ("Site registry CA and certificate", "Site registry and package mirror",
                 "Log docker hosts in to the site registry"):
        assert by_name(plays, name).task_names() == by_name(full, name).task_names() != []
    assert [task for task in by_name(plays, "Docker hosts").task_names() if not VALIDATION.match(task)] == []


@pytest.mark.parametrize("playbook", sorted(AREA_TAGS))
def test_area_playbooks_list_their_tags(playbook):
    rc, books, log = listing("single_node")
    assert rc == 0, log
    assert set().union(*(play.task_tags for play in books[playbook])) == AREA_TAGS[playbook]


def test_tags_preflight_lists_only_the_check_in_backup_and_restore():
    rc, books, log = listing("lab_multi", "--tags", "preflight")
    assert rc == 0, log
    for playbook in ("backup.yml", "restore.yml", "preflight.yml"):
        assert [play.name for play in books[playbook] if play.tasks] == [
            "Preflight (every host's inputs, before anything changes)"], playbook


@pytest.mark.parametrize("playbook, args", [("backup.yml", ["--tags", "preflight"]),
                                            ("restore.yml", ["--tags", "preflight"]),
                                            ("docker_hosts.yml", ["--tags", "preflight", "--skip-tags", "docker"])])
def test_the_check_alone_touches_no_host(playbook, args):
    # single_node's host is a documentation address nobody answers on: a gathering or any
    # task on it would show as unreachable. The plays after the preflight gather facts
    # (gather_facts: true); their tags keep that gathering out (a tagged play's gathering
    # has the play's tags, lib/ansible/executor/play_iterator.py).
    result = run(ROOT / "inventories/single_node/hosts.yml", [playbook], *args,
                 env=dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    report = json_report(result)
    assert report["stats"]["ml1"]["unreachable"] == 0
    assert [play["play"]["name"] for play in report["plays"] if any(t["hosts"] for t in play["tasks"])] == [
        "Preflight (every host's inputs, before anything changes)"]
    assert PREFLIGHT_TASK in [task["task"]["name"] for task in report["plays"][0]["tasks"]]


def test_tags_reach_the_tasks_of_an_included_role(tmp_path):
    # A real run, on the controller only: --tags bundle_verify on the air-gapped example
    # with a bundle that is not one. The play's tag must reach the tasks of the role that
    # include_role brings in (no `apply:` needed for a play-level tag): the key check passes,
    # the verification runs and fails, and the run stops there (any_errors_fatal) before
    # any play would connect to a host. --skip-tags facts: no gathering either.
    inventory = tmp_path / "airgap"
    inventory.mkdir()
    shutil.copy(ROOT / "inventories/airgap/hosts.yml", inventory / "hosts.yml")
    shutil.copytree(ROOT / "inventories/airgap/group_vars", inventory / "group_vars")
    bundle = tmp_path / "bundle"
    (bundle / "images/oci").mkdir(parents=True)
    (tmp_path / "key.asc").write_text("")
    result = run(inventory / "hosts.yml", ["site.yml"], "--tags", "bundle_verify", "--skip-tags", "facts",
                 "-e", f"mlstack_bundle_dir={bundle}", "-e", f"mlstack_bundle_public_key={tmp_path / 'key.asc'}",
                 env=dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    report = json_report(result)
    ran = {task["task"]["name"]: task["hosts"] for play in report["plays"] for task in play["tasks"]}
    key_check = ran["mlstack.platform.common : Check that the inventory names the key bundles must be signed with"]
    verify = ran["mlstack.platform.common : " + BUNDLE_TASK]
    assert [r.get("failed", False) for r in key_check.values()] == [False], key_check
    assert [r.get("failed", False) for r in verify.values()] == [True], verify
    assert "it has no MANIFEST.json" in next(iter(verify.values()))["msg"]
    assert result.returncode != 0
    assert [play["play"]["name"] for play in report["plays"]] == [
        "Preflight (every host's inputs, before anything changes)", "Verify the bundle (offline sites)"]


def test_preflight_playbook_is_the_first_play_of_site_yml():
    first = yaml.safe_load((ROOT / "playbooks/site.yml").read_text())[0]
    alone = yaml.safe_load((ROOT / "playbooks/preflight.yml").read_text())
    assert len(alone) == 1
    assert {key: value for key, value in first.items() if key != "tags"} == {
        key: value for key, value in alone[0].items() if key != "tags"}
    assert (first["tags"], alone[0]["tags"]) == (["always", "preflight"], ["preflight"])


def test_preflight_playbook_runs_only_the_check(tmp_path):
    bundle = tmp_path / "bundle"
    for sub in ("images/oci", "python/debian-bookworm/label_studio"):
        (bundle / sub).mkdir(parents=True)
    (tmp_path / "key.asc").write_text("")
    result = run(ROOT / "inventories/multi_node/hosts.yml", ["preflight.yml"],
                 "-e", f"mlstack_bundle_dir={bundle}", "-e", f"mlstack_bundle_public_key={tmp_path / 'key.asc'}",
                 env=dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    report = json_report(result)
    assert [play["play"]["name"] for play in report["plays"]] == [
        "Preflight (every host's inputs, before anything changes)"]
    checked = [task["hosts"] for task in report["plays"][0]["tasks"] if task["task"]["name"] == PREFLIGHT_TASK]
    assert checked and set(checked[0]) == {"k8s1", "k8s2", "k8s3", "data1", "git1", "runner1"}


def test_no_host_pattern_warning_on_single_node_and_the_warning_is_live():
    rc, books, log = listing("single_node")
    assert rc == 0, log
    assert MISMATCH not in log
    assert by_name(books["site.yml"], "Site registry and package mirror").hosts == set()
    # single_node defines no registry group: a plain pattern naming it does warn here, so
    # the absence above is the playbooks' doing, not this environment's configuration.
    plain = subprocess.run([str(BINDIR / "ansible"), "registry", "-i", str(ROOT / "inventories/single_node/hosts.yml"),
                            "--list-hosts"], cwd=ROOT, env=ansible_env(), capture_output=True, text=True,
                           timeout=120, check=False)
    assert MISMATCH + ", ignoring: registry" in plain.stderr, plain.stderr


def test_the_playbooks_run_where_ansible_cfg_makes_a_mismatch_an_error():
    # A user's own ansible.cfg may say host_pattern_mismatch = error: the playbooks must
    # still run on an inventory that defines only some groups.
    result = run(ROOT / "inventories/single_node/hosts.yml", PLAYBOOKS, "--list-hosts",
                 env=dict(ansible_env(), ANSIBLE_HOST_PATTERN_MISMATCH="error"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(parse_listing(result.stdout)) == sorted(PLAYBOOKS)


def _group_pattern_hosts(inventory: pathlib.Path, pattern: str) -> set[str]:
    """The hosts ansible-core selects for a group pattern, by its own inventory manager."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    return {host.name for host in manager.get_hosts(pattern)}


def _edge_inventory(tmp_path: pathlib.Path) -> pathlib.Path:
    """Groups defined but empty, a host in both Kubernetes groups, two control-plane hosts."""
    path = tmp_path / "edge" / "hosts.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"all": {"children": {
        "postgres": {},
        "registry": {"hosts": {}},
        "k8s_control_plane": {"hosts": {"k1": None, "k2": None}},
        "k8s_workers": {"hosts": {"k2": None, "k3": None}},
        "docker_hosts": {"hosts": {"k3": None}},
        "labeling": {"hosts": {"k3": None}},
    }}}))
    return path


@pytest.mark.parametrize("inventory", INVENTORIES + ["edge"])
def test_plays_select_the_hosts_their_group_patterns_did(inventory, tmp_path):
    if inventory == "edge":
        inventory = str(_edge_inventory(tmp_path))
    rc, books, log = listing(inventory)
    assert rc == 0, log
    assert MISMATCH not in log
    for playbook, patterns in GROUP_PATTERNS.items():
        for name, pattern in patterns.items():
            expected = _group_pattern_hosts(inventory_path(inventory), pattern)
            assert by_name(books[playbook], name).hosts == expected, (playbook, name, pattern)
