# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The stand-ins the microk8s_gpu role and the microk8s modules are tested against
(tests/lab/standins/snap-standin and microk8s-standin, NOT snapd or MicroK8s) reproduce
the upstream behaviours the role must cope with (issue 17): snapd's base-snap
prerequisite, v1.36's `microk8s join` refusing IPv6 connection strings, the cluster
agent's "already known to dqlite" on a re-join, workers refusing status and enable, the
configure hook re-moding args/. Each stand-in runs with its state in a temporary
directory; nothing on this machine outside it is touched."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

STANDINS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "lab", "standins")
TOKEN = "0123456789abcdef0123456789abcdef"


def standin(name, *argv, env=None, check=False):
    return subprocess.run([sys.executable, os.path.join(STANDINS, name)] + list(argv), capture_output=True,
                          text=True, env=env, check=check, timeout=60)


# --- snap-standin: the base snap is a prerequisite --------------------------------------

def snap_file(directory, name, rev):
    data = b"snap-standin file of " + name.encode() + os.urandom(64)
    path = directory / ("%s_%s.snap" % (name, rev))
    path.write_bytes(data)
    digest = base64.urlsafe_b64encode(hashlib.sha3_384(data).digest()).decode().rstrip("=")
    snap_id = hashlib.sha256(name.encode()).hexdigest()[:32]
    assertion = directory / ("%s_%s.assert" % (name, rev))
    assertion.write_text("type: snap-declaration\nsnap-id: %s\nsnap-name: %s\npublisher-id: canonical\n\n"
                         "type: snap-revision\nsnap-id: %s\nsnap-revision: %s\nsnap-sha3-384: %s\n"
                         % (snap_id, name, snap_id, rev, digest))
    return str(path), str(assertion)


@pytest.fixture
def snap_env(tmp_path):
    env = dict(os.environ, SNAP_STANDIN_STATE=str(tmp_path / "snap-state.json"),
               MICROK8S_STANDIN_LOG=str(tmp_path / "calls.log"))
    return env


def test_offline_microk8s_without_its_base_fails_as_snapd_does(tmp_path, snap_env):
    files = {name: snap_file(tmp_path, name, rev) for name, rev in (("snapd", "1"), ("core20", "2"), ("microk8s", "3"))}
    for _snap, assertion in files.values():
        standin("snap-standin", "ack", assertion, env=snap_env, check=True)
    standin("snap-standin", "install", files["snapd"][0], env=snap_env, check=True)
    standin("snap-standin", "install", files["core20"][0], env=snap_env, check=True)
    # a bundle with core20 (the base before 1.34): microk8s 1.36 needs core22 from the store
    result = standin("snap-standin", "install", "--classic", files["microk8s"][0], env=snap_env)
    assert result.returncode == 1
    assert 'Ensure prerequisites for "microk8s" are available (cannot install snap base "core22"' in result.stderr
    assert "microk8s" not in standin("snap-standin", "list", env=snap_env).stdout


def test_offline_microk8s_without_the_snapd_snap_fails(tmp_path, snap_env):
    core22 = snap_file(tmp_path, "core22", "4")
    microk8s = snap_file(tmp_path, "microk8s", "5")
    for _snap, assertion in (core22, microk8s):
        standin("snap-standin", "ack", assertion, env=snap_env, check=True)
    standin("snap-standin", "install", core22[0], env=snap_env, check=True)
    result = standin("snap-standin", "install", "--classic", microk8s[0], env=snap_env)
    assert result.returncode == 1 and 'cannot install system snap "snapd"' in result.stderr


# --- microk8s-standin: join, the cluster agent, workers, the configure hook --------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def node_env(tmp_path, name, addresses):
    base = tmp_path / name
    return dict(os.environ, MICROK8S_STANDIN_STATE=str(base / "state"), MICROK8S_STANDIN_LOG=str(base / "calls.log"),
                MICROK8S_STANDIN_SNAP_DATA=str(base / "snap"), MICROK8S_STANDIN_ADDRESSES=addresses,
                MICROK8S_STANDIN_EXTRA_IPS=str(base / "extra-ips"), MICROK8S_STANDIN_REACHABLE=str(base / "reachable"))


@pytest.fixture
def cluster(tmp_path):
    first = node_env(tmp_path, "cp1", "10.0.0.11 2001:db8::11")
    second = node_env(tmp_path, "cp2", "10.0.0.12 2001:db8::12")
    for env in (first, second):
        standin("microk8s-standin", "install-hook", env=env, check=True)
    port = free_port()
    agent = subprocess.Popen([sys.executable, os.path.join(STANDINS, "microk8s-standin"), "cluster-agent", "--port", str(port)],
                             env=first)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    yield {"first": first, "second": second, "port": port}
    agent.terminate()
    agent.wait(timeout=10)


