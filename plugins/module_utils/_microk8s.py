# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the collection reads from MicroK8s' own output, and the plans made from it.

* ``microk8s status --format yaml``: whether MicroK8s runs, its high-availability
  section and every addon with its status (``parse_status``);
* ``microk8s add-node`` in its ``json`` and ``pretty``/``short`` formats: the
  connection strings ``host:port/token/check`` (``parse_add_node``);
* ``microk8s kubectl get nodes -o json``: a Kubernetes ``NodeList`` (``parse_nodes``);
* ``microk8s kubectl get pods -o json``: whether an addon's pods run (``parse_pods``).

Facts read from MicroK8s v1.36 (canonical/microk8s tag v1.36) and the addons it bundles
(canonical/microk8s-core-addons and -community-addons, main as of the 1.36 release):
``add-node`` prints one URL per address of ``hostname -I``, IPv6 ones without brackets
(scripts/wrappers/add_token.py, actions/common/utils.sh ``get_ips``); ``microk8s join``
splits ``host:port`` at every colon and needs an IP address
(scripts/wrappers/common/cluster/utils.py ``get_valid_connection_parts``), so it refuses
IPv6 connection strings; ``microk8s enable nvidia`` runs helm without checking its exit
code (core addons addons/nvidia/enable); ingress and knative fetch from the internet.

