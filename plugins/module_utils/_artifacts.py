# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The artifact layer: which artifacts of the manifest a site needs (DESIGN.md).

One function answers "what does this host need", from the manifest
(``mlstack_artifacts``), the host's inventory groups, the switches of the roles it runs
and its target (``<distribution>-<release>``). ``playbooks/bundle.yml`` bundles the union
over every host of the inventory; the roles fetch through ``common``'s entry points, which
refuse an artifact that is not in their host's list. Both read this module, so what is
bundled is what is installed.

An artifact is a dict ``{id, kind, key[, target]}``; ``id`` is ``<kind>/<key>`` or
``<kind>/<key>@<target>`` for per-target kinds (debs, wheels). See docs/bundle-format.md.

Pure Python (no Ansible imports): the lookup plugin feeds it plain data.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

KINDS = ("image", "debs", "wheels", "snap", "chart", "collection", "controller")
PER_TARGET = ("debs", "wheels")

# The variables each rule reads, by role: a role's default comes from its
# defaults/main.yml (the lookup reads it), so no default is stated twice.
SWITCHES: Dict[str, List[str]] = {
    "docker_host": ["docker_host_source", "docker_host_gpu"],
    "offline_registry": ["offline_registry_pypi_enabled"],
    "postgres": [],
    "minio": ["minio_engine"],
    "label_studio": ["label_studio_install"],
    "gitlab": [],
    "nautilus": [],
    "gitlab_runner": ["gitlab_runner_install", "gitlab_runner_server", "gitlab_runner_nautilus_pin"],
    "microk8s_gpu": ["microk8s_gpu_nvidia"],
    "determined": ["determined_enabled", "determined_db_mode"],
    "seldon": ["seldon_enabled", "seldon_prepackaged_servers", "seldon_explainers_enabled"],
    "pachyderm": ["pachyderm_enabled", "pachyderm_console_enabled", "pachyderm_loki_enabled"],
}

# Inventory group -> role (site.yml's plays). The Helm apps run on the first host of
# k8s_control_plane only.
GROUP_ROLES: Dict[str, List[str]] = {
    "docker_hosts": ["docker_host"],
    "registry": ["offline_registry"],
    "postgres": ["postgres"],
    "object_store": ["minio"],
    "labeling": ["label_studio"],
    "gitlab": ["gitlab"],
    "nautilus": ["nautilus"],
    "gitlab_runners": ["gitlab_runner"],
    "k8s_control_plane": ["microk8s_gpu"],
    "k8s_workers": ["microk8s_gpu"],
}
HELM_APP_ROLES = ["determined", "seldon", "pachyderm"]


class ArtifactError(ValueError):
    """A manifest, inventory or target that the artifact layer cannot work with."""


def artifact_id(kind: str, key: str, target: Optional[str] = None) -> str:
    if kind not in KINDS:
        raise ArtifactError("unknown artifact kind %r (known: %s)" % (kind, ", ".join(KINDS)))
    if kind in PER_TARGET:
        if not target:
            raise ArtifactError("artifact %s/%s needs a target" % (kind, key))
        return "%s/%s@%s" % (kind, key, target)
    return "%s/%s" % (kind, key)


def parse_id(value: str) -> Dict[str, str]:
    match = re.match(r"^([a-z]+)/([A-Za-z0-9_.-]+)(?:@([a-z0-9.-]+))?$", value or "")
    if not match or match.group(1) not in KINDS:
        raise ArtifactError("not an artifact id: %r (kind/key or kind/key@target)" % (value,))
    kind, key, target = match.groups()
    if (kind in PER_TARGET) != bool(target):
        raise ArtifactError("artifact id %r: %s %s a target" % (
            value, kind, "needs" if kind in PER_TARGET else "takes no"))
    out = {"id": value, "kind": kind, "key": key}
    if target:
        out["target"] = target
    return out


