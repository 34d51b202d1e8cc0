"""Check a role's Helm values against a chart contract (chart_contracts/<app>-<version>.yml).

A contract holds facts read from a chart at one version: the values paths its templates read
(values_read; values_whole: subtrees handed on whole), the values it cannot do without
(required), chart defaults the platform forbids (must_set), and the images it deploys (images:
how each reference is composed from values, when the component is enabled, the chart's
defaults). Each check returns a list of one-line problems; empty means the values keep the
contract. Helm's own merge rules apply: a key set to null in the values removes the chart's
default (so a component keyed by it is gone).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import yaml

HERE = Path(__file__).resolve().parent
CONTRACTS = HERE / "chart_contracts"
ROOT = HERE.parents[2]
# app (role) -> its chart's key in mlstack_artifacts_builtin.charts
CHART_KEYS = {"determined": "determined", "seldon": "seldon_core_operator", "pachyderm": "pachyderm"}
_ABSENT = object()
_FIELD = re.compile(r"\{([^{}]+)\}")


def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())["mlstack_artifacts_builtin"]


def contract_path(app: str, version: str) -> Path:
    return CONTRACTS / f"{app}-{version}.yml"


def load_contract(app: str, version: str) -> dict[str, Any]:
    path = contract_path(app, version)
    if not path.exists():
        raise FileNotFoundError(
            f"{app}: mlstack_artifacts.charts.{CHART_KEYS[app]}.version is {version} but there is no "
            f"{path.relative_to(ROOT)}: redo the contract for version {version} from the chart's sources "
            f"(chart_contracts/extract.py for values_read, the rest by hand) and run real_charts.py")
    return yaml.safe_load(path.read_text())


def leaves(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every path the values set: dict keys down to scalars, lists, empty dicts and nulls."""
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaves(value, prefix + (str(key),))
    elif prefix:
        yield prefix