The hosts need no PyYAML: MicroK8s prints its status YAML line by line with a fixed
shape (mappings, lists of mappings, plain scalars), which ``load_simple_yaml`` reads.
"""

from __future__ import annotations

import ipaddress
import json
import re
import typing as t

ENABLED = "enabled"
DISABLED = "disabled"
# MicroK8s renamed the "gpu" addon to "nvidia" (1.26); each name stands for the other
# on a MicroK8s that only knows one of them.
ADDON_ALIASES = {"gpu": "nvidia", "nvidia": "gpu"}
CONTROL_PLANE = "control-plane"
WORKER = "worker"
# MicroK8s labels every node with its role.
CONTROL_PLANE_LABEL = "node.kubernetes.io/microk8s-controlplane"
WORKER_LABEL = "node.kubernetes.io/microk8s-worker"

# host:port/token/check, the host an IPv4 address, a name, an IPv6 address as add-node
# prints it (no brackets: the port is after the last colon) or in brackets.
_JOIN_URL = re.compile(r"^(?P<address>\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})"
                       r"/(?P<token>[A-Za-z0-9]+)/(?P<check>[A-Za-z0-9]+)$")
_JOIN_LINE = re.compile(r"microk8s join (\S+)")


class Microk8sError(Exception):
    """MicroK8s printed something the collection cannot read, or a plan cannot be made."""


# --- a reader for the YAML subset MicroK8s prints ------------------------------------

def _scalar(text: str) -> t.Any:
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    lowered = value.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if lowered in ("", "null", "~", "none"):
        return None
    if re.match(r"^-?[0-9]+$", value):
        return int(value)
    return value


def _lines(text: str) -> t.List[t.Tuple[int, str]]:
    result = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise Microk8sError("tab in the indentation of line %r" % raw)
        result.append((len(raw) - len(raw.lstrip(" ")), raw.strip()))
    return result


def _split_key(line: str) -> t.Tuple[str, str]:
    match = re.match(r"^([^:#]+?):(?:\s+(.*))?$", line)
    if not match:
        raise Microk8sError("expected 'key: value', got %r" % line)
    return match.group(1).strip(), (match.group(2) or "")


def _parse_block(lines: t.List[t.Tuple[int, str]], pos: int, indent: int) -> t.Tuple[t.Any, int]:
    if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
        return _parse_list(lines, pos, indent)
    return _parse_mapping(lines, pos, indent)


def _parse_mapping(lines: t.List[t.Tuple[int, str]], pos: int, indent: int,
                   result: t.Optional[t.Dict[str, t.Any]] = None) -> t.Tuple[t.Dict[str, t.Any], int]:
    result = {} if result is None else result
    while pos < len(lines):
        level, line = lines[pos]
        if level < indent:
            break
        if level > indent:
            raise Microk8sError("unexpected indentation at %r" % line)
        if line.startswith("- "):
            break
        key, rest = _split_key(line)
        pos += 1
        if rest:
            result[key] = _scalar(rest)
        elif pos < len(lines) and (lines[pos][0] > indent or (lines[pos][0] == indent and lines[pos][1].startswith("- "))):
            result[key], pos = _parse_block(lines, pos, lines[pos][0])
        else:
            result[key] = None
    return result, pos


def _parse_list(lines: t.List[t.Tuple[int, str]], pos: int, indent: int) -> t.Tuple[t.List[t.Any], int]:
    result: t.List[t.Any] = []
    while pos < len(lines):
        level, line = lines[pos]
        if level != indent or not (line.startswith("- ") or line == "-"):
            if level > indent:
                raise Microk8sError("unexpected indentation at %r" % line)
            break
        item = line[1:].strip()
        child_indent = indent + 2
        if not item:
            pos += 1
            value, pos = _parse_block(lines, pos, lines[pos][0]) if pos < len(lines) and lines[pos][0] > indent else (None, pos)
            result.append(value)
            continue
        if re.match(r"^[^:#'\"]+:(\s|$)", item):
            # "- key: value" opens a mapping whose further keys sit under "key".
            child_indent = indent + (len(line) - len(item))
            lines[pos] = (child_indent, item)
            value, pos = _parse_mapping(lines, pos, child_indent)
            result.append(value)
        else:
            result.append(_scalar(item))
            pos += 1
    return result, pos


def load_simple_yaml(text: str) -> t.Any:
    """Read block-style YAML made of mappings, lists and plain scalars (what MicroK8s
    prints). Flow collections, anchors and multi-line strings are not supported."""
    lines = _lines(text)
    if not lines:
        return None
    value, pos = _parse_block(lines, 0, lines[0][0])
    if pos != len(lines):
        raise Microk8sError("cannot read the YAML from line %r on" % lines[pos][1])
    return value


# --- microk8s status --format yaml ---------------------------------------------------

def parse_status(text: str) -> t.Dict[str, t.Any]:
    """``microk8s status --format yaml`` as
    ``{running, message, ha_enabled, ha_nodes: [{address, role}], addons: {name: {...}}}``.
    Each addon keeps the keys MicroK8s prints (status, repository, version, description)."""
    try:
        data = load_simple_yaml(text)
    except Microk8sError as exc:
        raise Microk8sError("cannot read the output of 'microk8s status --format yaml': %s" % exc)
    if not isinstance(data, dict) or not isinstance(data.get("microk8s"), dict):
        raise Microk8sError("'microk8s status --format yaml' printed no 'microk8s:' section: %r" % text[:200])
    ha = data.get("high-availability") or {}
    addons: t.Dict[str, t.Dict[str, t.Any]] = {}
    for entry in data.get("addons") or []:
        if not isinstance(entry, dict) or "name" not in entry or "status" not in entry:
            raise Microk8sError("an addon entry lacks name or status: %r" % (entry,))
        if entry["status"] not in (ENABLED, DISABLED):
            raise Microk8sError("addon %s has the unknown status %r" % (entry["name"], entry["status"]))
        addons[str(entry["name"])] = dict((k, v) for k, v in entry.items() if k != "name")
    return {
        "running": data["microk8s"].get("running") is True,
        "message": data["microk8s"].get("message"),
        "ha_enabled": ha.get("enabled") is True,
        "ha_nodes": [dict(node) for node in ha.get("nodes") or [] if isinstance(node, dict)],
        "addons": addons,
    }


def _addon_name(requested: str, known: t.Dict[str, t.Any]) -> str:
    """The name MicroK8s knows an addon by: as given, without its repository prefix
    ("core/dns"), or by its other name (gpu/nvidia)."""
    name = requested.split("/", 1)[1] if "/" in requested else requested
    if name in known:
        return name
    alias = ADDON_ALIASES.get(name)
    if alias and alias in known:
        return alias
    raise Microk8sError("addon %r is not known to this MicroK8s (it knows: %s)"
                        % (requested, ", ".join(sorted(known)) or "none"))


def plan_addons(status: t.Dict[str, t.Any], wanted: t.List[t.Dict[str, t.Any]]) -> t.Dict[str, t.List[t.Dict[str, t.Any]]]:
    """What to enable and disable so that each addon of ``wanted`` ({name, state,
    config, args}) is in its state. Addons not named are left as they are."""
    if not status["running"]:
        raise Microk8sError("MicroK8s is not running: %s" % (status.get("message") or "no message"))
    known = status["addons"]
    plan: t.Dict[str, t.List[t.Dict[str, t.Any]]] = {"enable": [], "disable": []}
    seen: t.Dict[str, str] = {}
    for addon in wanted:
        state = addon.get("state") or ENABLED
        try:
            name = _addon_name(addon["name"], known)
        except Microk8sError:
            if state == DISABLED:
                # Not known (e.g. a community addon before its repository is enabled):
                # then it is not enabled either.
                continue
            raise
        if name in seen and seen[name] != state:
            raise Microk8sError("addon %s is asked to be both enabled and disabled" % name)
        seen[name] = state
        current = known[name]["status"]
        if state == ENABLED and current == DISABLED:
            plan["enable"].append({"name": name, "argv": enable_argv(name, addon)})
        elif state == DISABLED and current == ENABLED:
            plan["disable"].append({"name": name, "argv": ["disable", name]})
    return plan


def enable_argv(name: str, addon: t.Dict[str, t.Any]) -> t.List[str]:
    """``microk8s enable`` arguments: ``name[:config]`` then the addon's own arguments."""
    config = addon.get("config")
    first = "%s:%s" % (name, config) if config else name
    return ["enable", first] + [str(arg) for arg in addon.get("args") or []]