def target_name(distribution: str, release: str) -> str:
    """``debian-bookworm`` from facts (Debian, bookworm)."""
    return "%s-%s" % (str(distribution).strip().lower(), str(release).strip().lower())


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def _section(manifest: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = manifest.get(name) or {}
    if not isinstance(section, Mapping):
        raise ArtifactError("mlstack_artifacts.%s must be a mapping" % name)
    return section


def _entry(manifest: Mapping[str, Any], kind: str, key: str) -> Mapping[str, Any]:
    section = {"image": "images", "debs": "debs", "wheels": "wheels", "snap": "snaps",
               "chart": "charts"}.get(kind)
    if section is None:
        return {}
    entries = _section(manifest, section)
    if key not in entries:
        raise ArtifactError("mlstack_artifacts.%s has no entry %r" % (section, key))
    return entries[key] or {}


def check_target(manifest: Mapping[str, Any], target: str) -> Mapping[str, Any]:
    targets = _section(manifest, "targets")
    if target not in targets:
        raise ArtifactError(
            "target %r is not covered by the manifest (mlstack_artifacts.targets: %s)"
            % (target, ", ".join(sorted(targets)) or "none"))
    return targets[target]


def deb_packages(manifest: Mapping[str, Any], key: str, target: str,
                 major: str = "") -> List[str]:
    """The apt package names (with ``=version`` pins) of deb set ``key`` on ``target``.

    An entry's ``version`` pins every package of the set; ``major_versions`` (keyed by
    release) appends ``-<major>`` to each name (PostgreSQL), ``major`` overrides it;
    ``pinned`` lists the only packages the version applies to (docker-ce)."""
    entry = _entry(manifest, "debs", key)
    packages = list(entry.get("packages") or [])
    if not packages:
        raise ArtifactError("mlstack_artifacts.debs.%s lists no packages" % key)
    release = target.split("-", 1)[1] if "-" in target else target
    majors = entry.get("major_versions")
    if majors is not None:
        chosen = str(major or majors.get(release) or "")
        if not chosen:
            raise ArtifactError(
                "mlstack_artifacts.debs.%s.major_versions has none for %s" % (key, release))
        packages = ["%s-%s" % (name, chosen) for name in packages]
    version = str(entry.get("version") or "")
    if version:
        pinned = entry.get("pinned")
        packages = [
            "%s=%s" % (name, version) if (pinned is None or name in pinned) else name
            for name in packages]
    return packages


class HostView:
    """What the rules may read of one host: its groups, its switches, its target."""

    def __init__(self, name: str, groups: Iterable[str], switches: Mapping[str, Any],
                 target: str, first_control_plane: bool = False):
        self.name = name
        self.groups = set(groups)
        self.switches = dict(switches)
        self.target = target
        self.first_control_plane = first_control_plane

    def get(self, variable: str) -> Any:
        if variable not in self.switches:
            raise ArtifactError("%s: switch %s was not given to the artifact layer"
                                % (self.name, variable))
        return self.switches[variable]

    def roles(self) -> List[str]:
        roles: List[str] = []
        for group, group_roles in GROUP_ROLES.items():
            if group in self.groups:
                roles.extend(r for r in group_roles if r not in roles)
        if self.first_control_plane:
            roles.extend(HELM_APP_ROLES)
        return roles


Rule = Callable[[HostView], List[tuple]]


def _docker_host(host: HostView) -> List[tuple]:
    source = host.get("docker_host_source")
    if source not in ("distro", "upstream"):
        raise ArtifactError("%s: docker_host_source must be distro or upstream, got %r"
                            % (host.name, source))
    needs = [("debs", "docker_" + source), ("debs", "docker_python")]
    if source == "upstream":
        needs.append(("debs", "apt_repository_tools"))
    # auto: whether the host has GPUs is known only on the host, so the bundle carries
    # the toolkit for it; never: it does not.
    if str(host.get("docker_host_gpu")) in ("auto", "always"):
        needs.append(("debs", "nvidia_container_toolkit"))
    return needs


def _offline_registry(host: HostView) -> List[tuple]:
    needs = [("image", "registry"), ("debs", "offline_registry_tools")]
    if _truthy(host.get("offline_registry_pypi_enabled")):
        needs.append(("image", "pypiserver"))
    return needs


def _postgres(host: HostView) -> List[tuple]:
    return [("debs", "postgresql"), ("debs", "postgresql_ansible")]


def _minio(host: HostView) -> List[tuple]:
    engine = host.get("minio_engine")
    if engine not in ("minio", "seaweedfs"):
        raise ArtifactError("%s: minio_engine must be minio or seaweedfs, got %r"
                            % (host.name, engine))
    return [("image", engine), ("debs", "s3_python")]


def _label_studio(host: HostView) -> List[tuple]:
    install = host.get("label_studio_install")
    if install == "venv":
        return [("wheels", "label_studio"), ("debs", "label_studio_venv")]
    if install == "container":
        return [("image", "label_studio")]
    raise ArtifactError("%s: label_studio_install must be venv or container, got %r"
                        % (host.name, install))


def _gitlab(host: HostView) -> List[tuple]:
    return [("image", "gitlab_ce")]


def _nautilus(host: HostView) -> List[tuple]:
    return [("image", "nautilus")]


def _gitlab_runner(host: HostView) -> List[tuple]:
    install = host.get("gitlab_runner_install")
    # A runner of Nautilus (GitLab 12.7 inside) in container mode runs gitlab-runner v12.7.1
    # and its helper (roles/gitlab_runner/vars/main.yml, _gitlab_runner_nautilus_pinned):
    # the helper must be the runner's own revision, so package mode (the 18.x deb) keeps the
    # current helper.
    pinned = (install == "container" and host.get("gitlab_runner_server") == "nautilus"
              and _truthy(host.get("gitlab_runner_nautilus_pin")))
    suffix = "_nautilus" if pinned else ""
    if install == "container":
        needs = [("image", "gitlab_runner" + suffix)]
    elif install == "package":
        needs = [("debs", "gitlab_runner"), ("debs", "apt_repository_tools")]
    else:
        raise ArtifactError("%s: gitlab_runner_install must be container or package, got %r"
                            % (host.name, install))
    return needs + [("image", "gitlab_runner_helper" + suffix), ("image", "gitlab_runner_job")]


def _microk8s_gpu(host: HostView) -> List[tuple]:
    needs = [("snap", "microk8s")]
    if host.target.startswith("debian-"):
        needs.append(("debs", "snapd"))
    nvidia = host.get("microk8s_gpu_nvidia")
    if str(nvidia) == "auto" or (str(nvidia) != "auto" and _truthy(nvidia)):
        needs.append(("chart", "gpu_operator"))
    return needs


def _helm_app(app: str, images: List[str]) -> Rule:
    def rule(host: HostView) -> List[tuple]:
        if not _truthy(host.get(app + "_enabled")):
            return []
        return ([("chart", app), ("debs", "helm_apps_python")]
                + [("image", key) for key in images])
    return rule


def _determined(host: HostView) -> List[tuple]:
    needs = _helm_app("determined", ["determined_master", "determined_task_environment"])(host)
    if needs and host.get("determined_db_mode") == "chart":
        needs.append(("image", "determined_postgres"))
    return needs


# The images each prepackaged server of Seldon's seldon-config runs (the chart
# seldon-core-operator 1.17.1's values.yaml predictor_servers.<SERVER>.protocols.*.image;
# tests/unit/roles/chart_contracts/seldon-1.17.1.yml records them, and a unit test checks
# this table against it).
SELDON_SERVER_IMAGES: Dict[str, List[str]] = {
    "SKLEARN_SERVER": ["seldon_sklearnserver", "seldon_mlserver_sklearn"],
    "XGBOOST_SERVER": ["seldon_xgboostserver", "seldon_mlserver_xgboost"],
    "MLFLOW_SERVER": ["seldon_mlflowserver", "seldon_mlserver_mlflow"],
    "TENSORFLOW_SERVER": ["seldon_tfserving_proxy", "seldon_tensorflow_serving"],
    "TRITON_SERVER": ["seldon_tritonserver"],
    "HUGGINGFACE_SERVER": ["seldon_mlserver_huggingface"],
    "TEMPO_SERVER": ["seldon_mlserver_slim"],
}
SELDON_EXPLAINER_IMAGES = ["seldon_alibiexplainer", "seldon_mlserver_alibi_explain"]


def _seldon(host: HostView) -> List[tuple]:
    if not _truthy(host.get("seldon_enabled")):
        return []
    images = ["seldon_core_operator", "seldon_core_executor", "seldon_storage_initializer"]
    for server in host.get("seldon_prepackaged_servers") or []:
        if server not in SELDON_SERVER_IMAGES:
            raise ArtifactError("%s: seldon_prepackaged_servers: unknown server %r (known: %s)"
                                % (host.name, server, ", ".join(sorted(SELDON_SERVER_IMAGES))))
        images += [key for key in SELDON_SERVER_IMAGES[server] if key not in images]
    if _truthy(host.get("seldon_explainers_enabled")):
        images += SELDON_EXPLAINER_IMAGES
    return ([("chart", "seldon_core_operator"), ("debs", "helm_apps_python")]
            + [("image", key) for key in images])


def _pachyderm(host: HostView) -> List[tuple]:
    # What the chart pachyderm 2.12.2 deploys with the role's values (pachd, its worker
    # sidecar image, etcd, pgbouncer, the Envoy proxy; Console and Loki/Promtail when on):
    # tests/unit/roles/chart_contracts/pachyderm-2.12.2.yml.
    images = ["pachyderm_pachd", "pachyderm_worker", "pachyderm_etcd", "pachyderm_pgbouncer", "pachyderm_proxy"]
    if _truthy(host.get("pachyderm_console_enabled")):
        images.append("pachyderm_console")
    if _truthy(host.get("pachyderm_loki_enabled")):
        images += ["pachyderm_loki", "pachyderm_promtail"]
    return _helm_app("pachyderm", images)(host)


RULES: Dict[str, Rule] = {
    "docker_host": _docker_host,
    "offline_registry": _offline_registry,
    "postgres": _postgres,
    "minio": _minio,
    "label_studio": _label_studio,
    "gitlab": _gitlab,
    "nautilus": _nautilus,
    "gitlab_runner": _gitlab_runner,
    "microk8s_gpu": _microk8s_gpu,
    "determined": _determined,
    "seldon": _seldon,
    "pachyderm": _pachyderm,
}


def host_artifacts(manifest: Mapping[str, Any], host: HostView) -> List[Dict[str, str]]:
    """The artifacts one host needs, sorted by id, each once, with the roles that use it."""
    if host.roles():
        check_target(manifest, host.target)
    ids: Dict[str, Dict[str, str]] = {}
    for role in host.roles():
        needs = list(RULES[role](host))
        for kind, key in needs:
            _entry(manifest, kind, key)  # fails naming a key the manifest lacks
            value = artifact_id(kind, key, host.target if kind in PER_TARGET else None)
            entry = ids.setdefault(value, dict(parse_id(value), roles=[]))
            if role not in entry["roles"]:
                entry["roles"].append(role)
    return [ids[k] for k in sorted(ids)]


def site_artifacts(manifest: Mapping[str, Any], hosts: Iterable[HostView],
                   controller_target: str = "", collection: str = "") -> List[Dict[str, Any]]:
    """The union over every host, each artifact with the hosts that need it. The site
    registry's hosts hold every image of the site; the controller kit and the
    collection are added when ``controller_target`` / ``collection`` are given."""
    merged: Dict[str, Dict[str, Any]] = {}
    hosts = list(hosts)
    for host in hosts:
        for artifact in host_artifacts(manifest, host):
            entry = merged.setdefault(artifact["id"], dict(artifact, hosts=[], roles=[]))
            entry["hosts"].append(host.name)
            entry["roles"] = sorted(set(entry["roles"]) | set(artifact["roles"]))
    registry_hosts = [h.name for h in hosts if "registry" in h.groups]
    if registry_hosts:
        for entry in merged.values():
            if entry["kind"] == "image":
                entry["hosts"] = sorted(set(entry["hosts"]) | set(registry_hosts))
    if controller_target:
        check_target(manifest, controller_target)
        for kind, key in (("debs", "controller"), ("wheels", "controller")):
            value = artifact_id(kind, key, controller_target)
            merged.setdefault(value, dict(parse_id(value), hosts=[], roles=[]))
    if collection:
        value = artifact_id("collection", collection)
        merged.setdefault(value, dict(parse_id(value), hosts=[], roles=[]))
    for entry in merged.values():
        entry["hosts"] = sorted(set(entry["hosts"]))
    return [merged[k] for k in sorted(merged)]


def image_refs(manifest: Mapping[str, Any], artifacts: Iterable[Mapping[str, Any]]) -> Dict[str, str]:
    """``{id: upstream repository:tag}`` of the image artifacts (the name each has in
    the bundle's OCI layout)."""
    out = {}
    for artifact in artifacts:
        if artifact["kind"] != "image":
            continue
        entry = _entry(manifest, "image", artifact["key"])
        repository, tag = entry.get("repository"), entry.get("tag")
        if not repository or not tag:
            raise ArtifactError("mlstack_artifacts.images.%s lacks repository or tag"
                                % artifact["key"])
        out[artifact["id"]] = "%s:%s" % (repository, tag)
    return out
