#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: microk8s_addons
short_description: Enable and disable MicroK8s addons, only where their state differs
version_added: 0.1.0
description:
  - Reads the addons' state from C(microk8s status --format yaml --wait-ready), enables the
    addons of O(addons) that are disabled and should be enabled, disables those that are
    enabled and should be disabled, and leaves every addon not named alone.
  - An addon is named as MicroK8s knows it (C(dns), C(hostpath-storage), C(metallb) ...),
    optionally with its repository (C(core/dns)). C(gpu) and C(nvidia) stand for each other
    on a MicroK8s that knows only one of them (the addon was renamed in MicroK8s 1.26).
  - An addon's settings are only used when it is enabled; an addon that is already enabled
    is not re-enabled when its settings differ (MicroK8s cannot read them back). Disable it
    once to apply new settings.
  - Run it on one control-plane node of a cluster; MicroK8s applies addons cluster-wide.
author:
  - mlstack.platform developers (@mlstack)
options:
  addons:
    description: The addons to reconcile.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The addon's name, optionally prefixed with its repository (C(core/dns)).
        type: str
        required: true
      state:
        description: Whether the addon should be enabled or disabled.
        type: str
        choices: [enabled, disabled]
        default: enabled
      config:
        description:
          - Appended to the name after a colon when enabling (C(microk8s enable metallb:10.64.140.43-10.64.140.49)).
        type: str
      args:
        description:
          - Further arguments of C(microk8s enable) (C([--gpu-operator-driver, host])).
        type: list
        elements: str
        default: []
  microk8s_path:
    description: The C(microk8s) command; looked up in C(PATH) and C(/snap/bin) when not given.
    type: path
  wait_timeout:
    description: Seconds C(microk8s status --wait-ready) waits for MicroK8s to be ready.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Reads the status and reports what would be enabled or disabled.
  diff_mode:
    support: full
    description: The enabled addons before and after.
  idempotent:
    support: full
    description: A second run finds every addon in its state and reports C(changed=false).
requirements:
  - MicroK8s 1.19 or later (C(status --format yaml) with C(--wait-ready)).
"""

EXAMPLES = r"""
- name: Reconcile the platform's addons
  mlstack.platform.microk8s_addons:
    addons:
      - name: dns
      - name: hostpath-storage
      - name: metallb
        config: 10.64.140.43-10.64.140.49
      - name: nvidia
        args: [--gpu-operator-driver, host]
      - name: dashboard
        state: disabled
"""

RETURN = r"""
enabled:
  description: The addons this run enabled (or would enable in check mode).
  returned: success
  type: list
  elements: str
  sample: [dns, metallb]
disabled:
  description: The addons this run disabled (or would disable in check mode).
  returned: success
  type: list
  elements: str
  sample: [dashboard]
addons:
  description: Each addon's status as C(microk8s status) reported it before any change.
  returned: success
  type: dict
  sample: {"dns": "enabled", "dashboard": "disabled"}
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._microk8s import (
    ENABLED,
    Microk8sError,
    parse_status,
    plan_addons,
)

ARGUMENT_SPEC = dict(
    addons=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["enabled", "disabled"], default="enabled"),
        config=dict(type="str"),
        args=dict(type="list", elements="str", default=[]),
    )),
    microk8s_path=dict(type="path"),
    wait_timeout=dict(type="int", default=300),
)


def run(module: AnsibleModule, argv: t.List[str], done: t.Dict[str, t.List[str]]) -> str:
    """Run a microk8s command; on failure say what this run had already changed."""
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="microk8s %s failed (rc=%d): %s" % (" ".join(argv[1:3]), rc, (err or out).strip()),
                         rc=rc, stdout=out, stderr=err, changed=bool(done["enabled"] or done["disabled"]), **done)
    return out


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    done: t.Dict[str, t.List[str]] = {"enabled": [], "disabled": []}
    microk8s = params["microk8s_path"] or module.get_bin_path("microk8s", required=True, opt_dirs=["/snap/bin"])
    out = run(module, [microk8s, "status", "--format", "yaml", "--wait-ready", "--timeout", str(params["wait_timeout"])], done)
    try:
        status = parse_status(out)
        plan = plan_addons(status, params["addons"])
    except Microk8sError as exc:
        module.fail_json(msg=str(exc))

    before = sorted(name for name, addon in status["addons"].items() if addon["status"] == ENABLED)
    enable = [step["name"] for step in plan["enable"]]
    disable = [step["name"] for step in plan["disable"]]
    after = sorted(set(before + enable) - set(disable))
    result = dict(
        changed=bool(enable or disable),
        enabled=enable,
        disabled=disable,
        addons=dict((name, addon["status"]) for name, addon in status["addons"].items()),
    )
    if module._diff:
        result["diff"] = dict(before={"enabled": before}, after={"enabled": after})
    if not module.check_mode:
        for step in plan["disable"] + plan["enable"]:
            run(module, [microk8s] + step["argv"], done)
            done["enabled" if step["argv"][0] == "enable" else "disabled"].append(step["name"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