# --- microk8s add-node ---------------------------------------------------------------

# Addons that fetch from the internet when enabled, with where (read at the versions
# MicroK8s 1.36 bundles). Offline they cannot be enabled through the addon.
ONLINE_ADDONS = {
    "ingress": "Traefik's chart from https://traefik.github.io/charts (-r can name another repository) and the "
               "Gateway API CRDs from https://github.com/kubernetes-sigs/gateway-api (no option; "
               "microk8s-core-addons addons/ingress/enable)",
    "knative": "the Knative operator manifest from https://github.com/knative/operator "
               "(microk8s-community-addons addons/knative/enable)",
    "nvidia": "NVIDIA's Helm repository https://helm.ngc.nvidia.com/nvidia (microk8s-core-addons addons/nvidia/enable)",
    "gpu": "NVIDIA's Helm repository https://helm.ngc.nvidia.com/nvidia (alias of nvidia)",
}
# What proves an addon was deployed when `microk8s enable` cannot be trusted: the nvidia
# addon ignores helm's exit code (microk8s issues #3686, #4558). The GPU operator chart
# labels its operator pod app=gpu-operator (NVIDIA/gpu-operator v26.3.3
# deployments/gpu-operator/templates/operator.yaml); the addon installs it into
# gpu-operator-resources.
_GPU_OPERATOR_PODS = {"namespace": "gpu-operator-resources", "selector": "app=gpu-operator"}
ADDON_READINESS = {"nvidia": _GPU_OPERATOR_PODS, "gpu": _GPU_OPERATOR_PODS}


def offline_blockers(wanted: t.List[t.Dict[str, t.Any]]) -> t.List[t.Dict[str, str]]:
    """The addons of ``wanted`` to be enabled that fetch from the internet, with why."""
    blockers = []
    for addon in wanted:
        name = addon["name"].split("/", 1)[-1]
        if (addon.get("state") or ENABLED) == ENABLED and name in ONLINE_ADDONS:
            blockers.append({"name": name, "reason": ONLINE_ADDONS[name]})
    return blockers


