# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Action mlstack.platform.site_preflight: one host's inputs against every role it will run,
on the controller, before anything changes (documentation: plugins/modules/site_preflight.py).

This file gathers and templates; the checks are the pure functions of
module_utils/_preflight.py."""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

import yaml

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 templates every string
    def trust_as_template(value):
        return value

from ansible_collections.mlstack.platform.plugins.module_utils import _artifacts, _preflight

_ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "roles")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_UNKNOWN = object()  # a value that can be known only once facts are gathered


class _Roles:
    """The collection's roles as files: argument specs, defaults, vars (read once per run
    of the action)."""

    def __init__(self, roles_dir: str = _ROLES_DIR):
        self.dir = roles_dir
        self.names = sorted(name for name in os.listdir(roles_dir)
                            if os.path.isfile(os.path.join(roles_dir, name, "meta", "argument_specs.yml")))
        self._specs: Dict[str, dict] = {}
        self._defaults: Dict[str, dict] = {}
        self._plain: Dict[str, dict] = {}

    def _plain_yaml(self, *parts: str) -> dict:
        path = os.path.join(self.dir, *parts)
        if path in self._plain:
            return self._plain[path]
        self._plain[path] = self._read_plain(path)
        return self._plain[path]

    @staticmethod
    def _read_plain(path: str) -> dict:
        if not os.path.isfile(path):
            return {}
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.load(handle, Loader=_YAML_LOADER) or {}  # noqa: S506 - a safe loader
        except (OSError, yaml.YAMLError) as exc:
            raise AnsibleError("site_preflight: cannot read %s: %s" % (path, exc))
        if not isinstance(data, dict):
            raise AnsibleError("site_preflight: %s is not a mapping" % path)
        return data

    def specs(self, role: str) -> dict:
        if role not in self._specs:
            self._specs[role] = self._plain_yaml(role, "meta", "argument_specs.yml").get("argument_specs") or {}
        return self._specs[role]

    def main_options(self, role: str) -> dict:
        return ((self.specs(role).get("main") or {}).get("options")) or {}

    def _trusted_yaml(self, role: str, kind: str) -> dict:
        """defaults/ or vars/main.yml with its strings trusted as templates, as Ansible's
        loader marks them when the role runs (parsed once, with the plain reading)."""
        key = "%s/%s" % (role, kind)
        if key not in self._defaults:
            self._defaults[key] = _trusted(self._plain_yaml(role, kind, "main.yml"))
        return self._defaults[key]

    def defaults(self, role: str) -> dict:
        return self._trusted_yaml(role, "defaults")

    def plain_defaults(self, role: str) -> dict:
        """defaults/main.yml as plain data (its names; templates left as text)."""
        return self._plain_yaml(role, "defaults", "main.yml")

    def role_vars(self, role: str) -> dict:
        return self._trusted_yaml(role, "vars")

    def layers(self, roles: Iterable[str]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """The roles' defaults (below the inventory) and vars (above it), common's too."""
        defaults: Dict[str, Any] = {}
        role_vars: Dict[str, Any] = {}
        for role in list(roles) + ["common"]:
            for key, value in self.defaults(role).items():
                defaults.setdefault(key, value)
            for key, value in self.role_vars(role).items():
                role_vars.setdefault(key, value)
        return defaults, role_vars

    def declared(self) -> Set[str]:
        """Every name a role declares (any entry point's options, defaults, vars), and the
        site variables the collection's playbooks read (e.g. verify.yml's mlstack_health_report)."""
        names: Set[str] = set()
        for role in self.names:
            for entry in self.specs(role).values():
                names.update(((entry or {}).get("options")) or {})
            names.update(self._plain_yaml(role, "defaults", "main.yml"))
            names.update(self._plain_yaml(role, "vars", "main.yml"))
        return names | self._playbook_names()

    def _playbook_names(self) -> Set[str]:
        playbooks = os.path.join(os.path.dirname(self.dir), "playbooks")
        pattern = re.compile(r"\b(?:%s)[a-z0-9_]+" % "|".join(
            re.escape(p) for p in _preflight.prefixes(self.names)))
        names: Set[str] = set()
        for entry in sorted(os.listdir(playbooks)) if os.path.isdir(playbooks) else []:
            if entry.endswith((".yml", ".yaml")):
                with open(os.path.join(playbooks, entry), encoding="utf-8") as handle:
                    names.update(pattern.findall(handle.read()))
        return names


def _trusted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, str) and "{" in value:
        return trust_as_template(value)
    return value


def _plain(value: Any) -> Any:
    """Ansible's lazy and tagged containers as plain Python data."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


