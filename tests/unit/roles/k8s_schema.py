"""Offline validation against the Kubernetes JSON schemas that kubernetes-validate ships.

Whole objects go through kubernetes_validate.validate (strict). Fragments inside Helm
values (a Toleration, a ResourceRequirements, a nodeSelector ...) are validated against the
matching definition of the same strict schema set, resolved through the same
_definitions.json, so both use one source of truth for the pinned Kubernetes version.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import importlib_resources
import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[3]
DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"


def pinned_kubernetes_version() -> str:
    """The MicroK8s channel of the artifact manifest (snaps.microk8s.channel) as major.minor."""
    defaults = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())
    channel = defaults["mlstack_artifacts_builtin"]["snaps"]["microk8s"]["channel"]
    match = re.match(r"^(\d+\.\d+)", str(channel))
    if not match:
        raise ValueError(f"snaps.microk8s.channel {channel!r} does not start with a Kubernetes version")
    return match.group(1)


def validate_object(obj: dict[str, Any], version: str) -> None:
    """Raise if obj is not a valid object of its kind at version (strict: no unknown fields)."""
    kubernetes_validate.validate(obj, version, strict=True)


@lru_cache(maxsize=None)
def _registry(version: str) -> Registry:
    schemas = importlib_resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    candidates = sorted(
        (p for p in schemas.iterdir() if re.match(rf"^v{re.escape(version)}\.\d+-local-strict$", p.name)),
        key=lambda p: p.name,
    )
    if not candidates:
        raise LookupError(f"kubernetes-validate has no strict schemas for Kubernetes {version}")
    definitions = json.loads(candidates[-1].joinpath("_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


def validate_fragment(value: Any, definition: str, version: str) -> None:
    """Raise jsonschema.ValidationError if value is not a valid `definition`.

    definition is a name in the schema set, e.g. io.k8s.api.core.v1.Toleration, optionally
    followed by a JSON pointer into it, e.g. io.k8s.api.core.v1.PodSpec/properties/nodeSelector.
    """
    schema = {"$ref": f"{DEFINITIONS_URI}#/$defs/{definition}"}
    jsonschema.Draft202012Validator(schema, registry=_registry(version)).validate(value)
