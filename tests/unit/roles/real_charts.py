"""Render the roles' Helm values with the REAL charts at their pinned versions (by hand, not CI).

CI cannot fetch the charts' sources, so this is not part of the unit suite; its output is
recorded in the roles' READMEs and the issue note. The unit suite's contract tests
(test_chart_contracts.py) check the same facts against chart_contracts/*.yml.

  1. prepare: take each chart's sources from a local git mirror of its public repository
     at the release ref and stamp version/appVersion the way the release job does
     (Determined: helm/Makefile `helm package --version $(VERSION) --app-version $(VERSION)`;
     Pachyderm: .circleci/main.yml `helm package --version ${CIRCLE_TAG:1} --app-version
     ${CIRCLE_TAG:1}`; Seldon's Chart.yaml carries 1.17.1 at the tag). None of it enters
     this repository: the copies live under --charts (default /var/tmp/charts).
  2. render: run the three roles (render-only) for the seed's site and for the full site
     (role_render.FULL_SITE: a registry, every optional component on), render each app's values.yml with Helm's own engine (PyPI helm-python-sdk,
     in a venv of its own: --helm-python), collect every image the rendered objects run
     (containers, init containers, pachd's worker images, Seldon's prepackaged servers and
     explainers in seldon-config) and compare them with the manifest.

  .venv/bin/python tests/unit/roles/real_charts.py prepare --mirrors /work/.mirror
  PYTHONPATH=.ansible/collections .venv/bin/python tests/unit/roles/real_charts.py render \
      --helm-python .cache/helm-sdk-venv/bin/python
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# app -> (mirror directory, ref, path in the repository, chart directory name, stamped version)
CHARTS: dict[str, tuple[str, str, str, str, str | None]] = {
    "determined": ("determined-ai+determined", "v0.38.1", "helm/charts/determined", "determined", "0.38.1"),
    "seldon": ("SeldonIO+seldon-core", "v1.17.1", "helm-charts/seldon-core-operator", "seldon-core-operator", None),
    # No v2.12.2 tag in the mirror (its tags end at v2.12.0-rc.3); the release branch's head.
    "pachyderm": ("pachyderm+pachyderm", "2.12.x", "etc/helm/pachyderm", "pachyderm", "2.12.2"),
}
RELEASES = {"determined": ("determined", "determined"), "seldon": ("seldon-core", "seldon-system"),
            "pachyderm": ("pachyderm", "pachyderm")}


def _sites() -> dict[str, dict[str, Any]]:
    from role_render import FULL_SITE
    return {"seed": {}, "full": FULL_SITE}


def prepare(mirrors: Path, charts: Path) -> None:
    charts.mkdir(parents=True, exist_ok=True)
    for app, (mirror, ref, path, name, version) in CHARTS.items():
        repo = mirrors / mirror / "repo"
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", ref + "^{commit}"],
                                check=True, capture_output=True, text=True).stdout.strip()
        dest = charts / name
        subprocess.run(["rm", "-rf", str(dest)], check=True)
        archive = subprocess.run(["git", "-C", str(repo), "archive", commit, path], check=True, capture_output=True)
        strip = str(len(Path(path).parts) - 1)
        subprocess.run(["tar", "-x", "-C", str(charts), "--strip-components", strip], input=archive.stdout, check=True)
        chart_yaml = dest / "Chart.yaml"
        text = chart_yaml.read_text()
        if version:
            lines = []
            for line in text.splitlines():
                if line.startswith("version:"):
                    line = f"version: {version}"
                elif line.startswith("appVersion:"):
                    line = f"appVersion: {version}"
                lines.append(line)
            chart_yaml.write_text("\n".join(lines) + "\n")
        meta = yaml.safe_load(chart_yaml.read_text())
        print(f"{app}: {mirror} {ref} = {commit} -> {dest} (version {meta['version']}, appVersion {meta['appVersion']})")


HELM_SNIPPET = """
import json, sys
import helm_python as helm
chart_dir, values_file, name, namespace = sys.argv[1:5]
values = json.load(open(values_file))
chart = helm.Chart.load(chart_dir)
chart.validate_schema(values)
out = chart.render(values, name=name, namespace=namespace, is_install=True)
print(json.dumps({"sdk": helm.helm_sdk_version(), "manifests": out}))
"""


def helm_render(helm_python: str, chart_dir: Path, values: dict[str, Any], app: str) -> dict[str, Any]:
    name, namespace = RELEASES[app]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(values, handle)
        handle.flush()
        result = subprocess.run([helm_python, "-c", HELM_SNIPPET, str(chart_dir), handle.name, name, namespace],
                                capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"{app}: helm render failed: {last}")
    return json.loads(result.stdout)


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def images_of(manifests: dict[str, str]) -> dict[str, set[str]]:
    """Every image the rendered objects would run, with the templates naming it. Helm
    test hooks (templates/tests/) are not installed and are left out."""
    found: dict[str, set[str]] = {}

    def add(ref: str, where: str) -> None:
        found.setdefault(ref.strip(), set()).add(where)

    for template, text in manifests.items():
        if "/templates/tests/" in template or not text.strip():
            continue
        for doc in yaml.safe_load_all(text):
            if not isinstance(doc, dict):
                continue
            for key, value in _walk(doc):
                if key in ("containers", "initContainers") and isinstance(value, list):
                    for container in value:
                        if isinstance(container, dict) and container.get("image"):
                            add(container["image"], template)
                        for env in (container.get("env") or []) if isinstance(container, dict) else []:
                            value = str(env.get("value") or "")
                            if "IMAGE" in str(env.get("name", "")) and ("/" in value or ":" in value):
                                add(value, template + " env " + env["name"])
            if doc.get("kind") == "Secret" and "master.yaml" in (doc.get("stringData") or {}):
                master = yaml.safe_load(doc["stringData"]["master.yaml"])
                images = master["task_container_defaults"]["image"]
                for slot in ("cpu", "gpu"):
                    add(images[slot], template + f" task_container_defaults.image.{slot}")
                # images.rocm runs only with ROCm slots, which the role never sets up.
            if doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == "seldon-config":
                data = doc["data"]
                for server in json.loads(data["predictor_servers"]).values():
                    for protocol in server["protocols"].values():
                        add(f"{protocol['image']}:{protocol['defaultImageVersion']}", template + " predictor_servers")
                explainer = json.loads(data["explainer"])
                for key in ("image", "image_v2"):
                    add(explainer[key], template + " explainer")
                add(json.loads(data["storageInitializer"])["image"], template + " storageInitializer")
    return found


def _normal(ref: str) -> str:
    """docker.io/library/x:t for x:t and docker.io/x/y:t for x/y:t."""
    first = ref.split("/", 1)[0]
    if "/" not in ref or not ("." in first or ":" in first or first == "localhost"):
        ref = "docker.io/" + (ref if "/" in ref else "library/" + ref)
    return ref


def manifest_refs(registry: str) -> set[str]:
    from ansible_collections.mlstack.platform.plugins.filter.image_ref import image_ref
    defaults = yaml.safe_load((HERE.parents[2] / "roles/common/defaults/main.yml").read_text())
    images = defaults["mlstack_artifacts_builtin"]["images"]
    return {_normal(image_ref(entry, registry)) for entry in images.values()}


def render(helm_python: str, charts: Path) -> int:
    from role_render import render_site
    failures = 0
    for site, extra in _sites().items():
        with tempfile.TemporaryDirectory(prefix=f"real-charts-{site}-") as tmp:
            rendered = render_site(Path(tmp), extra)
            registry = extra.get("mlstack_registry", "")
            known = manifest_refs(registry)
            for app, values in rendered["values"].items():
                chart_dir = charts / CHARTS[app][3]
                try:
                    out = helm_render(helm_python, chart_dir, values, app)
                except RuntimeError as exc:
                    print(f"[{site}] FAIL {exc}")
                    failures += 1
                    continue
                manifests = {t: text for t, text in out["manifests"].items() if not t.endswith("NOTES.txt")}
                kinds = sum(1 for t in manifests.values() for d in yaml.safe_load_all(t) if isinstance(d, dict))
                print(f"[{site}] {app}: rendered {kinds} objects from {len(manifests)} templates "
                      f"(Helm SDK {out['sdk']}, chart {chart_dir})")
                for ref, where in sorted(images_of(manifests).items()):
                    ok = _normal(ref) in known
                    failures += 0 if ok else 1
                    print(f"  {'ok     ' if ok else 'MISSING'} {ref}   <- {', '.join(sorted(w.split('/templates/')[-1] for w in where))}")
    print("all images in the manifest" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    prep.add_argument("--charts", type=Path, default=Path("/var/tmp/charts"))
    ren = sub.add_parser("render")
    ren.add_argument("--helm-python", default=str(HERE.parents[2] / ".cache/helm-sdk-venv/bin/python"))
    ren.add_argument("--charts", type=Path, default=Path("/var/tmp/charts"))
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.mirrors, args.charts)
        return 0
    return render(args.helm_python, args.charts)


if __name__ == "__main__":
    sys.exit(main())
