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
  - Run it on one control-plane node of a cluster; MicroK8s applies addons cluster-wide,
    except C(host-access), which changes only the node it is enabled on (it writes a lock
    file and adds an address to that node's C(lo); workers refuse C(microk8s enable)), so
    run the module on each control-plane node for it.
  - C(microk8s enable nvidia) exits 0 and prints that it deployed the GPU operator even when
    its helm install failed (the addon does not look at helm's exit code; MicroK8s issues
    3686 and 4558). After enabling C(nvidia) (or C(gpu)) the module waits up to
    O(check_timeout) seconds for the operator's pod (C(app=gpu-operator) in
    C(gpu-operator-resources)) to run and be ready, and fails with the addon's error lines
    otherwise.
  - With O(offline=true) an addon that fetches from the internet when enabled fails the module
    before anything changes, naming it; C(ingress) fetches Traefik's chart and the Gateway API
    CRDs from GitHub, C(knative) its operator manifest from GitHub, C(nvidia) and C(gpu) the
    chart from NVIDIA's Helm repository.
  - The addon scripts run helm, kubectl and curl on the host; behind a proxy, give the task
    the proxy environment (C(environment)).
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
  offline:
    description:
      - The site has no internet. Enabling an addon that fetches from it fails before any change.
    type: bool
    default: false
  check_timeout:
    description:
      - Seconds to wait, after enabling an addon whose exit code cannot be trusted (C(nvidia), C(gpu)),
        for its pods to run and be ready.
    type: int
    default: 600
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

import time

from ansible_collections.mlstack.platform.plugins.module_utils._microk8s import (
    ADDON_READINESS,
    ENABLED,
    Microk8sError,
    offline_blockers,
    parse_pods,
    parse_status,
    plan_addons,
    pods_ready,
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
    offline=dict(type="bool", default=False),
    check_timeout=dict(type="int", default=600),
)
CHECK_INTERVAL = 5


def run(module: AnsibleModule, argv: t.List[str], done: t.Dict[str, t.List[str]]) -> str:
    """Run a microk8s command; on failure say what this run had already changed."""
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="microk8s %s failed (rc=%d): %s" % (" ".join(argv[1:3]), rc, (err or out).strip()),
                         rc=rc, stdout=out, stderr=err, changed=bool(done["enabled"] or done["disabled"]), **done)
    return out


def error_lines(out: str) -> str:
    """The lines of an addon's output that report an error (helm's "Error: ...")."""
    lines = [line.strip() for line in out.splitlines() if "error" in line.lower()]
    return "; ".join(lines) or "no error printed"


def check_deployed(module: AnsibleModule, microk8s: str, name: str, out: str, done: t.Dict[str, t.List[str]]) -> None:
    """Wait until the pods that prove ``name`` deployed run and are ready, or fail."""
    where = ADDON_READINESS[name]
    argv = [microk8s, "kubectl", "get", "pods", "-n", where["namespace"], "-l", where["selector"], "-o", "json"]
    deadline = time.monotonic() + module.params["check_timeout"]
    pods: t.List[t.Dict[str, t.Any]] = []
    while True:
        rc, pods_out, _err = module.run_command(argv)
        if rc == 0:
            try:
                pods = parse_pods(pods_out)
            except Microk8sError:
                pods = []
            if pods_ready(pods):
                return
        if time.monotonic() >= deadline:
            break
        time.sleep(min(CHECK_INTERVAL, max(0.0, deadline - time.monotonic())))
    module.fail_json(
        msg="microk8s enable %s exited 0, but no %s pod in %s runs and is ready after %ds (the addon does not check "
            "helm's exit code); pods: %s; the addon printed: %s"
            % (name, where["selector"], where["namespace"], module.params["check_timeout"],
               ", ".join("%s %s" % (p["name"], p["phase"]) for p in pods) or "none", error_lines(out)),
        stdout=out, changed=True, **done)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    done: t.Dict[str, t.List[str]] = {"enabled": [], "disabled": []}
    microk8s = params["microk8s_path"] or module.get_bin_path("microk8s", required=True, opt_dirs=["/snap/bin"])
    out = run(module, [microk8s, "status", "--format", "yaml", "--wait-ready", "--timeout", str(params["wait_timeout"])], done)
    if params["offline"]:
        blockers = offline_blockers(params["addons"])
        if blockers:
            module.fail_json(msg="offline, these addons cannot be enabled (they fetch from the internet): %s"
                             % "; ".join("%s: %s" % (b["name"], b["reason"]) for b in blockers))
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
            step_out = run(module, [microk8s] + step["argv"], done)
            if step["argv"][0] == "enable" and step["name"] in ADDON_READINESS:
                check_deployed(module, microk8s, step["name"], step_out, done)
            done["enabled" if step["argv"][0] == "enable" else "disabled"].append(step["name"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