def add_node(env):
    out = standin("microk8s-standin", "add-node", "--format", "json", "--token-ttl", "600", env=env, check=True).stdout
    return json.loads(out)


def test_add_node_lists_ipv6_urls_without_brackets(cluster):
    urls = add_node(cluster["first"])["urls"]
    assert urls[0].startswith("10.0.0.11:25000/") and urls[1].startswith("2001:db8::11:25000/")


def test_join_refuses_ipv6_and_names_as_136_does(cluster):
    token_check = add_node(cluster["first"])["token"]
    for host in ("2001:db8::11", "[2001:db8::11]"):
        result = standin("microk8s-standin", "join", "%s:%d/%s" % (host, cluster["port"], token_check), env=cluster["second"])
        assert result.returncode == 1
        assert "Invalid connection: Expected format: <master_IP>:<master_PORT>/<token>[/<fingerprint>]" in result.stdout
    result = standin("microk8s-standin", "join", "cp1.example:%d/%s" % (cluster["port"], token_check), env=cluster["second"])
    assert result.returncode == 1 and "Invalid connection: Invalid master IP" in result.stdout


def test_rejoin_of_a_control_plane_is_already_known_to_dqlite(cluster):
    url = "127.0.0.1:%d/%s" % (cluster["port"], add_node(cluster["first"])["token"])
    joined = standin("microk8s-standin", "join", url, env=cluster["second"])
    assert joined.returncode == 0, joined.stdout + joined.stderr
    again = "127.0.0.1:%d/%s" % (cluster["port"], add_node(cluster["first"])["token"])
    rejoin = standin("microk8s-standin", "join", again, env=cluster["second"])
    assert rejoin.returncode == 6
    assert "the joining node (10.0.0.12) is already known to dqlite (500)" in rejoin.stdout


def test_worker_refuses_status_and_enable(cluster):
    url = "127.0.0.1:%d/%s" % (cluster["port"], add_node(cluster["first"])["token"])
    standin("microk8s-standin", "join", url, "--worker", env=cluster["second"], check=True)
    for argv in (["status", "--wait-ready"], ["enable", "host-access"]):
        result = standin("microk8s-standin", *argv, env=cluster["second"])
        assert result.returncode == 1
        assert result.stdout.startswith("This MicroK8s deployment is acting as a node in a cluster.\nPlease use the master node.")


def test_configure_hook_remodes_args(tmp_path):
    env = node_env(tmp_path, "n1", "10.0.0.11")
    standin("microk8s-standin", "install-hook", env=env, check=True)
    certs_d = tmp_path / "n1" / "snap" / "args" / "certs.d" / "docker.io"
    certs_d.mkdir(parents=True)
    (certs_d / "hosts.toml").write_text("server = 'x'\n")
    os.chmod(certs_d, 0o755)
    os.chmod(certs_d / "hosts.toml", 0o644)
    standin("microk8s-standin", "configure-hook", env=env, check=True)
    assert stat.S_IMODE(os.stat(certs_d).st_mode) == 0o770
    assert stat.S_IMODE(os.stat(certs_d / "hosts.toml").st_mode) == 0o660


def test_nvidia_exits_zero_and_says_deployed_when_helm_failed(tmp_path):
    env = node_env(tmp_path, "n1", "10.0.0.11")
    standin("microk8s-standin", "install-hook", env=env, check=True)
    result = standin("microk8s-standin", "enable", "nvidia", env=env)
    assert result.returncode == 0
    assert "INSTALLATION FAILED" in result.stdout and "Deployed NVIDIA GPU operator" in result.stdout
    status = standin("microk8s-standin", "status", "--format", "yaml", env=env, check=True).stdout
    assert "- name: nvidia\n    repository: core\n    description: NVIDIA hardware (GPU and network) support\n" \
           "    version: gpu=25.10.0/network=25.7.0/microk8s-1\n    status: disabled" in status
    assert "name: dashboard" not in status


def test_online_addons_reach_the_internet_only_through_the_lab_proxy(tmp_path):
    env = node_env(tmp_path, "n1", "10.0.0.11")
    standin("microk8s-standin", "install-hook", env=env, check=True)
    (tmp_path / "n1" / "reachable").write_text("proxy http://proxy.lab:3128\ntraefik.github.io\ngithub.com\n")
    direct = standin("microk8s-standin", "enable", "ingress", env=env)
    assert direct.returncode == 1 and "traefik.github.io" in direct.stderr
    proxied = standin("microk8s-standin", "enable", "ingress", env=dict(env, HTTPS_PROXY="http://proxy.lab:3128"))
    assert proxied.returncode == 0, proxied.stderr