def parse_join_url(url: str) -> t.Dict[str, str]:
    """``host:port/token/check`` as its parts; an IPv6 host is returned without brackets."""
    match = _JOIN_URL.match(url.strip())
    if not match:
        raise Microk8sError("not a MicroK8s connection string (host:port/token/check): %r" % url)
    parts = match.groupdict()
    address = parts["address"]
    if address.startswith("["):
        address = address[1:-1]
    elif ":" in address and not _is_ip(address, 6):
        raise Microk8sError("not a MicroK8s connection string (host:port/token/check): %r" % url)
    parts["address"] = address
    return parts


def _is_ip(address: str, version: t.Optional[int] = None) -> bool:
    try:
        found = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return version is None or found.version == version


def parse_add_node(text: str) -> t.Dict[str, t.Any]:
    """``microk8s add-node`` output (``--format json``, ``pretty`` or ``short``) as
    ``{token: "token/check", urls: [...]}``, the URLs in the order printed, each once."""
    stripped = text.strip()
    urls: t.List[str] = []
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise Microk8sError("cannot read the JSON of 'microk8s add-node': %s" % exc)
        urls = [str(url) for url in data.get("urls") or []]
        token = data.get("token")
    else:
        for match in _JOIN_LINE.finditer(stripped):
            if match.group(1) not in urls:
                urls.append(match.group(1))
        token = None
    if not urls:
        raise Microk8sError("'microk8s add-node' printed no connection string")
    parsed = [parse_join_url(url) for url in urls]
    tokens = set("%s/%s" % (p["token"], p["check"]) for p in parsed)
    if len(tokens) != 1 or (token is not None and token not in tokens):
        raise Microk8sError("'microk8s add-node' printed connection strings with different tokens")
    return {"token": tokens.pop(), "urls": urls}


def _same_address(one: str, other: str) -> bool:
    one, other = one.strip("[]"), other.strip("[]")
    if _is_ip(one) and _is_ip(other):
        return ipaddress.ip_address(one) == ipaddress.ip_address(other)
    return one.lower() == other.lower()


def _refuse_ipv6(url: str, address: str) -> None:
    raise Microk8sError(
        "the join address %s is IPv6: MicroK8s 1.36's `microk8s join` refuses IPv6 connection strings (it splits "
        "host:port at every ':', scripts/wrappers/common/cluster/utils.py get_valid_connection_parts); set "
        "microk8s_gpu_join_address to an IPv4 address of the first control-plane host (%s was offered)" % (address, url.split("/", 1)[0]))


def select_join_url(info: t.Dict[str, t.Any], address: t.Optional[str] = None,
                    preferred: t.Optional[t.List[str]] = None) -> str:
    """The connection string the joining hosts use: the one on ``address`` (which must be
    listed), else on the first of ``preferred`` that is listed (the host's inventory
    address, its default IPv4), else the first IPv4 one printed. IPv6 ones are never
    chosen: ``microk8s join`` of 1.36 refuses them."""
    urls = [(url, parse_join_url(url)["address"]) for url in info["urls"]]
    if address:
        for url, host in urls:
            if _same_address(host, address):
                if _is_ip(host, 6):
                    _refuse_ipv6(url, host)
                return url
        raise Microk8sError("'microk8s add-node' offers no connection string on %s (it offers %s)"
                            % (address, ", ".join(u.split("/", 1)[0] for u in info["urls"])))
    for candidate in preferred or []:
        for url, host in urls:
            if candidate and _same_address(host, candidate) and not _is_ip(host, 6):
                return url
    for url, host in urls:
        if not _is_ip(host, 6):
            return url
    raise Microk8sError("'microk8s add-node' offers no IPv4 connection string (only %s), and MicroK8s 1.36's "
                        "`microk8s join` refuses IPv6 ones" % ", ".join(u.split("/", 1)[0] for u in info["urls"]))