class _Host:
    """One host's variables (over the roles' defaults), templated on demand, leaf by leaf;
    secrets are never templated (a password lookup would write a file) and never shown."""

    def __init__(self, templar, name: str, variables: Mapping[str, Any], defaults: Mapping[str, Any],
                 role_vars: Mapping[str, Any]):
        merged = dict(defaults)
        merged.update(variables)
        merged.update(role_vars)
        self.name = name
        self.vars = merged
        self._templar = templar.copy_with_new_env(available_variables=merged)
        self._cache: Dict[str, Any] = {}

    def _render(self, value: Any, secret: bool) -> Any:
        if isinstance(value, Mapping):
            return {str(k): self._render(v, secret or _preflight.is_secret_name(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._render(v, secret) for v in value]
        if secret:
            # Never templated: a secret inside a structure stays as written (a template's
            # text is a str, as the secret will be), and is redacted from every line.
            return value
        return self._templar.template(value)

    def get(self, name: str, default: Any = None, secret: bool = False) -> Any:
        """The templated value, ``_UNKNOWN`` when it needs facts (or another host's), or
        ``default`` when the host does not have it."""
        if name not in self.vars:
            return default
        if name not in self._cache:
            value = self.vars[name]
            secret = secret or _preflight.is_secret_name(name)
            if secret and isinstance(value, str) and self._templar.is_possibly_template(value):
                # A templated secret (a vault variable, a password lookup that would write a
                # file) is left to the role's own validation.
                self._cache[name] = _UNKNOWN
                return _UNKNOWN
            try:
                self._cache[name] = _plain(self._render(value, secret))
            except AnsibleError:
                self._cache[name] = _UNKNOWN
        return self._cache[name]

    def known(self, name: str, default: Any = None) -> Any:
        value = self.get(name, default)
        return default if value is _UNKNOWN else value

    def addresses(self) -> List[str]:
        found = []
        for value in (self.known("ansible_host"),
                      ((self.vars.get("ansible_facts") or {}).get("default_ipv4") or {}).get("address")):
            if value and str(value) not in found:
                found.append(str(value))
        return found

    def address(self) -> Optional[str]:
        """The address its traffic comes from: an IP address, or None when not known yet."""
        for value in self.addresses() + [self.name]:
            if _preflight.is_ip(value):
                return value
        return None


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("undeclared", "roles"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        mode = self._task.args.get("undeclared", "fail")
        if mode not in _preflight.UNDECLARED_MODES:
            result.update(failed=True, msg="site_preflight: undeclared (mlstack_preflight_undeclared) must be "
                          "fail or warn, got %r" % (mode,))
            return result
        only = self._task.args.get("roles") or []
        if not isinstance(only, list) or not all(isinstance(r, str) for r in only):
            result.update(failed=True, msg="site_preflight: roles must be a list of role names, got %r" % (only,))
            return result
        roles = _Roles()
        unknown_roles = sorted(set(only) - set(roles.names))
        if unknown_roles:
            result.update(failed=True, msg="site_preflight: roles names no role of the collection: %s"
                          % ", ".join(unknown_roles))
            return result
        name = task_vars.get("inventory_hostname")
        groups = task_vars.get("groups") or {}
        host_roles = self._host_roles(name, groups, only)
        host = _Host(self._templar, name, task_vars, *roles.layers(self._with_helm_apps(host_roles, name, groups)))

        errors: List[_preflight.Line] = []
        deferred: List[str] = []
        for role in host_roles:
            options = roles.main_options(role)
            values, unknown = self._values(host, options)
            deferred.extend(unknown)
            errors.extend(_preflight.validate_role(name, options, values, unknown))
        if host_roles:
            errors.extend(self._postgres_rules(host, roles, host_roles, groups, task_vars, only))
            errors.extend(self._s3_rules(host, roles, host_roles, groups, task_vars, only))
            errors.extend(self._registry_rules(host, groups, task_vars))
            errors.extend(self._value_rules(host, host_roles))
            errors.extend(_preflight.group_rules(name, groups))
        undeclared = _preflight.undeclared(name, task_vars.keys(), roles.declared(), roles.names)

        lines, warnings = _preflight.report(errors, undeclared, mode)
        if warnings:
            result["warnings"] = warnings
        result.update(
            changed=False,
            roles=host_roles,
            errors=lines,
            undeclared=sorted(_preflight.line(item) for item in undeclared),
            deferred=sorted(set(deferred)),
            msg="%s: %d problem(s) in the roles %s" % (name, len(lines), ", ".join(host_roles) or "(none)"),
        )
        return result

    @staticmethod
    def _host_roles(name: str, groups: Mapping[str, Iterable[str]], only: Iterable[str] = ()) -> List[str]:
        """The roles site.yml runs on the host, from the artifact layer's group table (of
        them, those in ``only`` when given); common with them (every role depends on it)."""
        member_of = [g for g, hosts in groups.items() if g not in ("all", "ungrouped") and name in (hosts or [])]
        control_planes = list(groups.get("k8s_control_plane") or [])
        view = _artifacts.HostView(name, member_of, {}, "",
                                   first_control_plane=bool(control_planes) and control_planes[0] == name)
        only = set(only)
        found = [r for r in view.roles() if not only or r in only]
        return (["common"] + found) if found else []

    @staticmethod
    def _with_helm_apps(host_roles: List[str], name: str, groups: Mapping[str, Any]) -> List[str]:
        """The layers of the roles whose variables this host's checks read: its own, and the
        Helm apps' (their database settings) for a node of the cluster."""
        extra = list(_artifacts.HELM_APP_ROLES) if name in ActionModule._cluster_hosts(groups) else []
        return host_roles + [r for r in extra if r not in host_roles]

    @staticmethod
    def _values(host: _Host, options: Mapping[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
        values: Dict[str, Any] = {}
        unknown: List[str] = []
        for option, spec in options.items():
            if option not in host.vars:
                continue
            value = host.get(option, secret=_preflight.is_secret_option(option, spec))
            if value is _UNKNOWN:
                unknown.append(option)
            else:
                values[option] = value
        return values, unknown

    def _other(self, roles: _Roles, task_vars: Mapping[str, Any], name: str,
               role_names: List[str], cache: Dict[str, _Host]) -> Optional[_Host]:
        """Another host of the inventory, its raw variables over the given roles' defaults."""
        if name == task_vars.get("inventory_hostname"):
            return None
        key = "%s/%s" % (name, ",".join(role_names))
        if key not in cache:
            hostvars = task_vars.get("hostvars")
            if hostvars is None or name not in hostvars:
                return None
            raw = hostvars.raw_get(name) if hasattr(hostvars, "raw_get") else hostvars[name]
            cache[key] = _Host(self._templar, name, raw, *roles.layers(role_names))
        return cache[key]

    def _postgres_rules(self, host: _Host, roles: _Roles, host_roles: List[str],
                        groups: Mapping[str, Any], task_vars: Mapping[str, Any],
                        only: Iterable[str] = ()) -> List[_preflight.Line]:
        servers = list(groups.get("postgres") or [])
        if not servers:
            return []
        cache: Dict[str, _Host] = {}
        server = self._other(roles, task_vars, servers[0], ["postgres"], cache) or host
        server_values = {
            "postgres_databases": server.get("postgres_databases", []),
            "postgres_hba_allowed_cidrs": server.get("postgres_hba_allowed_cidrs", []),
        }
        if any(value is _UNKNOWN for value in server_values.values()):
            return []  # known only with facts: the postgres role checks its own list
        consumers = _preflight.postgres_consumers({r: roles.plain_defaults(r) for r in roles.names})
        cluster = self._cluster_hosts(groups)
        control_planes = list(groups.get("k8s_control_plane") or [])
        lines: List[_preflight.Line] = []
        for role, consumer in consumers.items():
            if only and role not in only:
                continue
            if role in _artifacts.HELM_APP_ROLES:
                if host.name not in cluster or not control_planes:
                    continue
                runner = self._other(roles, task_vars, control_planes[0], [role], cache) or host
            elif role in host_roles:
                runner = host
            else:
                continue
            names = [consumer["host_var"], consumer["user_var"]] + consumer["name_vars"] + \
                [v for v in (consumer["mode_var"], consumer["enabled_var"]) if v]
            values = {n: runner.get(n) for n in names}
            if any(v is _UNKNOWN for v in values.values()):
                continue
            lines.extend(_preflight.postgres_rules(
                host.name, host.address(), role, consumer, values, runner.name,
                server.name, server.addresses(), server_values))
        return lines

    def _s3_rules(self, host: _Host, roles: _Roles, host_roles: List[str],
                  groups: Mapping[str, Any], task_vars: Mapping[str, Any],
                  only: Iterable[str] = ()) -> List[_preflight.Line]:
        """The bucket and consumer of each S3 client role this host runs (or, on the first
        control-plane host, each Helm app) against the store's minio_buckets."""
        stores = list(groups.get("object_store") or [])
        if not stores:
            return []
        cache: Dict[str, _Host] = {}
        server = self._other(roles, task_vars, stores[0], ["minio"], cache) or host
        buckets = server.get("minio_buckets", [])
        if buckets is _UNKNOWN:
            return []
        control_planes = list(groups.get("k8s_control_plane") or [])
        lines: List[_preflight.Line] = []
        for role, consumer in _preflight.s3_consumers({r: roles.plain_defaults(r) for r in roles.names}).items():
            if only and role not in only:
                continue
            if role in _artifacts.HELM_APP_ROLES:
                if not control_planes or control_planes[0] != host.name:
                    continue
            elif role not in host_roles:
                continue
            names = [v for v in (consumer["bucket_var"], consumer["consumer_var"], consumer["endpoint_var"],
                                 consumer["enabled_var"], consumer.get("storages_var")) if v]
            values = {n: host.get(n) for n in names}
            if any(values[n] is _UNKNOWN for n in (consumer["bucket_var"], consumer["consumer_var"])):
                continue
            values = {n: (None if v is _UNKNOWN else v) for n, v in values.items()}
            lines.extend(_preflight.s3_rules(role, consumer, values, host.name, server.name,
                                             server.addresses(), buckets))
        for role, names in sorted(_preflight.S3_READERS.items()):
            if role not in roles.names or (only and role not in only):
                continue
            if role in _artifacts.HELM_APP_ROLES:
                if not control_planes or control_planes[0] != host.name:
                    continue
            elif role not in host_roles:
                continue
            values = {n: host.get(n) for n in list(names) + ["%s_enabled" % role]}
            if values[names[0]] is _UNKNOWN:
                continue
            values = {n: (None if v is _UNKNOWN else v) for n, v in values.items()}
            lines.extend(_preflight.s3_reader_rules(role, values, host.name, server.name,
                                                    server.addresses(), buckets))
        return lines

    @staticmethod
    def _value_rules(host: _Host, host_roles: List[str]) -> List[_preflight.Line]:
        """What the roles assert only when their play is reached: the proxy's scheme, the
        target, postgres' CIDRs, and the controller's paths that later plays read."""
        lines = _preflight.proxy_rules(host.name, host.known("mlstack_proxy"))
        artifacts = host.known("mlstack_artifacts") or {}
        lines += _preflight.target_rules(host.name, host.known("mlstack_target"),
                                         artifacts.get("targets") if isinstance(artifacts, Mapping) else None)
        if "postgres" in host_roles:
            lines += _preflight.cidr_rules(host.name, host.known("postgres_hba_allowed_cidrs"),
                                           host.known("postgres_databases"))
        lines += _preflight.controller_path_rules(host.name, ActionModule._controller_paths(host, host_roles))
        return lines

    @staticmethod
    def _controller_paths(host: _Host, host_roles: List[str]) -> List[Tuple[str, Any, str, str]]:
        """The controller's files and directories that later plays read from this host's
        variables (values known only with facts are left out)."""
        checks: List[Tuple[str, Any, str, str]] = []
        offline = _preflight.truthy(host.known("mlstack_offline", False))
        bundle = host.get("mlstack_bundle_dir", "")
        if offline:
            checks.append(("mlstack_bundle_dir", bundle, "dir", "mlstack_offline is true: the bundle"))
            checks.append(("mlstack_bundle_public_key", host.get("mlstack_bundle_public_key", ""), "file",
                           "mlstack_offline is true: the key the bundle is verified with"))
        if "offline_registry" in host_roles and _preflight.truthy(
                host.known("offline_registry_import_bundle", offline)):
            oci = os.path.join(str(bundle), "images", "oci") if bundle and bundle is not _UNKNOWN else bundle
            checks.append(("mlstack_bundle_dir", oci, "dir",
                           "offline_registry_import_bundle is true: the bundle's images/oci"))
        if "label_studio" in host_roles and host.known("label_studio_wheelhouse_dir"):
            checks.append(("label_studio_wheelhouse_dir", host.get("label_studio_wheelhouse_dir"), "dir",
                           "Label Studio is installed from it"))
        return [c for c in checks if c[1] is not _UNKNOWN]

    @staticmethod
    def _cluster_hosts(groups: Mapping[str, Any]) -> Set[str]:
        """The hosts of the groups whose role is microk8s_gpu: a Helm app's pods run on any
        of them, so its database traffic comes from any of them."""
        hosts: Set[str] = set()
        for group, group_roles in _artifacts.GROUP_ROLES.items():
            if "microk8s_gpu" in group_roles:
                hosts.update(groups.get(group) or [])
        return hosts

    def _registry_rules(self, host: _Host, groups: Mapping[str, Any],
                        task_vars: Mapping[str, Any]) -> List[_preflight.Line]:
        registry = host.get("mlstack_registry", "")
        members = list(groups.get("registry") or [])
        if not registry or registry is _UNKNOWN or not members:
            return []
        hostvars = task_vars.get("hostvars") or {}
        addresses: Dict[str, List[str]] = {}
        for member in members:
            if member == host.name:
                addresses[member] = host.addresses()
                continue
            try:
                value = hostvars[member].get("ansible_host") if member in hostvars else None
            except AnsibleError:
                value = None
            addresses[member] = [str(value)] if value else []
        return _preflight.registry_rules(host.name, str(registry), addresses)