def lookup(values: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, None when set to null, _ABSENT when not set."""
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def effective(values: dict[str, Any], contract: dict[str, Any], path: str) -> Any:
    """The value the chart sees: the role's (null removes the default), else the chart's default."""
    value = lookup(values, path)
    if value is not _ABSENT:
        return value
    # a null set on an ancestor removes the whole subtree
    parts = path.split(".")
    for i in range(1, len(parts)):
        if lookup(values, ".".join(parts[:i])) is None:
            return None
    return (contract.get("defaults") or {}).get(path)


def _holds(values: dict[str, Any], contract: dict[str, Any], cond: dict[str, Any]) -> bool:
    value = effective(values, contract, cond["path"])
    if "equals" in cond:
        return value == cond["equals"]
    if "in" in cond:
        return value in cond["in"]
    if "not_empty" in cond:
        return (value not in (None, "", {}, [])) == bool(cond["not_empty"])
    if "empty" in cond:
        return (value in (None, "", {}, [])) == bool(cond["empty"])
    if "not_null" in cond:
        return (value is not None) == bool(cond["not_null"])
    raise ValueError(f"unknown condition {cond}")


def enabled(values: dict[str, Any], contract: dict[str, Any], image: dict[str, Any]) -> bool:
    return all(_holds(values, contract, c) for c in image.get("enabled_when") or [])


def compose(values: dict[str, Any], contract: dict[str, Any], template: str) -> str:
    def field(match: re.Match[str]) -> str:
        for alternative in match.group(1).split("|"):
            if alternative.startswith("const:"):
                value = contract["constants"][alternative[len("const:"):]]
            else:
                value = effective(values, contract, alternative)
            if value not in (None, ""):
                return str(value)
        raise KeyError(f"no value for {{{match.group(1)}}}")
    return _FIELD.sub(field, template)


def normal(ref: str) -> str:
    """docker.io/library/x:t for x:t, docker.io/x/y:t for x/y:t (how a kubelet reads them)."""
    first = ref.split("/", 1)[0]
    if "/" not in ref or not ("." in first or ":" in first or first == "localhost"):
        ref = "docker.io/" + (ref if "/" in ref else "library/" + ref)
    return ref


def manifest_ref(entry: dict[str, Any], registry: str) -> str:
    from ansible_collections.mlstack.platform.plugins.filter.image_ref import image_ref
    return normal(image_ref(entry, registry))


# --------------------------------------------------------------------------- checks

def unread_paths(values: dict[str, Any], contract: dict[str, Any]) -> list[str]:
    """Paths the values set that no template of the chart reads (silently ignored by Helm)."""
    read, whole = contract["values_read"], contract["values_whole"]
    problems = []
    for leaf in leaves(values):
        path = ".".join(leaf)
        prefixes = [".".join(leaf[:i]) for i in range(1, len(leaf))]
        if path in read or path in whole or any(p in whole for p in prefixes):
            continue
        problems.append(f"{path}: no template of {contract['chart']} {contract['version']} reads it")
    return problems


def missing_required(values: dict[str, Any], contract: dict[str, Any]) -> list[str]:
    problems = []
    for req in contract.get("required") or []:
        if req.get("unless") and _holds(values, contract, req["unless"]):
            continue
        if effective(values, contract, req["path"]) in (None, "", _ABSENT):
            problems.append(f"{req['path']}: required by {req['file']} ({req['message']})")
    return problems


def wrong_must_set(values: dict[str, Any], contract: dict[str, Any]) -> list[str]:
    return [f"{m['path']}: must be {m['value']!r} ({m['why'].strip()}), is {lookup(values, m['path'])!r}"
            for m in contract.get("must_set") or [] if lookup(values, m["path"]) != m["value"]]


def image_problems(values: dict[str, Any], contract: dict[str, Any], images: dict[str, Any],
                   registry: str) -> list[str]:
    """Every image of an enabled component must be the manifest's entry (rewritten to the
    registry when one is set); components whose images the manifest does not hold must be off."""
    problems = []
    for image in contract["images"]:
        if not enabled(values, contract, image):
            continue
        key = image.get("key")
        if key is None:
            problems.append(f"{image['image']}: deployed ({image['file']}) but not in the manifest; "
                            f"switch it off ({image['enabled_when']})")
            continue
        if key not in images:
            problems.append(f"mlstack_artifacts.images.{key}: missing, and {contract['chart']} deploys it "
                            f"({image['file']})")
            continue
        got = normal(compose(values, contract, image["compose"]))
        want = manifest_ref(images[key], registry)
        if got != want:
            problems.append(f"{key}: the chart would run {got} ({image['file']}), the manifest says {want}")
    return problems


def default_image_problems(contract: dict[str, Any], images: dict[str, Any]) -> list[str]:
    """The chart's own default of every image the manifest lists for it is the manifest's
    upstream reference (so the manifest follows the chart's pins), unless the contract says
    why the role deliberately runs another."""
    problems = []
    for image in contract["images"]:
        key = image.get("key")
        if key is None or image.get("chart_default_differs"):
            continue
        chart_default = normal(compose({}, contract, image["compose"]))
        if key not in images:
            problems.append(f"mlstack_artifacts.images.{key}: missing; the chart deploys {chart_default} "
                            f"({image['file']})")
        elif manifest_ref(images[key], "") != chart_default:
            problems.append(f"mlstack_artifacts.images.{key} is {manifest_ref(images[key], '')}, the chart "
                            f"{contract['version']} deploys {chart_default} ({image['file']})")
    return problems


def consistency_problems(contract: dict[str, Any]) -> list[str]:
    """Every path the hand-written facts name is one the extracted facts say the chart reads."""
    read, whole = contract["values_read"], contract["values_whole"]
    named = [r["path"] for r in contract.get("required") or []]
    named += [r["unless"]["path"] for r in contract.get("required") or [] if r.get("unless")]
    named += [m["path"] for m in contract.get("must_set") or []]
    for image in contract["images"]:
        named += [c["path"] for c in image.get("enabled_when") or []]
        for field in _FIELD.findall(image.get("compose", "")):
            named += [a for a in field.split("|") if not a.startswith("const:")]
    problems = []
    for path in named:
        parts = path.split(".")
        if path == "helm.test" or path in read or any(".".join(parts[:i]) in whole for i in range(1, len(parts) + 1)):
            continue
        problems.append(f"{path}: named by the contract but not among the paths the chart reads")
    return problems
