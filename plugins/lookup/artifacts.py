# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Lookup mlstack.platform.artifacts: the artifacts of the manifest a host or a whole
inventory needs (the artifact layer of DESIGN.md)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: artifacts
author: mlstack.platform developers (@mlstack)
short_description: The artifacts of the manifest that a host or a whole site needs
description:
  - Computes, from the artifact manifest (C(mlstack_artifacts)), the inventory's groups,
    the switches of the roles each host runs (C(minio_engine), C(label_studio_install),
    C(<app>_enabled), ...) and each host's target (C(mlstack_target), or its gathered
    distribution facts), the exact list of artifacts (images, deb sets per target, wheel
    sets per target, snaps, charts, the collection and the controller kit).
  - C(playbooks/bundle.yml) bundles the C(site) list; the roles fetch through the entry
    points of role C(common), which refuse an artifact missing from their C(host) list.
  - A switch not set in the inventory takes the value of the role's C(defaults/main.yml),
    read from the collection itself, so no default is stated twice. For the host the lookup
    runs for, the task's own variables (role parameters, include vars) come first.
options:
  _terms:
    description: C(site) for the whole inventory, or C(host) for one host.
    required: true
    type: list
    elements: str
  host:
    description: The inventory host, for C(host).
    type: str
  controller_target:
    description: For C(site), the offline controller's target; adds the controller kit.
    type: str
    default: ""
  collection:
    description: For C(site), the collection to bundle (e.g. C(mlstack.platform)).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Show what this site's bundle must hold
  ansible.builtin.debug:
    msg: "{{ query('mlstack.platform.artifacts', 'site') | map(attribute='id') }}"

- name: The artifacts of this host
  ansible.builtin.set_fact:
    my_artifacts: "{{ query('mlstack.platform.artifacts', 'host', host=inventory_hostname) }}"
"""

RETURN = r"""
_list:
  description: One dict per artifact, sorted by id.
  type: list
  elements: dict
  contains:
    id: {description: "C(<kind>/<key>) or C(<kind>/<key>@<target>).", type: str}
    kind: {description: "image, debs, wheels, snap, chart, collection or controller.", type: str}
    key: {description: The manifest key., type: str}
    target: {description: The target of per-target kinds., type: str}
    hosts: {description: "For C(site), the hosts that need it.", type: list, elements: str}
    roles: {description: The roles that use it., type: list, elements: str}
"""

import os

import yaml

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mlstack.platform.plugins.module_utils import _artifacts

_ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "roles")


def role_defaults(role: str) -> dict:
    """The role's defaults/main.yml (plain values only are used)."""
    path = os.path.join(_ROLES_DIR, role, "defaults", "main.yml")
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle) or {}
    except OSError as exc:
        raise AnsibleLookupError("artifacts: cannot read %s: %s" % (path, exc))


class LookupModule(LookupBase):

    def _value(self, hostvars, variable, default, context=None):
        if context is not None and variable in context:
            value = context[variable]
        else:
            value = hostvars.get(variable, default) if hostvars is not None else default
        if isinstance(value, str) and "{{" in value:
            value = self._templar.template(value)
        return value

    def _host_view(self, variables, name, defaults):
        hostvars_all = variables.get("hostvars") or {}
        hostvars = hostvars_all[name] if name in hostvars_all else {}
        # For the host the lookup runs for, the task's own variables win (role parameters,
        # include vars, set_fact): what the role being run actually uses.
        context = variables if name == variables.get("inventory_hostname") else None
        groups = [g for g, members in (variables.get("groups") or {}).items()
                  if g not in ("all", "ungrouped") and name in (members or [])]
        control_planes = (variables.get("groups") or {}).get("k8s_control_plane") or []
        view = _artifacts.HostView(name, groups, {}, "",
                                   first_control_plane=bool(control_planes) and control_planes[0] == name)
        switches = {}
        for role in view.roles():
            for variable in _artifacts.SWITCHES[role]:
                if variable not in defaults.setdefault(role, role_defaults(role)):
                    raise AnsibleLookupError(
                        "artifacts: %s is not in roles/%s/defaults/main.yml" % (variable, role))
                value = self._value(hostvars, variable, defaults[role][variable], context)
                if isinstance(value, str) and "{{" in value:
                    raise AnsibleLookupError("artifacts: %s of %s could not be templated" % (variable, name))
                switches[variable] = value
        view.switches = switches
        target = self._value(hostvars, "mlstack_target", "", context)
        if not target:
            facts = hostvars.get("ansible_facts") or {}
            if facts.get("distribution") and facts.get("distribution_release"):
                target = _artifacts.target_name(facts["distribution"], facts["distribution_release"])
        if not target and view.roles():
            raise AnsibleLookupError(
                "artifacts: host %s has no mlstack_target (e.g. debian-bookworm) and no "
                "gathered distribution facts: set mlstack_target in its inventory" % name)
        view.target = target
        return view

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        if len(terms) != 1 or terms[0] not in ("site", "host"):
            raise AnsibleLookupError("artifacts: give one term, 'site' or 'host'")
        manifest = variables.get("mlstack_artifacts")
        if manifest is None:
            raise AnsibleLookupError(
                "artifacts: mlstack_artifacts is not defined here (include role "
                "mlstack.platform.common first)")
        manifest = self._templar.template(manifest)
        defaults: dict = {}
        try:
            if terms[0] == "host":
                name = self.get_option("host")
                if not name:
                    raise AnsibleLookupError("artifacts: 'host' needs host=<inventory host>")
                return _artifacts.host_artifacts(manifest, self._host_view(variables, name, defaults))
            names = (variables.get("groups") or {}).get("all") or []
            hosts = [self._host_view(variables, name, defaults) for name in names]
            return _artifacts.site_artifacts(
                manifest, hosts,
                controller_target=self.get_option("controller_target"),
                collection=self.get_option("collection"))
        except _artifacts.ArtifactError as exc:
            raise AnsibleLookupError("artifacts: %s" % exc)