# --- microk8s kubectl get nodes -o json ----------------------------------------------

def parse_nodes(text: str) -> t.List[t.Dict[str, t.Any]]:
    """A ``NodeList`` as ``[{name, role, ready, addresses: {type: address}, version}]``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise Microk8sError("cannot read the JSON of 'kubectl get nodes -o json': %s" % exc)
    if not isinstance(data, dict) or data.get("kind") != "NodeList" or not isinstance(data.get("items"), list):
        raise Microk8sError("'kubectl get nodes -o json' did not print a NodeList")
    nodes = []
    for item in data["items"]:
        metadata = item.get("metadata") or {}
        if not metadata.get("name"):
            raise Microk8sError("a node of the NodeList has no name")
        labels = metadata.get("labels") or {}
        status = item.get("status") or {}
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        nodes.append({
            "name": metadata["name"],
            "role": WORKER if WORKER_LABEL in labels and CONTROL_PLANE_LABEL not in labels else CONTROL_PLANE,
            "ready": bool(ready) and ready[0].get("status") == "True",
            "addresses": dict((a.get("type"), a.get("address")) for a in status.get("addresses") or []),
            "version": (status.get("nodeInfo") or {}).get("kubeletVersion"),
        })
    return nodes


def plan_joins(nodes: t.List[t.Dict[str, t.Any]], expected: t.List[t.Dict[str, str]]) -> t.List[t.Dict[str, str]]:
    """The expected nodes ({name, role}) the cluster does not have yet, in the order
    given. Node names are compared as Kubernetes keeps them (lower case)."""
    present = set(node["name"].lower() for node in nodes)
    missing = []
    names = set()
    for node in expected:
        name = node["name"].lower()
        if name in names:
            raise Microk8sError("node %s is listed twice" % name)
        names.add(name)
        if node.get("role", CONTROL_PLANE) not in (CONTROL_PLANE, WORKER):
            raise Microk8sError("node %s has the unknown role %r" % (name, node.get("role")))
        if name not in present:
            missing.append({"name": name, "role": node.get("role", CONTROL_PLANE)})
    return missing


def plan_removals(nodes: t.List[t.Dict[str, t.Any]], expected: t.List[t.Dict[str, str]],
                  self_name: str) -> t.List[t.Dict[str, t.Any]]:
    """The members that ``expected`` no longer lists (never ``self_name``), each with its
    ``microk8s remove-node`` arguments. A control-plane node is registered with dqlite:
    remove-node refuses it unless the node ran ``microk8s leave`` first or ``--force``
    is given (scripts/wrappers/remove_node.py); a host gone from the inventory cannot
    run leave, so control-plane nodes are removed with ``--force``."""
    keep = set(node["name"].lower() for node in expected) | {self_name.lower()}
    removals = []
    for node in nodes:
        if node["name"].lower() in keep:
            continue
        argv = ["remove-node", node["name"]] + (["--force"] if node["role"] == CONTROL_PLANE else [])
        removals.append({"name": node["name"], "role": node["role"], "argv": argv})
    return removals


# --- microk8s kubectl get pods -o json ----------------------------------------------

def parse_pods(text: str) -> t.List[t.Dict[str, t.Any]]:
    """A pod list as ``[{name, phase, ready}]``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise Microk8sError("cannot read the JSON of 'kubectl get pods -o json': %s" % exc)
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise Microk8sError("'kubectl get pods -o json' did not print a list")
    pods = []
    for item in data["items"]:
        status = item.get("status") or {}
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        pods.append({"name": (item.get("metadata") or {}).get("name"), "phase": status.get("phase"),
                     "ready": bool(ready) and ready[0].get("status") == "True"})
    return pods


def pods_ready(pods: t.List[t.Dict[str, t.Any]]) -> bool:
    """Whether a pod runs and is ready."""
    return any(pod["phase"] == "Running" and pod["ready"] for pod in pods)
