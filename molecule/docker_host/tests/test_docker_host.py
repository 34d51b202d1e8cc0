"""docker_host on a Debian 12 lab host: engine, daemon.json, users, GPU path."""

from __future__ import annotations

import time
from typing import Any

from testinfra.host import Host

from conftest import read_json
from lab_image import PAGE, run_detached

DOCKER_USER = "mlops"
NVIDIA_RUNTIME = {"nvidia": {"path": "nvidia-container-runtime", "args": []}}


def expected_daemon_json(scenario: dict[str, Any]) -> dict[str, Any]:
    """daemon.json as the scenario's inputs ask for it (engine defaults left out)."""
    return {
        "log-driver": "json-file",
        "log-opts": {
            "max-size": scenario["docker_host_log_max_size"],
            "max-file": str(scenario["docker_host_log_max_file"]),
        },
        "live-restore": True,
        "default-address-pools": scenario["docker_host_default_address_pools"],
        **scenario["docker_host_daemon_extra"],
    }


def count_nvidia_gpus(host: Host) -> int:
    """NVIDIA display/3D controllers in the host's sysfs, counted without the role."""
    result = host.run(
        "for d in /sys/bus/pci/devices/*; do echo \"$(cat $d/vendor) $(cat $d/class)\"; done"
    )
    pairs = (line.split() for line in result.stdout.splitlines() if line.strip())
    return sum(1 for vendor, cls in pairs if vendor == "0x10de" and cls[:6] in ("0x0300", "0x0302"))


def wait_for_http(host: Host, url: str, attempts: int = 20) -> str:
    """Fetch a URL from inside the host, retrying while the server starts."""
    error = ""
    for attempt in range(attempts):
        result = host.run("curl -fsS --max-time 2 %s", url)
        if result.rc == 0:
            return result.stdout
        error = f"attempt {attempt + 1}: {result.stderr}"
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer: {error}")


def test_engine_is_running_and_enabled(host: Host) -> None:
    service = host.service("docker")
    assert service.is_running
    assert service.is_enabled


def test_distro_packages_are_installed(host: Host) -> None:
    for package in ("docker.io", "containerd", "runc", "python3-docker"):
        assert host.package(package).is_installed, package
    assert not host.package("docker-ce").is_installed


def test_daemon_json_holds_exactly_the_requested_settings(
    daemon_json: dict[str, Any], scenario_vars: dict[str, Any]
) -> None:
    assert daemon_json == expected_daemon_json(scenario_vars)


def test_engine_applies_daemon_json(host: Host, scenario_vars: dict[str, Any]) -> None:
    info = host.run_expect([0], "docker info --format %s", "{{.LoggingDriver}} {{.LiveRestoreEnabled}}")
    assert info.stdout.split() == ["json-file", "true"]
    network = "docker-host-test-pool"
    host.run("docker network rm %s", network)
    host.run_expect([0], "docker network create %s", network)
    try:
        subnet = host.check_output("docker network inspect -f %s %s", "{{(index .IPAM.Config 0).Subnet}}", network)
    finally:
        host.run("docker network rm %s", network)
    assert subnet.startswith("172.80.") and subnet.endswith("/24"), subnet


def test_imported_image_serves_on_a_published_port(host: Host, test_image: str) -> None:
    container = run_detached(host, test_image, "-p", "18080:8080")
    try:
        assert wait_for_http(host, "http://127.0.0.1:18080/") == PAGE
    finally:
        container.remove()


def test_docker_group_user_reaches_the_engine(host: Host) -> None:
    assert "docker" in host.user(DOCKER_USER).groups
    assert host.user(DOCKER_USER).uid != 0
    result = host.run("sudo -u %s docker ps --format %s", DOCKER_USER, "{{.ID}}")
    assert result.rc == 0, result.stderr
    result = host.run("sudo -u %s docker info --format %s", DOCKER_USER, "{{.ServerVersion}}")
    assert result.rc == 0 and result.stdout.strip(), result.stderr


def test_gpu_fact_matches_the_hardware(host: Host) -> None:
    recorded = int(host.file("/root/docker-host-gpu-count").content_string)
    assert recorded == count_nvidia_gpus(host) == 0


def test_gpu_path_is_skipped_without_gpus(host: Host, daemon_json: dict[str, Any]) -> None:
    assert not host.package("nvidia-container-toolkit").is_installed
    assert not host.file("/etc/apt/sources.list.d/nvidia-container-toolkit.sources").exists
    assert "runtimes" not in daemon_json
    assert "default-runtime" not in daemon_json
    assert "nvidia" not in host.check_output("docker info --format %s", "{{json .Runtimes}}")


def test_nvidia_render_adds_only_the_runtime(
    host: Host, daemon_json: dict[str, Any], scenario_vars: dict[str, Any]
) -> None:
    preview = read_json(host, scenario_vars["scenario_gpu_preview_path"])
    assert preview.pop("runtimes") == NVIDIA_RUNTIME
    assert preview.pop("default-runtime") == "nvidia"
    assert preview == daemon_json


def test_no_proxy_configuration_without_a_proxy(host: Host) -> None:
    assert not host.file("/etc/systemd/system/docker.service.d/http-proxy.conf").exists
    assert not host.file("/etc/apt/apt.conf.d/80mlstack-proxy").exists
    environment = host.check_output("systemctl show docker -p Environment")
    assert "PROXY" not in environment.upper()
