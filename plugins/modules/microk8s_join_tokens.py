#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: microk8s_join_tokens
short_description: Issue MicroK8s join tokens only for the nodes a cluster still lacks
version_added: 0.1.0
description:
  - Run on the node that forms the cluster (the first control-plane host). Reads the
    cluster's members from the Kubernetes API (C(microk8s kubectl get nodes -o json)),
    compares them with O(nodes), and for each node that is not a member yet issues a join
    token (C(microk8s add-node --format json --token-ttl ...)).
  - Returns, per missing node, the connection string it joins with (C(microk8s join URL),
    with C(--worker) for workers). A node that is a member already gets nothing, so a
    second run issues no token.
  - The connection strings hold secrets; use C(no_log) on the task and on the C(microk8s join)
    tasks that use them.
  - C(add-node) lists a connection string per address of the host (C(hostname -I)), IPv6 ones
    without brackets. MicroK8s 1.36's C(microk8s join) refuses IPv6 connection strings (it
    splits C(host:port) at every colon), so an IPv6 string is never returned.
  - Node names are compared with what the kubelet registers, the host's full name
    (C(os.Hostname()), the kernel's nodename) in lower case, not the short host name.
  - With O(remove_absent=true), members the cluster has that O(nodes) does not list are removed
    (C(microk8s remove-node), with C(--force) for control-plane nodes, which are registered with
    the datastore; the removed host must never try to rejoin).
author:
  - mlstack.platform developers (@mlstack)
options:
  nodes:
    description:
      - Every node the cluster should have, with its Kubernetes node name (its host name in
        lower case) and role. The node the module runs on may be listed.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The node's name in Kubernetes.
        type: str
        required: true
      role:
        description: V(control-plane) nodes join the datastore; V(worker) nodes join with C(--worker).
        type: str
        choices: [control-plane, worker]
        default: control-plane
  join_address:
    description:
      - The address of this node that the joining nodes reach; the connection string on that
        address is returned (it must be listed by C(add-node), and be IPv4). When not given,
        the first of O(preferred_addresses) that is listed, else the first IPv4 one printed.
    type: str
  preferred_addresses:
    description:
      - Addresses to join on, in order of preference, used when O(join_address) is not given
        (the host's inventory address, then its default IPv4). Unlisted and IPv6 ones are skipped.
    type: list
    elements: str
    default: []
  remove_absent:
    description:
      - Remove the members that O(nodes) does not list (hosts removed from the inventory).
        Never the node the module runs on.
    type: bool
    default: false
  token_ttl:
    description:
      - Seconds a token stays valid. Long enough for the joins that follow; a join that fails
        can be retried with the same token within that time.
    type: int
    default: 900
  microk8s_path:
    description: The C(microk8s) command; looked up in C(PATH) and C(/snap/bin) when not given.
    type: path
attributes:
  check_mode:
    support: full
    description: Reads the members and reports the missing nodes; issues no token.
  diff_mode:
    support: none
    description: Nothing on the host changes; RV(missing) names the nodes tokens were issued for.
  idempotent:
    support: full
    description: Tokens are issued only for nodes that are not members; no token once all have joined.
requirements:
  - MicroK8s 1.23 or later (C(add-node --format json)).
"""

EXAMPLES = r"""
- name: Issue join tokens for the nodes that are not in the cluster yet
  mlstack.platform.microk8s_join_tokens:
    nodes:
      - {name: gpu1, role: control-plane}
      - {name: gpu2, role: control-plane}
      - {name: cpu1, role: worker}
    join_address: 10.0.0.11
  register: join
  no_log: true
"""

RETURN = r"""
members:
  description: The cluster's nodes before this run, as the API lists them.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "gpu1", "role": "control-plane", "ready": true, "addresses": {"InternalIP": "10.0.0.11"}, "version": "v1.36.2"}]
missing:
  description: The nodes of O(nodes) that are not members, in the order given.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "cpu1", "role": "worker"}]
removed:
  description: The members removed (or, in check mode, to be removed) because O(nodes) does not list them.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "old-gpu3", "role": "control-plane", "argv": ["remove-node", "old-gpu3", "--force"]}]
joins:
  description:
    - Per missing node, the arguments of C(microk8s join) (connection string, then C(--worker)
      for a worker). Empty in check mode. Secret.
  returned: success
  type: dict
  sample: {"cpu1": ["10.0.0.11:25000/0123456789abcdef0123456789abcdef/5a1c0e8f9b2d", "--worker"]}
"""

import socket
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._microk8s import (
    WORKER,
    Microk8sError,
    parse_add_node,
    _is_ip,
    parse_nodes,
    plan_joins,
    plan_removals,
    select_join_url,
)

ARGUMENT_SPEC = dict(
    nodes=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        role=dict(type="str", choices=["control-plane", "worker"], default="control-plane"),
    )),
    join_address=dict(type="str"),
    preferred_addresses=dict(type="list", elements="str", default=[]),
    remove_absent=dict(type="bool", default=False),
    token_ttl=dict(type="int", default=900, no_log=False),
    microk8s_path=dict(type="path"),
)


def run(module: AnsibleModule, argv: t.List[str], issued: t.List[str]) -> str:
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="microk8s %s failed (rc=%d): %s; tokens issued before: %s"
                         % (" ".join(argv[1:3]), rc, (err or out).strip(), ", ".join(issued) or "none"), rc=rc)
    return out


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if params["token_ttl"] < 60:
        module.fail_json(msg="token_ttl must be at least 60 seconds, not %d" % params["token_ttl"])
    if params["join_address"] and _is_ip(params["join_address"], 6):
        module.fail_json(msg="join_address %s is IPv6: MicroK8s 1.36's `microk8s join` refuses IPv6 connection strings "
                             "(scripts/wrappers/common/cluster/utils.py get_valid_connection_parts); set "
                             "microk8s_gpu_join_address to an IPv4 address" % params["join_address"])
    microk8s = params["microk8s_path"] or module.get_bin_path("microk8s", required=True, opt_dirs=["/snap/bin"])
    issued: t.List[str] = []
    try:
        members = parse_nodes(run(module, [microk8s, "kubectl", "get", "nodes", "-o", "json"], issued))
        missing = plan_joins(members, params["nodes"])
        removals = plan_removals(members, params["nodes"], self_name(module)) if params["remove_absent"] else []
    except Microk8sError as exc:
        module.fail_json(msg=str(exc))
    joins: t.Dict[str, t.List[str]] = {}
    if not module.check_mode:
        for removal in removals:
            run(module, [microk8s] + removal["argv"], issued)
        for node in missing:
            out = run(module, [microk8s, "add-node", "--format", "json", "--token-ttl", str(params["token_ttl"])], issued)
            try:
                url = select_join_url(parse_add_node(out), params["join_address"], params["preferred_addresses"])
            except Microk8sError as exc:
                module.fail_json(msg="%s; tokens issued before: %s" % (exc, ", ".join(issued + [node["name"]])))
            joins[node["name"]] = [url] + (["--worker"] if node["role"] == WORKER else [])
            issued.append(node["name"])
    module.exit_json(changed=bool(missing or removals), members=members, missing=missing, joins=joins, removed=removals)


def self_name(module: AnsibleModule) -> str:
    """This node's name as its kubelet registers it: os.Hostname() in lower case."""
    return socket.gethostname().strip().lower()


if __name__ == "__main__":
    main()
