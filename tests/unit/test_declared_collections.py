# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Every collection the shipped content uses is a declared dependency.

``ansible-galaxy collection install mlstack.platform`` installs only what galaxy.yml's
``dependencies`` name; a module, lookup, filter, test, role or import from any other
collection fails on a user's controller at run time (issue 16: amazon.aws was used by the
minio role and verify.yml and declared nowhere). This scans what ships in the collection
tarball (roles/, playbooks/, plugins/, meta/runtime.yml; not molecule/ or tests/, and not
ansible.cfg, which build_ignore keeps out) and names each collection that is used but not
declared. requirements.yml must list the same collections with the same ranges, and the
ranges must admit what the pinned ``ansible`` package carries (the offline controller's
dependencies come from it)."""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import json
import pathlib
import re
import typing as t

import pytest
import yaml

from ansible.galaxy.dependency_resolution.versioning import meets_requirements
from ansible.playbook.block import Block
from ansible.playbook.handler import Handler
from ansible.playbook.task import Task

ROOT = pathlib.Path(__file__).resolve().parents[2]
SELF = "mlstack.platform"
# ansible-core's own plugins; everything else (ansible.posix, ansible.utils ...) is a collection.
CORE = {"ansible.builtin", "ansible.legacy"}
# Declared dependencies the shipped content does not use, each with where it is used instead;
# test_an_unused_dependency_is_used_where_it_says keeps this from going stale.
USED_OUTSIDE_THE_TARBALL = {
    "ansible.posix": ("ansible.cfg", "ansible.posix.profile_tasks"),
}

_NAME = r"([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\.[a-z0-9_]+(?:\.[a-z0-9_]+)*)"
FQCN = re.compile("^" + _NAME + "$")
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
JINJA_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
JINJA_USES = {
    "lookup": re.compile(r"\b(?:lookup|query|q)\s*\(\s*['\"]" + _NAME + r"['\"]"),
    "filter": re.compile(r"\|\s*" + _NAME),
    "test": re.compile(r"\bis\s+(?:not\s+)?" + _NAME),
}
# Task keys Ansible evaluates as bare Jinja (no {{ }}): the whole string is code.
BARE_JINJA_KEYS = {"when", "changed_when", "failed_when", "until", "that"}
# Every key of a task that is not its action, from ansible-core itself (action: and
# local_action: name the action in their value).
ACTION_KEYWORDS = {"action", "local_action"}
TASK_KEYWORDS = (set(Task.fattributes) | set(Block.fattributes) | set(Handler.fattributes)) - ACTION_KEYWORDS
PLAY_TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers")
# Keywords whose value names a plugin (connection, strategy, become plugins).
PLUGIN_KEYWORDS = ("connection", "strategy", "become_method")
ROLE_ACTIONS = {f"{prefix}{action}" for prefix in ("", "ansible.builtin.", "ansible.legacy.")
                for action in ("include_role", "import_role")}


@dataclasses.dataclass(frozen=True)
class Use:
    """One use of a plugin, role or playbook by its FQCN, and where."""
    name: str
    kind: str
    where: str

    @property
    def collection(self) -> str:
        return ".".join(self.name.split(".")[:2])


@dataclasses.dataclass
class Scan:
    uses: list[Use] = dataclasses.field(default_factory=list)
    # Actions named by a short name: their collection depends on routing, the scan cannot
    # see it.
    unqualified: list[str] = dataclasses.field(default_factory=list)

    def add(self, name: t.Any, kind: str, where: str) -> None:
        if isinstance(name, str) and FQCN.match(name.strip()):
            self.uses.append(Use(name.strip(), kind, where))


class _TolerantLoader(yaml.SafeLoader):
    """safe_load that reads !vault and !unsafe values as plain scalars."""


_TolerantLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None)


def load_yaml(path: pathlib.Path) -> t.Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader)  # noqa: S506 - a safe loader


# --- Jinja ---------------------------------------------------------------------------

def jinja_names(text: str, bare: bool = False) -> t.Iterator[tuple[str, str]]:
    """(kind, FQCN) of each lookup, filter and test in Jinja code: inside {{ }} and {% %},
    or the whole string for a bare expression (when:, that: ...). Jinja comments and plain
    text around the code are not code."""
    text = JINJA_COMMENT.sub("", text)
    chunks = [text] if bare else JINJA_CODE.findall(text)
    for chunk in chunks:
        for kind, pattern in JINJA_USES.items():
            for match in pattern.finditer(chunk):
                yield kind, match.group(1)


def scan_strings(node: t.Any, where: str, scan: Scan, key: t.Any = None) -> None:
    if isinstance(node, dict):
        for child_key, value in node.items():
            scan_strings(value, where, scan, child_key)
    elif isinstance(node, list):
        for item in node:
            scan_strings(item, where, scan, key)
    elif isinstance(node, str):
        for kind, name in jinja_names(node, bare=key in BARE_JINJA_KEYS):
            scan.add(name, kind, where)


# --- Tasks, plays, roles -------------------------------------------------------------

def scan_keywords(node: dict, where: str, scan: Scan) -> None:
    """module_defaults (modules and group/<collection>.<group>), plugin keywords, the
    collections keyword."""
    defaults = node.get("module_defaults") or {}
    for entry in defaults if isinstance(defaults, list) else [defaults]:
        for name in (entry or {}) if isinstance(entry, dict) else ():
            name = str(name)
            if name.startswith("group/"):
                scan.add(name[len("group/"):], "action group", where)
            else:
                scan.add(name, "module default", where)
    for keyword in PLUGIN_KEYWORDS:
        scan.add(node.get(keyword), keyword, where)
    for collection in node.get("collections") or []:
        if isinstance(collection, str):
            scan.uses.append(Use(collection + ".*", "collections keyword", where))


def scan_roles(entries: t.Any, where: str, scan: Scan) -> None:
    for entry in entries or []:
        name = entry.get("role", entry.get("name")) if isinstance(entry, dict) else entry
        scan.add(name, "role", where)


def scan_action(key: str, value: t.Any, where: str, scan: Scan) -> None:
    if key in ACTION_KEYWORDS:
        key, value = (value.get("module"), value) if isinstance(value, dict) else \
            ((str(value).split() or [""])[0], None)
        if not key:
            return
    if key.startswith("with_"):
        scan.add(key[len("with_"):], "lookup", where)
        return
    if not FQCN.match(key):
        scan.unqualified.append(f"{where}: {key}")
        return
    scan.add(key, "module", where)
    if key in ROLE_ACTIONS and isinstance(value, dict):
        scan.add(value.get("name"), "role", where)


def scan_tasks(tasks: t.Any, where: str, scan: Scan) -> None:
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        scan_keywords(task, where, scan)
        if any(section in task for section in ("block", "rescue", "always")):
            for section in ("block", "rescue", "always"):
                scan_tasks(task.get(section), where, scan)
            continue
        for key, value in task.items():
            if key not in TASK_KEYWORDS:
                scan_action(str(key), value, where, scan)


def scan_plays(plays: t.Any, where: str, scan: Scan) -> None:
    for play in plays or []:
        if not isinstance(play, dict):
            continue
        for key in ("import_playbook", "ansible.builtin.import_playbook"):
            if key in play:
                scan.add(play[key], "playbook", where)
        scan_keywords(play, where, scan)
        scan_roles(play.get("roles"), where, scan)
        for section in PLAY_TASK_LISTS:
            scan_tasks(play.get(section), where, scan)


# --- Python and meta -----------------------------------------------------------------

def scan_python(path: pathlib.Path, where: str, scan: Scan) -> None:
    """Imports of ansible_collections.<ns>.<coll> and documentation fragments (ansible-doc
    and the module's argument spec need the fragment's collection)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "ansible_collections" and len(parts) >= 3:
                scan.uses.append(Use(".".join(parts[1:3]) + ".*", "python import", where))
        if isinstance(node, ast.Assign) and any(getattr(target, "id", "") == "DOCUMENTATION"
                                                for target in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                doc = yaml.safe_load(node.value.value) or {}
                fragments = doc.get("extends_documentation_fragment") or []
                for fragment in [fragments] if isinstance(fragments, str) else fragments:
                    scan.add(fragment, "doc fragment", where)


def scan_runtime(runtime: t.Any, where: str, scan: Scan) -> None:
    """plugin_routing redirects and action groups extending another collection's group."""
    runtime = runtime or {}
    for plugins in (runtime.get("plugin_routing") or {}).values():
        for routing in (plugins or {}).values():
            scan.add((routing or {}).get("redirect"), "redirect", where)
    for group in (runtime.get("action_groups") or {}).values():
        for entry in group or []:
            if isinstance(entry, dict):
                for extended in (entry.get("metadata") or {}).get("extend_group") or []:
                    scan.add(extended, "action group", where)


# --- The collection ------------------------------------------------------------------

def scan_collection(root: pathlib.Path) -> Scan:
    scan = Scan()

    def rel(path: pathlib.Path) -> str:
        return str(path.relative_to(root))

    for path in sorted((root / "playbooks").glob("*.yml")):
        data = load_yaml(path)
        scan_plays(data, rel(path), scan)
        scan_strings(data, rel(path), scan)
    for role in sorted(p for p in (root / "roles").glob("*") if p.is_dir()):
        for path in sorted(role.rglob("*")):
            if not path.is_file():
                continue
            part = path.relative_to(role).parts[0]
            if path.suffix in (".yml", ".yaml"):
                data = load_yaml(path)
                if part in ("tasks", "handlers"):
                    scan_tasks(data, rel(path), scan)
                elif path.relative_to(role).as_posix() in ("meta/main.yml", "meta/main.yaml"):
                    scan_roles((data or {}).get("dependencies"), rel(path), scan)
                    scan_keywords(data or {}, rel(path), scan)
                scan_strings(data, rel(path), scan)
            elif part == "templates":
                for kind, name in jinja_names(path.read_text(encoding="utf-8")):
                    scan.add(name, kind, rel(path))
    for path in sorted((root / "plugins").rglob("*.py")):
        scan_python(path, rel(path), scan)
    runtime = root / "meta" / "runtime.yml"
    if runtime.is_file():
        scan_runtime(load_yaml(runtime), rel(runtime), scan)
    return scan


def declared(root: pathlib.Path) -> dict[str, str]:
    return dict((load_yaml(root / "galaxy.yml") or {}).get("dependencies") or {})


def undeclared(scan: Scan, dependencies: t.Iterable[str]) -> dict[str, list[Use]]:
    allowed = CORE | {SELF} | set(dependencies)
    found: dict[str, list[Use]] = {}
    for use in scan.uses:
        if use.collection not in allowed:
            found.setdefault(use.collection, []).append(use)
    return found


def describe(missing: dict[str, list[Use]]) -> str:
    lines = []
    for collection, uses in sorted(missing.items()):
        places = sorted({f"{use.where} ({use.kind} {use.name})" for use in uses})
        more = f" and {len(places) - 3} more" if len(places) > 3 else ""
        lines.append(f"{collection} is used but not in galaxy.yml's dependencies: "
                     f"{'; '.join(places[:3])}{more}")
    return "\n".join(lines)


def requirements_disagreement(root: pathlib.Path) -> list[str]:
    """How requirements.yml's collections differ from galaxy.yml's dependencies (nothing
    when it lists no collections)."""
    path = root / "requirements.yml"
    data = load_yaml(path) if path.is_file() else None
    entries = (data or {}).get("collections") if isinstance(data, dict) else data
    if not entries:
        return []
    listed = {}
    for entry in entries:
        name, version = (entry.get("name"), entry.get("version", "*")) if isinstance(entry, dict) else (entry, "*")
        listed[str(name)] = str(version)
    wanted = {name: str(version) for name, version in declared(root).items()}
    problems = [f"requirements.yml lacks {name} {wanted[name]!r} (galaxy.yml)" for name in sorted(set(wanted) - set(listed))]
    problems += [f"requirements.yml lists {name}, galaxy.yml does not" for name in sorted(set(listed) - set(wanted))]
    problems += [f"requirements.yml: {name} {listed[name]!r}, galaxy.yml: {wanted[name]!r}"
                 for name in sorted(set(listed) & set(wanted)) if listed[name] != wanted[name]]
    return problems


SCAN = scan_collection(ROOT)


# --- Tests of the collection ---------------------------------------------------------

def test_the_scan_reads_every_kind_of_use():
    found = {(use.kind, use.name) for use in SCAN.uses}
    assert len(SCAN.uses) > 500
    assert {
        ("module", "amazon.aws.s3_bucket"),                    # roles/minio/tasks/buckets.yml
        ("action group", "amazon.aws.aws"),                    # its module_defaults
        ("module", "amazon.aws.s3_object"),                    # playbooks/verify.yml
        ("lookup", "community.general.random_string"),         # roles/determined/tasks/credentials.yml
        ("lookup", "ansible.builtin.file"),
        ("filter", "mlstack.platform.health_record"),          # playbooks/verify.yml
        ("role", "mlstack.platform.common"),                   # roles/*/meta/main.yml, site.yml
        ("python import", "mlstack.platform.*"),               # plugins/
    } <= found


def test_every_collection_used_is_declared():
    missing = undeclared(SCAN, declared(ROOT))
    assert not missing, describe(missing)


def test_every_action_is_named_by_its_fqcn():
    assert not SCAN.unqualified, "actions by short name (the scan cannot tell their collection): " + \
        "; ".join(SCAN.unqualified)


def test_requirements_yml_agrees_with_galaxy_yml():
    problems = requirements_disagreement(ROOT)
    assert not problems, "\n".join(problems)


def test_every_declared_dependency_is_used():
    used = {use.collection for use in SCAN.uses}
    unused = sorted(set(declared(ROOT)) - used - set(USED_OUTSIDE_THE_TARBALL))
    assert not unused, f"galaxy.yml declares collections nothing in the tarball uses: {', '.join(unused)}"


@pytest.mark.parametrize("collection", sorted(USED_OUTSIDE_THE_TARBALL))
def test_an_unused_dependency_is_used_where_it_says(collection):
    path, name = USED_OUTSIDE_THE_TARBALL[collection]
    assert collection in declared(ROOT)
    assert name.startswith(collection + ".") and name in (ROOT / path).read_text(encoding="utf-8"), \
        f"{path} no longer uses {name}: drop {collection} from USED_OUTSIDE_THE_TARBALL (and galaxy.yml?)"


def ansible_package_collections() -> tuple[str, pathlib.Path]:
    try:
        dist = importlib.metadata.distribution("ansible")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the `ansible` package is not installed in this Python")
    return dist.version, pathlib.Path(str(dist.locate_file("ansible_collections")))


def test_declared_ranges_admit_the_pinned_ansible_packages_collections():
    version, collections = ansible_package_collections()
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pins = dict(line.split("==", 1) for line in lines if "==" in line)
    assert pins.get("ansible") == version, f"the venv's ansible is {version}, requirements.txt pins {pins.get('ansible')}"
    for name, wanted in declared(ROOT).items():
        manifest = collections.joinpath(*name.split("."), "MANIFEST.json")
        assert manifest.is_file(), f"ansible {version} does not carry {name} ({manifest})"
        carried = json.loads(manifest.read_text())["collection_info"]["version"]
        assert meets_requirements(carried, wanted), \
            f"galaxy.yml: {name} {wanted!r} does not admit {carried}, which ansible {version} carries"


# --- Tests of the scanner ------------------------------------------------------------

PLANTED_TASKS = """\
---
# A comment is not code: is comment.only.thing
- name: Call a module of an undeclared collection
  acme.widgets.frob:
    size: "{{ lookup('acme.lookups.thing', 'x') | acme.filters.shape }}"
- name: A block with an undeclared action group
  module_defaults:
    group/acme.clouds.all:
      region: here
  block:
    - name: Call a declared module
      community.general.archive:
        path: /x
      when: result is acme.tests.ready
    - name: Loop over an undeclared lookup
      ansible.builtin.debug:
        msg: "text that says it is plain.prose.only"
      with_acme.loops.items: [1]
- name: Include a role of an undeclared collection
  ansible.builtin.include_role:
    name: acme.roles.webserver
- name: Call a module by its short name
  copy:
    src: a
"""


def plant(root: pathlib.Path) -> pathlib.Path:
    """A collection tree with undeclared FQCNs in every kind of place the scan reads, and
    others where the scan must not look (molecule/, tests/, ansible.cfg, plain text)."""
    files = {
        "galaxy.yml": "dependencies:\n  community.general: '>=8.0.0'\n",
        "requirements.yml": "collections:\n  - name: community.general\n    version: '>=9.0.0'\n"
                            "  - name: acme.extra\n",
        "roles/web/tasks/main.yml": PLANTED_TASKS,
        "roles/web/meta/main.yml": "dependencies:\n  - role: acme.deps.base\n",
        "roles/web/templates/site.conf.j2": "plain text: it is acme.prose.only\n{{ x | acme.templates.quote }}\n"
                                            "{# {{ y | acme.commented.out }} #}\n",
        "roles/web/defaults/main.yml": "web_items: \"{{ query('acme.queries.list') }}\"\n",
        "playbooks/site.yml": "- name: Play\n  hosts: all\n  connection: acme.conn.ssh\n"
                              "  roles:\n    - acme.playroles.db\n",
        "plugins/modules/thing.py": 'DOCUMENTATION = """\nextends_documentation_fragment:\n'
                                    '  - acme.docs.auth\n"""\n'
                                    "from ansible_collections.acme.utils.plugins.module_utils import x\n"
                                    "TEXT = 'from ansible_collections.acme.strings import y'\n",
        "meta/runtime.yml": "plugin_routing:\n  modules:\n    old:\n      redirect: acme.moved.new\n",
        "molecule/default/converge.yml": "- name: P\n  hosts: all\n  tasks:\n"
                                         "    - name: T\n      hidden.molecule.mod: {}\n",
        "tests/integration/targets/t/tasks/main.yml": "- name: T\n  hidden.tests.mod: {}\n",
        "ansible.cfg": "[defaults]\ncallbacks_enabled = hidden.cfg.profile\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_scanner_finds_each_planted_undeclared_fqcn(tmp_path):
    root = plant(tmp_path)
    scan = scan_collection(root)
    missing = undeclared(scan, declared(root))
    assert sorted(missing) == [
        "acme.clouds", "acme.conn", "acme.deps", "acme.docs", "acme.filters", "acme.lookups",
        "acme.loops", "acme.moved", "acme.playroles", "acme.queries", "acme.roles",
        "acme.templates", "acme.tests", "acme.utils", "acme.widgets"]
    assert [use.where for use in missing["acme.widgets"]] == ["roles/web/tasks/main.yml"]
    assert scan.unqualified == ["roles/web/tasks/main.yml: copy"]
    message = describe(missing)
    assert "acme.widgets is used but not in galaxy.yml's dependencies: roles/web/tasks/main.yml (module acme.widgets.frob)" in message


def test_the_scanner_accepts_what_is_declared(tmp_path):
    root = plant(tmp_path)
    names = sorted(undeclared(scan_collection(root), declared(root))) + sorted(declared(root))
    (root / "galaxy.yml").write_text("dependencies:\n" + "".join(f"  {name}: '*'\n" for name in names))
    assert undeclared(scan_collection(root), declared(root)) == {}


def test_a_requirements_yml_that_disagrees_is_named(tmp_path):
    root = plant(tmp_path)
    assert requirements_disagreement(root) == [
        "requirements.yml lists acme.extra, galaxy.yml does not",
        "requirements.yml: community.general '>=9.0.0', galaxy.yml: '>=8.0.0'"]
    (root / "requirements.yml").write_text("---\nroles: []\n")
    assert requirements_disagreement(root) == []
